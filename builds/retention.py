"""What old builds may be deleted, and the deleting. Run hourly by Celery beat and by
`manage.py builds_retention`.

Kept: released builds, the last GENPACK_KEEP_SUCCESSFUL successful builds per blueprint and
profile, and any build whose files a kept cache hit points at. Everything else loses its
files (the row and its log stay, for history). Work dirs of builds not running are removed.
"""

from __future__ import annotations

import shutil
from collections import defaultdict

from django.conf import settings
from django.db import transaction

from builds import paths
from builds.models import Artifact, Build


def _kept_build_ids() -> set[int]:
    kept: set[int] = set()
    per_target: dict[tuple[int, int], int] = defaultdict(int)
    succeeded = (
        Build.objects.filter(state=Build.State.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .values_list("pk", "revision__blueprint_id", "profile_id", "released", "cache_hit_of_id")
    )
    for pk, blueprint_id, profile_id, released, source_id in succeeded:
        target = (blueprint_id, profile_id)
        if released or per_target[target] < settings.GENPACK_KEEP_SUCCESSFUL:
            kept.add(source_id or pk)
            kept.add(pk)
        per_target[target] += 1
    return kept


def builds_retention() -> dict[str, int]:
    kept = _kept_build_ids()
    expired = (
        Artifact.objects.exclude(build_id__in=kept).values_list("build_id", flat=True).distinct()
    )
    deleted = 0
    for build_id in list(expired):
        with transaction.atomic():
            Artifact.objects.filter(build_id=build_id).delete()
            # Files go after the rows: a download never finds a row without its file.
            transaction.on_commit(
                lambda build_id=build_id: shutil.rmtree(
                    paths.build_artifacts_dir(build_id), ignore_errors=True
                )
            )
        deleted += 1
    running = set(Build.objects.filter(state=Build.State.RUNNING).values_list("pk", flat=True))
    cleaned = 0
    for parent in (paths.build_work_dir(0).parent, paths.build_staging_dir(0).parent):
        if not parent.exists():
            continue
        for directory in parent.iterdir():
            if directory.name.isdigit() and int(directory.name) not in running:
                shutil.rmtree(directory, ignore_errors=True)
                cleaned += 1
    return {"builds_expired": deleted, "dirs_cleaned": cleaned}
