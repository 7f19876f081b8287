"""What old builds may be deleted, and the deleting. Run hourly by Celery beat and by
`manage.py builds_retention`.

Kept: released builds, the last GENPACK_KEEP_SUCCESSFUL successful builds per blueprint and
profile counted by the files they own (a cache hit counts as its source), and any build whose
files a kept or released cache hit points at. Everything else loses its files (the row and
its log stay, for history). Work dirs of builds not running (and of boot tests not running)
are removed, and personalised
copies left by a crashed download after personalise.PERSONAL_COPY_MAX_AGE.
"""

from __future__ import annotations

import shutil
from collections import defaultdict

from django.conf import settings
from django.db import transaction

from builds import paths
from builds.models import Artifact, BootTestState, Build
from builds.personalise import personal_checksums_sweep, personal_copies_sweep


def _kept_build_ids() -> set[int]:
    """Builds whose files stay. Counted by the files they own, newest first: a cache hit
    stands for its source, so ten clicks on one spec count once, never ten."""
    kept: set[int] = set()
    owners_seen: dict[tuple[int, int], set[int]] = defaultdict(set)
    succeeded = (
        Build.objects.filter(state=Build.State.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .values_list("pk", "revision__blueprint_id", "profile_id", "released", "cache_hit_of_id")
    )
    for pk, blueprint_id, profile_id, released, source_id in succeeded:
        owner = source_id or pk
        seen = owners_seen[(blueprint_id, profile_id)]
        if owner in kept or (owner in seen and not released):
            continue
        if released or len(seen) < settings.GENPACK_KEEP_SUCCESSFUL:
            kept.add(owner)
        seen.add(owner)
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
    # A boot test's work dir holds a copy of the whole disk: one a killed worker left goes too.
    testing = set(
        Build.objects.filter(boot_test_state=BootTestState.RUNNING).values_list("pk", flat=True)
    )
    boot_test_prefix = paths.boot_test_work_dir(0).name.removesuffix("0")
    cleaned = 0
    for parent in (paths.build_work_dir(0).parent, paths.build_staging_dir(0).parent):
        if not parent.exists():
            continue
        for directory in parent.iterdir():
            name = directory.name
            tested = name.removeprefix(boot_test_prefix)
            if (name.isdigit() and int(name) not in running) or (
                name.startswith(boot_test_prefix)
                and tested.isdigit()
                and int(tested) not in testing
            ):
                shutil.rmtree(directory, ignore_errors=True)
                cleaned += 1
    return {
        "builds_expired": deleted,
        "dirs_cleaned": cleaned,
        "personal_copies_removed": personal_copies_sweep(),
        "personal_checksums_removed": personal_checksums_sweep(),
    }
