"""The Celery app: configured from Django settings (CELERY_*); tasks live in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genpack_site.settings")

app = Celery("genpack_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="genpack_site.ping")
def ping(payload: str = "pong") -> str:
    """A no-op task that proves a worker is connected and consuming (used by check_worker)."""
    return payload
