"""The Celery app: configured from Django settings (CELERY_*); tasks live in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genpack_site.settings")

app = Celery("genpack_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="genpack_site.ping")
def ping(payload: str = "pong") -> str:
    """A no-op task that proves a worker is connected and consuming (used by check_worker)."""
    return payload


# Build-host liveness (builds/host_agent.py). The handlers import lazily: this module loads
# before Django is set up, and these signals fire in worker processes only.
@signals.worker_init.connect
def _worker_init(sender, **kwargs: object) -> None:
    from builds.host_agent import on_worker_init

    on_worker_init(sender, **kwargs)


@signals.worker_ready.connect
def _worker_ready(sender, **kwargs: object) -> None:
    from builds.host_agent import on_worker_ready

    on_worker_ready(sender, **kwargs)


@signals.worker_shutdown.connect
def _worker_shutdown(sender, **kwargs: object) -> None:
    from builds.host_agent import on_worker_shutdown

    on_worker_shutdown(**kwargs)
