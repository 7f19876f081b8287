"""Releasing a build to field technicians and taking it back: the release gate and its history.

A succeeded build is released by someone with `builds.release_build` once its boot test passed
(a cache hit's: the test of the build whose files it reuses) or its profile is not emulated.
Otherwise (failed, pending, running, cancelled, or never run because the build is older than
boot tests) only someone with `builds.override_boot_test` may release it, with a written
reason that technicians see. Every release and withdrawal is a ReleaseEvent.

Like the other services the writes are conditional UPDATEs: the gate is re-checked by the
database in the same statement, so a boot test or a second click racing a release cannot slip
through; the ReleaseEvent is written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Q, QuerySet

from builds.models import BootTestState, Build, ReleaseEvent, builds_visible_to

RELEASE_PERMISSION = "builds.release_build"
OVERRIDE_PERMISSION = "builds.override_boot_test"
REASON_MAX_LENGTH = 2000
_ERROR_EXCERPT = 200  # characters of the boot test's error quoted in a refusal
OVERRIDE_ADVICE = "An admin can release it anyway with a written reason."
REASON_ADVICE = (
    "To release it anyway, write why in the reason box: technicians will see the reason."
)

User = AbstractBaseUser | AnonymousUser


class ReleaseRefusedError(Exception):
    """Nothing was released or withdrawn; the message says why and what to do."""


def _passed_or_not_emulated(prefix: str = "") -> Q:
    """Rows whose boot test (`prefix` = "cache_hit_of__" for a cache hit's source) allows a
    release without an override: the same rule as boot_test_problem, for the UPDATE."""
    return Q(**{f"{prefix}boot_test_state": BootTestState.PASSED}) | Q(
        **{f"{prefix}boot_test_state": BootTestState.SKIPPED, "profile__boot_test_machine": ""}
    )


RELEASABLE_WITHOUT_OVERRIDE = (Q(cache_hit_of__isnull=True) & _passed_or_not_emulated()) | (
    Q(cache_hit_of__isnull=False) & _passed_or_not_emulated("cache_hit_of__")
)


def boot_test_problem(build: Build) -> str:
    """Why the boot test does not let this build be released without an override, in words
    (no advice on what to do); "" when it does."""
    source = build.artifact_source
    state = source.boot_test_state
    if state == BootTestState.PASSED:
        return ""
    if state == BootTestState.SKIPPED and not build.profile.is_emulated:
        return ""
    subject = "The boot test"
    if source.pk != build.pk:
        subject = f"The boot test of build #{source.pk}, whose files this build reuses,"
    error = " ".join(source.boot_test_error.split())[:_ERROR_EXCERPT]
    said = f" ({error})" if error else ""
    explanations = {
        BootTestState.FAILED: f"the image did not start up in the emulator{said}.",
        BootTestState.PENDING: "it has not run yet; wait for its result.",
        BootTestState.RUNNING: "it is running now; wait for its result.",
        BootTestState.CANCELLED: f"it was cancelled before it finished{said}.",
        BootTestState.SKIPPED: (
            f"it was skipped{said}, although {build.profile.name} is booted in an emulator."
        ),
    }
    if state in explanations:
        label = BootTestState(state).label.lower()
        return f"{subject} has not passed ({label}): {explanations[BootTestState(state)]}"
    return (
        f"{subject} has not passed (never run): this build was made before boot tests "
        "existed, so it was never booted."
    )


def _succeeded_problem(build: Build) -> str:
    if build.state == Build.State.SUCCEEDED:
        return ""
    return f"Only a succeeded build can be released: build #{build.pk} is {build.state}."


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise ReleaseRefusedError(
            f"The reason is {len(reason)} characters long; keep it to {REASON_MAX_LENGTH}."
        )
    if "\x00" in reason:
        raise ReleaseRefusedError("The reason contains a NUL character; write it as plain text.")
    return reason


@dataclass(frozen=True)
class ReleaseOptions:
    """What the build page offers this person for this build (the same rules as release())."""

    can_release: bool  # a button
    needs_reason: bool  # ...with a reason box: an override of the boot test
    refusal: str  # why there is no button, in words ("" when there is one or nothing to say)
    can_withdraw: bool
    boot_problem: str  # why the boot test does not allow a plain release ("" when it does)
    reason_max_length: int = REASON_MAX_LENGTH


def release_options(build: Build, user: User) -> ReleaseOptions:
    may_release = user.has_perm(RELEASE_PERMISSION)
    if build.released or build.state != Build.State.SUCCEEDED:
        return ReleaseOptions(False, False, "", may_release and build.released, "")
    problem = boot_test_problem(build)
    if not may_release:
        return ReleaseOptions(False, False, "", False, problem)
    if not problem:
        return ReleaseOptions(True, False, "", False, "")
    if user.has_perm(OVERRIDE_PERMISSION):
        return ReleaseOptions(True, True, "", False, problem)
    return ReleaseOptions(False, False, f"{problem} {OVERRIDE_ADVICE}", False, problem)


def release(build: Build, by: User, reason: str = "") -> ReleaseEvent:
    """Offer a succeeded build to field technicians; an override of its boot test needs
    `builds.override_boot_test` and a reason. Raises ReleaseRefusedError saying why not."""
    if not by.has_perm(RELEASE_PERMISSION):
        raise ReleaseRefusedError(
            "You may not release builds: ask a product manager or an admin to release it."
        )
    reason = _clean_reason(reason)
    return _release(build, by=by, reason=reason, may_override=by.has_perm(OVERRIDE_PERMISSION))


def release_unattended(build: Build) -> ReleaseEvent:
    """A release no person asked for (builds.services.build_release, kept for its callers):
    the gate without an override; the event has no author."""
    return _release(build, by=None, reason="", may_override=False)


def _release(build: Build, *, by: User | None, reason: str, may_override: bool) -> ReleaseEvent:
    current = Build.objects.select_related("profile", "cache_hit_of").filter(pk=build.pk).first()
    if current is None:
        raise ReleaseRefusedError(f"Build #{build.pk} no longer exists.")
    build = current
    problem = _succeeded_problem(build)
    if problem:
        raise ReleaseRefusedError(problem)
    if build.released:
        raise ReleaseRefusedError(f"Build #{build.pk} is already released to technicians.")
    boot_problem = boot_test_problem(build)
    if boot_problem and not may_override:
        raise ReleaseRefusedError(f"{boot_problem} {OVERRIDE_ADVICE}")
    if boot_problem and not reason:
        raise ReleaseRefusedError(f"{boot_problem} {REASON_ADVICE}")
    gate = Q(pk=build.pk, state=Build.State.SUCCEEDED, released=False)
    if not boot_problem:
        gate &= RELEASABLE_WITHOUT_OVERRIDE
    with transaction.atomic():
        if Build.objects.filter(gate).update(released=True) != 1:
            raise ReleaseRefusedError(_changed_meanwhile(build))
        return ReleaseEvent.objects.create(
            build=build,
            action=ReleaseEvent.Action.RELEASED,
            by=_person(by),
            reason=reason,
            override=bool(boot_problem),
        )


def withdraw(build: Build, by: User, reason: str = "") -> ReleaseEvent:
    """Stop offering a build to field technicians (the reason is optional)."""
    if not by.has_perm(RELEASE_PERMISSION):
        raise ReleaseRefusedError(
            "You may not withdraw builds: ask a product manager or an admin to withdraw it."
        )
    reason = _clean_reason(reason)
    return _withdraw(build, by=by, reason=reason)


def withdraw_unattended(build: Build) -> ReleaseEvent:
    """A withdrawal no person asked for (builds.services.build_release, kept for its callers)."""
    return _withdraw(build, by=None, reason="")


def _withdraw(build: Build, *, by: User | None, reason: str) -> ReleaseEvent:
    with transaction.atomic():
        if Build.objects.filter(pk=build.pk, released=True).update(released=False) != 1:
            raise ReleaseRefusedError(f"Build #{build.pk} is not released, so nothing changed.")
        return ReleaseEvent.objects.create(
            build=build, action=ReleaseEvent.Action.WITHDRAWN, by=_person(by), reason=reason
        )


def _person(user: User | None) -> AbstractBaseUser | None:
    return user if isinstance(user, AbstractBaseUser) else None


def _changed_meanwhile(build: Build) -> str:
    """Why the conditional UPDATE matched nothing: the row as it is now, explained."""
    now = Build.objects.select_related("profile", "cache_hit_of").filter(pk=build.pk).first()
    if now is None:
        return f"Build #{build.pk} no longer exists."
    if now.released:
        return f"Build #{now.pk} is already released to technicians."
    problem = _succeeded_problem(now) or boot_test_problem(now)
    if problem:
        return f"{problem} {OVERRIDE_ADVICE}"
    return f"Build #{now.pk} changed meanwhile; reload the page and try again."


def current_overrides(builds: Iterable[Build]) -> dict[int, ReleaseEvent]:
    """For each released build among `builds` whose current release overrode the boot test:
    that release (with its reason, author and time), by build id."""
    released = [build.pk for build in builds if build.released]
    latest: dict[int, ReleaseEvent] = {}
    events = ReleaseEvent.objects.filter(build_id__in=released).select_related("by")
    for event in events.order_by("build_id", "-at", "-pk"):
        latest.setdefault(event.build_id, event)
    return {
        pk: event
        for pk, event in latest.items()
        if event.action == ReleaseEvent.Action.RELEASED and event.override
    }


def release_events_visible_to(user: User) -> QuerySet[ReleaseEvent]:
    """The release history a person may read: every event for blueprint readers; a field
    technician sees the events of the builds released to them (builds_visible_to)."""
    return ReleaseEvent.objects.filter(build__in=builds_visible_to(user)).select_related(
        "build__revision__blueprint", "build__profile", "by"
    )
