"""Every write to a Build goes through here; tasks and views only call these functions.

State machine: queued → running → succeeded | failed | cancelled (queued → cancelled too).
Transitions are conditional UPDATEs, so two workers, the reaper and a cancel can race safely.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from blueprints.buildspec import buildspec_for
from blueprints.models import BlueprintRevision
from blueprints.preflight import build_blockers
from builds import paths
from builds.boot_tests import boot_test_queue
from builds.hosts import (
    arch_last_seen,
    build_host_hint,
    build_host_problem,
    online_architectures,
    unclaimed_minutes,
)
from builds.models import Artifact, Build
from builds.releases import ReleaseRefusedError, release_unattended, withdraw_unattended
from hardware_profiles.models import HardwareProfile
from image_builder.base_cache import BaseCache
from image_builder.spec import BuildSpec

logger = logging.getLogger(__name__)
# The build task's name: queued messages carry it, so it never changes (tasks.py pins it).
BUILD_RUN_TASK = "builds.run"
ACTIVE_STATES = (Build.State.QUEUED, Build.State.RUNNING)


class SiteFailure(StrEnum):
    """Build.failed_step when the site, not an engine step, ended the build."""

    QUEUE_UNAVAILABLE = "queue"
    NO_HOST = "no-host"
    WORKER_LOST = "worker-lost"
    TIME_LIMIT = "time-limit"
    NOT_PUBLISHED = "publish"
    INTERNAL = "internal"


class BuildRefusedError(Exception):
    """The build was not queued; the message says why and what to do."""


class PublishRefusedError(ValueError):
    """The engine's report of its files cannot be trusted; nothing was published."""


@dataclass(frozen=True)
class ProducedFile:
    """A file the engine wrote, as it reported it."""

    kind: str
    name: str
    size: int
    sha256: str


class BuildQueueUnavailableError(BuildRefusedError):
    """The message broker could not be reached; the build row was failed, nothing runs."""


QUEUE_UNAVAILABLE = (
    "The build queue is unavailable right now (the message broker cannot be reached), so "
    "the build was not started. Try again in a few minutes; if it keeps happening, ask an "
    "admin to check the broker."
)


def _send_task(build: Build) -> None:
    """Hand the build to a worker. Bounded by CELERY_BROKER_CONNECTION_TIMEOUT and
    CELERY_TASK_PUBLISH_RETRY_POLICY: an unreachable broker fails in seconds, not minutes.

    The task is sent by name, not imported: tasks call services, never the other way round
    (and the web process never imports the tasks). ignore_result as on the task itself:
    otherwise the send also subscribes to the result store, which hangs while Redis is down.
    """
    current_app.send_task(
        BUILD_RUN_TASK, args=[build.pk], queue=build.profile.arch, ignore_result=True
    )


def _send_or_fail(build: Build) -> None:
    """Send the new build's message; if the broker is down, fail the row and say so.

    Why fail rather than leave it queued: a queued row without a message is joined by every
    later click on the same spec (one_active_build_per_spec) and would sit there until the
    reaper re-sends it, GENPACK_REQUEUE_AFTER_SECONDS later — and the reaper itself runs only
    while the broker is up. A failed row says at once what happened, keeps the history, and
    leaves the spec free: the next click starts a fresh build.
    """
    try:
        _send_task(build)
    except Exception as error:  # kombu.OperationalError, OSError, the transport's own errors
        logger.warning("build %s: the broker is unreachable: %s", build.pk, error, exc_info=True)
        build_fail(build_id=build.pk, error=QUEUE_UNAVAILABLE, step=SiteFailure.QUEUE_UNAVAILABLE)
        raise BuildQueueUnavailableError(QUEUE_UNAVAILABLE) from error


def _resend(build: Build) -> None:
    try:
        _send_task(build)
    except Exception:
        # The reaper tries again next round; the row stays queued (it has a message owed).
        logger.warning("build %s: re-sending its message failed", build.pk, exc_info=True)


def _free_bytes(path: Path) -> int:
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free


def _check_makeable(profile: HardwareProfile) -> None:
    """A profile the builder cannot make (edited in the database, or by an older rule) is
    refused before anything is queued, rather than failing at the disk step minutes later."""
    problem = profile.builder_problem
    if problem:
        raise BuildRefusedError(
            f"The builder cannot make images for this hardware profile: {problem}. An admin "
            "has to correct the profile first."
        )


def _check_guards(profile: HardwareProfile) -> None:
    if not profile.enabled:
        raise BuildRefusedError(
            f"“{profile.name}” is disabled by an admin, so it cannot be built right now."
        )
    # Told now, not after GENPACK_UNCLAIMED_BUILD_SECONDS of waiting in a queue nobody reads.
    if problem := build_host_problem(profile):
        raise BuildRefusedError(
            f"{problem} The build was not queued: start a build worker that can build "
            f"{profile.arch} ({build_host_hint(profile.arch)}), then try again."
        )
    pending = Build.objects.filter(state__in=ACTIVE_STATES).count()
    if pending >= settings.GENPACK_MAX_PENDING_BUILDS:
        raise BuildRefusedError(
            f"The build queue is busy ({pending} builds waiting or running). Try again in a few "
            "minutes."
        )
    free = _free_bytes(Path(settings.GENPACK_WORK_DIR))
    needed = settings.GENPACK_MIN_FREE_BYTES + base_cache_growth()
    if free < needed:
        raise BuildRefusedError(
            f"Only {free / 1024**3:.1f} GiB of disk space is free for builds; at least "
            f"{needed / 1024**3:.1f} GiB is needed (with room for the base cache to reach "
            f"its {settings.GENPACK_BASE_CACHE_MAX_BYTES / 1024**3:.0f} GiB). Ask an admin to "
            "free space (old builds are cleaned up automatically)."
        )


def base_cache_growth() -> int:
    """How much the base cache may still grow before pruning keeps it at its bound: the
    free-space guard reserves it, so a filling cache never starves the builds."""
    cache = BaseCache(Path(settings.GENPACK_BASE_CACHE_DIR), settings.GENPACK_BASE_CACHE_MAX_BYTES)
    return max(0, cache.max_bytes - cache.size())


def _cache_hit(
    revision: BlueprintRevision,
    profile: HardwareProfile,
    spec: BuildSpec,
    requested_by: AbstractBaseUser | None,
) -> Build | None:
    """The build that already answers this request, or None to build.

    The newest succeeded build of the same spec owns the files; one cache-hit row per
    (revision, profile, that source) is made once and then reused, so repeated clicks never
    pile up rows (which retention once counted as builds, evicting real ones).
    Race-safe: the source row is locked (SELECT FOR UPDATE on PostgreSQL; SQLite runs one
    writing transaction at a time), so concurrent requests find the row the first one made.
    """
    spec_hash = spec.spec_hash()
    with transaction.atomic():
        done = (
            Build.objects.select_for_update()
            .filter(spec_hash=spec_hash, state=Build.State.SUCCEEDED, cache_hit_of__isnull=True)
            .order_by("-finished_at", "-pk")
            .first()
        )
        if done is None or not done.artifacts.exists():
            return None
        existing = Build.objects.filter(
            cache_hit_of=done, revision=revision, profile=profile, spec_hash=spec_hash
        ).first()
        if existing:
            return existing
        now = timezone.now()
        return Build.objects.create(
            revision=revision,
            profile=profile,
            spec=spec.to_dict(),
            spec_hash=spec_hash,
            state=Build.State.SUCCEEDED,
            progress=1.0,
            cache_hit_of=done,
            requested_by=requested_by,
            started_at=now,
            finished_at=now,
        )


def build_enqueue(
    *,
    revision: BlueprintRevision,
    profile: HardwareProfile,
    requested_by: AbstractBaseUser | None,
    bypass_cache: bool = False,
) -> Build:
    """Queue a build of `revision` for `profile`, or reuse / join one with the same spec.

    - a succeeded build with the same spec hash → that build, or one Build row per revision
      and profile marked as a cache hit, finished at once, sharing its artifacts (unless
      `bypass_cache`: rebuild with the latest packages);
    - the same spec already queued or running → that build is returned (joined).
    Raises BuildRefusedError (pre-flight and guards; BuildQueueUnavailableError when the
    broker cannot be reached, the new row then failed) and SpecError (the blueprint cannot
    be built).
    """
    _check_makeable(profile)
    spec = buildspec_for(revision.data, profile)
    spec_hash = spec.spec_hash()
    active = Build.objects.filter(spec_hash=spec_hash, state__in=ACTIVE_STATES).first()
    if active:
        return active
    if not bypass_cache and (reused := _cache_hit(revision, profile, spec, requested_by)):
        return reused
    # Pre-flight: a build that would fail at the packages or services step is never queued.
    if blockers := build_blockers(revision.data, profile):
        raise BuildRefusedError(
            f"{' '.join(blockers)} The build was not queued: fix this in the blueprint first."
        )
    _check_guards(profile)
    try:
        with transaction.atomic():
            build = Build.objects.create(
                revision=revision,
                profile=profile,
                spec=spec.to_dict(),
                spec_hash=spec_hash,
                requested_by=requested_by,
                fresh_base=bypass_cache,
            )
            # After the commit, so the worker finds the row; in autocommit (a request) this
            # runs as the block ends and BuildQueueUnavailableError reaches the caller.
            transaction.on_commit(lambda: _send_or_fail(build))
    except IntegrityError:
        # Another request queued the same spec a moment ago (one_active_build_per_spec).
        return Build.objects.get(spec_hash=spec_hash, state__in=ACTIVE_STATES)
    return build


def build_claim(*, build_id: int, worker: str, task_id: str) -> bool:
    """Take a queued build for this worker. False: another worker has it, or it is final."""
    now = timezone.now()
    claimed = Build.objects.filter(pk=build_id, state=Build.State.QUEUED).update(
        state=Build.State.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=worker,
        task_id=task_id,
        phase="starting",
        step_number=0,
        step_count=0,
        progress=0.0,
    )
    return claimed == 1


def build_heartbeat(
    *,
    build_id: int,
    phase: str | None = None,
    progress: float | None = None,
    step_number: int | None = None,
    step_count: int | None = None,
) -> bool:
    """Record that the worker is alive (and where it is: the engine's step `step_number` of
    `step_count`, named `phase`). False: stop, the build was cancelled."""
    fields: dict[str, object] = {"heartbeat_at": timezone.now()}
    if phase is not None:
        fields["phase"] = phase[:40]
    if progress is not None:
        fields["progress"] = max(0.0, min(1.0, progress))
    # The engine's numbers, bounded to what the columns hold (a stand-in engine may lie).
    if step_count is not None:
        fields["step_count"] = max(0, min(step_count, 999))
    if step_number is not None:
        fields["step_number"] = max(0, min(step_number, 999))
    return Build.objects.filter(pk=build_id, state=Build.State.RUNNING).update(**fields) == 1


def build_requeue(*, build_id: int, reason: str, step: str = "") -> bool:
    """A transient failure (mirror unreachable) in `step`: back to the queue for a retry."""
    return (
        Build.objects.filter(pk=build_id, state=Build.State.RUNNING).update(
            state=Build.State.QUEUED,
            phase="",
            step_number=0,
            step_count=0,
            progress=0.0,
            error=reason,
            failed_step=step[:40],
            worker="",
        )
        == 1
    )


def build_fail(*, build_id: int, error: str, step: str | None = None) -> bool:
    """End a queued or running build as failed: `error` says why, `step` where (an engine
    step or a SiteFailure); None keeps the step a transient failure recorded before."""
    fields: dict[str, object] = {
        "state": Build.State.FAILED,
        "error": error,
        "finished_at": timezone.now(),
    }
    if step is not None:
        fields["failed_step"] = step[:40]
    return Build.objects.filter(pk=build_id, state__in=ACTIVE_STATES).update(**fields) == 1


def build_cancel(*, build: Build, by: AbstractBaseUser | None) -> bool:
    """Cancel a queued or running build. A running build's worker sees the new state at its
    next heartbeat and stops the engine's whole process group, then removes the work dir."""
    who = by.get_username() if by else "the system"
    return (
        Build.objects.filter(pk=build.pk, state__in=ACTIVE_STATES).update(
            state=Build.State.CANCELLED,
            error=f"Cancelled by {who}.",
            finished_at=timezone.now(),
        )
        == 1
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _check_produced(staging: Path, files: list[ProducedFile]) -> None:
    """Refuse the whole report unless every entry names a regular file directly in `staging`.

    The worker trusts nothing the engine process prints: a forged `result` event naming
    `../../../secret_key` must not turn a file outside the build into a downloadable artifact.
    """
    kinds: set[str] = set()
    for produced in files:
        name = produced.name
        if (
            not isinstance(name, str)
            or name in ("", ".", "..")
            or any(char in name for char in "/\\\0")
        ):
            raise PublishRefusedError(
                f"the engine reported the artifact name {name!r}, which is not a bare file name"
            )
        if produced.kind not in Artifact.Kind.values or produced.kind in kinds:
            raise PublishRefusedError(
                f"the engine reported an unknown or repeated artifact kind {produced.kind!r}"
            )
        kinds.add(produced.kind)
        path = staging / name
        if path.is_symlink() or not path.is_file():
            raise PublishRefusedError(f"{name} is not a regular file in the build's output")
        if path.stat().st_size != produced.size or _sha256(path) != produced.sha256:
            raise PublishRefusedError(f"{name} changed after the engine wrote it (checksum)")


def build_publish(*, build_id: int, staging: Path, files: list[ProducedFile]) -> bool:
    """Verify the engine's files, move them into place in one rename, then record them.

    Artifacts become visible only through their rows, written in the same transaction that
    marks the build succeeded and queues its boot test (builds/boot_tests.py); a build
    cancelled meanwhile publishes nothing. A report that
    fails the checks raises PublishRefusedError before anything moves.
    """
    _check_produced(staging, files)
    final = paths.build_artifacts_dir(build_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)  # left by an earlier attempt that never committed
    os.replace(staging, final)
    with transaction.atomic():
        succeeded = Build.objects.filter(pk=build_id, state=Build.State.RUNNING).update(
            state=Build.State.SUCCEEDED,
            progress=1.0,
            phase="",
            finished_at=timezone.now(),
            error="",
            failed_step="",
        )
        if succeeded:
            Artifact.objects.bulk_create(
                Artifact(
                    build_id=build_id,
                    kind=produced.kind,
                    path=str((final / produced.name).relative_to(paths.artifacts_root())),
                    size=produced.size,
                    sha256=produced.sha256,
                )
                for produced in files
            )
            # In the same transaction: a succeeded build always has its boot test queued
            # (sent after the commit), never "" like the builds made before boot tests.
            boot_test_queue(build_id=build_id)
    if not succeeded:
        shutil.rmtree(final, ignore_errors=True)
    return bool(succeeded)


def build_release(*, build: Build, released: bool = True) -> bool:
    """Offer a succeeded build to field technicians (or take it back) when no person asks:
    the release gate of builds/releases.py without an override, recorded in the history with
    no author. People release through releases.release / releases.withdraw."""
    try:
        if released:
            release_unattended(build)
        else:
            withdraw_unattended(build)
    except ReleaseRefusedError:
        return False
    return True


def build_rebuild(*, build: Build, requested_by: AbstractBaseUser | None) -> Build:
    """Build the same revision and profile again with the mirror's latest packages."""
    return build_enqueue(
        revision=build.revision,
        profile=build.profile,
        requested_by=requested_by,
        bypass_cache=True,
    )


def _unclaimed_message(arch: str) -> str:
    return (
        f"No build host for {arch} is online, so this build never started: it waited "
        f"{unclaimed_minutes()} min in the queue with none. Start a build worker that can "
        f"build {arch} ({build_host_hint(arch)}), then use Rebuild."
    )


def _fail_unclaimed(now: datetime) -> list[int]:
    """Fail queued builds that waited GENPACK_UNCLAIMED_BUILD_SECONDS with no host for their
    architecture online (counted from when one was last seen, if later than the queueing),
    instead of re-sending them forever. While a host is online they wait their turn."""
    online = online_architectures()
    deadline = now - timedelta(seconds=settings.GENPACK_UNCLAIMED_BUILD_SECONDS)
    last_seen: dict[str, datetime | None] = {}
    failed = []
    queued = Build.objects.filter(state=Build.State.QUEUED).select_related("profile")
    for build in queued.exclude(profile__arch__in=online):
        arch = build.profile.arch
        if arch not in last_seen:
            last_seen[arch] = arch_last_seen(arch)
        seen = last_seen[arch]
        waiting_since = max(build.created_at, seen) if seen else build.created_at
        if waiting_since < deadline and build_fail(
            build_id=build.pk, error=_unclaimed_message(arch), step=SiteFailure.NO_HOST
        ):
            failed.append(build.pk)
    return failed


def builds_reap() -> dict[str, list[int]]:
    """Fail running builds whose worker stopped beating, and queued builds no host could take
    for too long; re-send the other queued builds whose message may be lost (a broker
    restart). Re-sending is safe: claiming is atomic."""
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.GENPACK_WORKER_LOST_SECONDS)
    lost = list(
        Build.objects.filter(state=Build.State.RUNNING, heartbeat_at__lt=lost_before).values_list(
            "pk", flat=True
        )
    )
    for build_id in lost:
        build_fail(
            build_id=build_id,
            error="The worker running this build stopped responding (worker lost). "
            "Start it again with Rebuild.",
            step=SiteFailure.WORKER_LOST,
        )
    unclaimed = _fail_unclaimed(now)
    stale_before = now - timedelta(seconds=settings.GENPACK_REQUEUE_AFTER_SECONDS)
    stale = list(
        Build.objects.filter(state=Build.State.QUEUED)
        .filter(
            Q(heartbeat_at__lt=stale_before)
            | Q(heartbeat_at__isnull=True, created_at__lt=stale_before)
        )
        .select_related("profile")
    )
    for build in stale:
        # heartbeat_at on a queued build = when its message was last sent.
        Build.objects.filter(pk=build.pk, state=Build.State.QUEUED).update(heartbeat_at=now)
        transaction.on_commit(lambda build=build: _resend(build))
    return {"lost": lost, "unclaimed": unclaimed, "requeued": [build.pk for build in stale]}
