"""Celery tasks for blueprints: thin glue that calls services (STYLE.md 4)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from blueprints.package_lookup import package_index_targets
from package_index.store import packages_index_all


# The name is the one beat schedules and queued messages know: keep it.
@shared_task(name="blueprints.package_index")
def package_index_task() -> list[dict[str, object]]:
    """Refresh every package index the enabled profiles use (daily, from beat)."""
    return [asdict(result) for result in packages_index_all(targets=package_index_targets())]
