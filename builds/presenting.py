"""What the build pages say: plain phase names, step counts, times, and why a build failed.

The engine names its steps for its own use (rootfs, squashfs...) and says what went wrong in a
builder's words; a product manager reads "Installing packages", "step 1 of 7", and "A package
in the blueprint does not exist — Fix in Packages". Everything here reads rows, writes nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django.utils import timezone

from blueprints.editor import SECTIONS
from blueprints.models import BlueprintRevision
from builds.boot_test_presenting import boot_test_badge
from builds.durations import duration_text
from builds.models import Build, ReleaseEvent
from builds.progress import builds_ahead, typical_seconds
from builds.services import SiteFailure
from builds.updates import BuildUpdates, builds_updates
from image_builder.errors import is_transient

# The engine's step names (image_builder/pipeline.py STEPS, and the steps a BuildError names)
# as a product manager would say them.
PHASES = {
    "starting": "Starting",
    "prepare": "Preparing",
    "spec": "Reading the blueprint",
    "rootfs": "Installing packages",
    "customize": "Configuring",
    "services": "Turning on services",
    "files": "Adding the blueprint's files",
    "boot": "Setting up the kernel and boot loader",
    "trim": "Removing what the appliance does not need",
    "squashfs": "Packing the system image",
    "metadata": "Packing the system image",
    "disk": "Writing the disk image",
    "outputs": "Compressing the downloads",
}


def phase_label(step: str) -> str:
    """A step name in plain words; a name we do not know is shown as it is, capitalised."""
    if step in PHASES:
        return PHASES[step]
    if step.startswith("setup command"):
        return "Running setup commands"
    return step[:1].upper() + step[1:] if step else PHASES["starting"]


def _about(seconds: float) -> str:
    """A time left, never finer than the estimate is good for."""
    if seconds < 60:
        return "less than a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {duration_text(minutes * 60)}"


@dataclass(frozen=True)
class Progress:
    """A running or queued build, as the build page tells it."""

    phase: str = ""  # "Installing packages"
    step: str = ""  # "step 1 of 7"
    elapsed: str = ""  # "2 min 5 s"
    estimate: str = ""  # "about 3 min left", "finishing…"
    waiting: str = ""  # a queued build: its place in the queue
    retrying: str = ""  # why an earlier attempt of this build did not finish


def _step_text(build: Build) -> str:
    if build.step_count and 1 <= build.step_number <= build.step_count:
        return f"step {build.step_number} of {build.step_count}"
    return ""


def _estimate_text(build: Build, elapsed: float, typical: float | None) -> str:
    """Time left from how long this board's builds usually take; past that, never "0 left":
    "finishing…" near the end, and plainly "longer than usual" while steps remain."""
    if typical is None:
        return ""
    usual = duration_text(typical)
    left = typical - elapsed
    if left >= 30:
        return f"{_about(left)} left (builds for this board usually take {usual})"
    steps_left = build.step_count - build.step_number if build.step_count else 0
    if steps_left >= 2:
        return f"taking longer than usual (builds for this board usually take {usual})"
    if elapsed > typical * 1.5:
        return f"finishing… (longer than the usual {usual})"
    return "finishing…"


def _waiting_text(build: Build) -> str:
    ahead = builds_ahead(build)
    if ahead == 0:
        return "Next in line for a build worker."
    other = "build is" if ahead == 1 else "builds are"
    return f"Waiting for a build worker: {ahead} {other} ahead of it in the queue."


def build_progress(build: Build, now: datetime | None = None) -> Progress | None:
    """What a build that has not finished is doing; None once it has."""
    if build.is_finished:
        return None
    # A transient failure (builds.services.build_requeue) left its reason on the row.
    retrying = ""
    if build.error:
        retrying = MIRROR if is_transient(build.error) else build.error
    if build.state == Build.State.QUEUED:
        return Progress(waiting=_waiting_text(build), retrying=retrying)
    now = now or timezone.now()
    elapsed = (now - build.started_at).total_seconds() if build.started_at else 0.0
    return Progress(
        phase=phase_label(build.phase),
        step=_step_text(build),
        elapsed=duration_text(elapsed),
        estimate=_estimate_text(build, elapsed, typical_seconds(build.profile)),
        retrying=retrying,
    )


def usual_duration(build: Build) -> str:
    """How long builds for this board usually take, for a build not started yet."""
    typical = typical_seconds(build.profile)
    return duration_text(typical) if typical is not None else ""


# --- why a build failed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A failed build in plain words: what went wrong, where to fix it, whether to rebuild.

    section: the blueprint editor section that fixes it (blueprints/editor.py SECTIONS), or
    "json5" for the JSON5 editor; "" when nothing in the blueprint is wrong.
    rebuild_helps: the same blueprint may well build next time (a mirror or host problem).
    """

    summary: str
    section: str = ""
    rebuild_helps: bool = False
    advice: str = ""


PACKAGES_MISSING = re.compile(r"package\(s\) not found in Debian ([^/\s]+)\S* \([^)]*\): (.+)")
UNITS_MISSING = re.compile(r"service\(s\) not found in the image: ([^(]+)")
FILE_ACCOUNT = re.compile(r"file (\S+): (owner|group) '([^']+)' is not in the image's")
DOWNLOAD_FAILED = ("Failed to fetch", "404  Not Found", "Unable to fetch", "was not fetched")
NOT_INSTALLABLE = ("unmet dependencies", "held broken packages", "Conflicts:", "Breaks:")
ACCOUNT_COMMANDS = ("useradd", "usermod", "groupadd", "getent group", "chown")
MIRROR = "The Debian mirror could not be reached, or sent a broken download."
ASK_ADMIN_PROFILE = (
    "This is usually a problem of the hardware profile, not of the blueprint: "
    "if it happens again, ask an admin to check the profile."
)
SITE_FAILURES = {
    SiteFailure.QUEUE_UNAVAILABLE: Failure(
        "The build queue could not be reached, so the build never started.", rebuild_helps=True
    ),
    SiteFailure.NO_HOST: Failure(
        "No build host for this board's architecture came online, so the build never started.",
        rebuild_helps=True,
    ),
    SiteFailure.WORKER_LOST: Failure(
        "The build worker stopped responding in the middle of the build (it was stopped or "
        "its machine restarted). Nothing in the blueprint is wrong.",
        rebuild_helps=True,
    ),
    SiteFailure.TIME_LIMIT: Failure(
        "The build took longer than the time limit and was stopped.",
        rebuild_helps=True,
        advice="A slow mirror is the usual cause; very many packages can be another.",
    ),
    SiteFailure.NOT_PUBLISHED: Failure(
        "The image was built, but its files could not be published.", rebuild_helps=True
    ),
    SiteFailure.INTERNAL: Failure(
        "Something went wrong in the build system itself, not in the blueprint.",
        rebuild_helps=True,
    ),
}
# Rows failed before failed_step existed: the step, told by the words of the error.
LEGACY_STEPS = (
    ("package(s) not found in Debian", "rootfs"),
    ("service(s) not found in the image", "services"),
    ("(worker lost)", SiteFailure.WORKER_LOST),
    ("No build host for", SiteFailure.NO_HOST),
    ("longer than the time limit", SiteFailure.TIME_LIMIT),
    ("The build queue is unavailable", SiteFailure.QUEUE_UNAVAILABLE),
    ("files were not published", SiteFailure.NOT_PUBLISHED),
    ("Internal error while running", SiteFailure.INTERNAL),
)


def _rootfs_failure(message: str) -> Failure:
    if match := PACKAGES_MISSING.search(message):
        return Failure(
            f"The blueprint asks for packages that Debian {match.group(1)} does not have for "
            f"this board: {match.group(2).strip()}. Check the names, or remove them.",
            section="packages",
        )
    if any(words in message for words in DOWNLOAD_FAILED):
        return Failure(
            "A package could not be downloaded from the Debian mirror (the mirror may be in "
            "the middle of an update). Nothing in the blueprint is wrong.",
            rebuild_helps=True,
        )
    if any(words in message for words in NOT_INSTALLABLE):
        return Failure(
            "The blueprint's packages cannot be installed together: one conflicts with "
            "another, or needs something this Debian release does not have.",
            section="packages",
        )
    return Failure(
        "Installing the packages failed.",
        section="packages",
        rebuild_helps=True,
        advice="The log shows the package manager's words; a mirror problem can also cause this.",
    )


def _customize_failure(step: str, message: str) -> Failure:
    if step.startswith("setup command"):
        number = step.removeprefix("setup command").strip()
        return Failure(f"Setup command {number} failed.", section="advanced")
    if step == "services":
        if match := UNITS_MISSING.search(message):
            return Failure(
                f"The blueprint turns on services that nothing in the image provides: "
                f"{match.group(1).strip()}. Check the names, or add the package that ships them.",
                section="services",
            )
        return Failure("Turning on the blueprint's services failed.", section="services")
    if step == "files":
        if match := FILE_ACCOUNT.search(message):
            return Failure(
                f"The file {match.group(1)} belongs to the {match.group(2)} “{match.group(3)}”, "
                "which the image does not have. Choose another, or add it under Users and groups.",
                section="files",
            )
        return Failure("A file of the blueprint could not be put into the image.", section="files")
    if message.startswith(("file ", "cannot write file")):
        return Failure("A build file could not be written into the image.", section="advanced")
    if any(command in message for command in ACCOUNT_COMMANDS):
        return Failure("Creating the blueprint's users and groups failed.", section="users")
    if "apt-get" in message:
        return Failure("Removing the build-time packages failed.", section="packages")
    return Failure("Configuring the system failed.", section="advanced")


def _engine_failure(step: str, message: str) -> Failure:
    if is_transient(message):
        return Failure(f"{MIRROR} Nothing in the blueprint is wrong.", rebuild_helps=True)
    if " took longer than " in message:
        return Failure(
            f"{phase_label(step)} took too long and was stopped.",
            rebuild_helps=True,
            advice="A slow mirror or a busy build host is the usual cause.",
        )
    if step == "rootfs":
        return _rootfs_failure(message)
    if step in ("customize", "services", "files") or step.startswith("setup command"):
        return _customize_failure(step, message)
    if step == "spec":
        return Failure("The builder could not read the blueprint.", section="json5")
    if step == "boot":
        if any(words in message for words in DOWNLOAD_FAILED):
            return Failure(
                "A boot file could not be downloaded from the Debian mirror.", rebuild_helps=True
            )
        return Failure("Setting up the kernel and boot loader failed.", advice=ASK_ADMIN_PROFILE)
    if step == "cancelled":
        return Failure("The build was stopped before it finished.", rebuild_helps=True)
    return Failure(
        f"{phase_label(step)} failed. Nothing points at the blueprint.",
        rebuild_helps=True,
        advice="If it happens again, the log tells an admin what the build host lacked "
        "(disk space is the usual cause).",
    )


def build_failure(build: Build) -> Failure | None:
    """Why a failed build failed, in plain words; None for any other build."""
    if build.state != Build.State.FAILED:
        return None
    step, message = build.failed_step, build.error
    if not step:
        step = next((step for words, step in LEGACY_STEPS if words in message), "")
    if step in SITE_FAILURES:
        return SITE_FAILURES[SiteFailure(step)]
    if step:
        return _engine_failure(step, message)
    if is_transient(message):
        return Failure(MIRROR, rebuild_helps=True)
    return Failure("The build failed.", rebuild_helps=True)


@dataclass(frozen=True)
class FixLink:
    label: str  # "Fix in Services"
    url: str  # "" when this person may not edit that section
    note: str = ""  # then: who can


def fix_link(
    failure: Failure | None, build: Build, user: AbstractBaseUser | AnonymousUser
) -> FixLink | None:
    """The editor section that fixes the failure, for someone who may edit it there."""
    if failure is None or not failure.section:
        return None
    if not user.has_perm("blueprints.change_blueprint"):
        return None
    name = build.revision.blueprint.name
    if failure.section == "json5":
        return FixLink("Fix in the JSON5 editor", reverse("blueprints:source", args=[name]))
    section = SECTIONS[failure.section]
    if section.permission and not user.has_perm(section.permission):
        note = f"An admin can fix this in the blueprint's {section.title} section."
        return FixLink(f"Fix in {section.title}", "", note)
    url = reverse("blueprints:edit", args=[name]) + f"#section-{section.name}"
    return FixLink(f"Fix in {section.title}", url)


def newer_revision(build: Build) -> BlueprintRevision | None:
    """The blueprint's latest revision when it is newer than the build's and still targets
    its board: after a fix in the editor, that is what to build (a rebuild repeats the old)."""
    latest = build.revision.blueprint.latest_revision
    if latest is None or latest.number <= build.revision.number:
        return None
    return latest if latest.targets.filter(pk=build.profile_id).exists() else None


# --- the builds list -------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildRow:
    build: Build
    duration: str
    reason: str  # why it failed or was cancelled, in plain words
    release_override: ReleaseEvent | None = None  # released without a passed boot test
    updates: BuildUpdates | None = None  # a released build's newer archive versions
    boot_test: str = ""  # "boot test passed", "not emulated"


def _duration(build: Build, now: datetime) -> str:
    if build.cache_hit_of_id:
        return "reused"
    if build.started_at is None:
        if build.state == Build.State.QUEUED:
            return f"waiting {duration_text((now - build.created_at).total_seconds())}"
        return "never started"
    if build.finished_at is None:
        return f"{duration_text((now - build.started_at).total_seconds())} so far"
    return duration_text((build.finished_at - build.started_at).total_seconds())


def _reason(build: Build) -> str:
    if build.state == Build.State.CANCELLED:
        return build.error
    failure = build_failure(build)
    return failure.summary if failure else ""


def build_rows(
    builds: Iterable[Build],
    now: datetime | None = None,
    overrides: Mapping[int, ReleaseEvent] | None = None,
) -> list[BuildRow]:
    """One row per build; `overrides` (releases.current_overrides) by build id."""
    now = now or timezone.now()
    overrides = overrides or {}
    builds = list(builds)
    updates = builds_updates(builds)
    return [
        BuildRow(
            build,
            _duration(build, now),
            _reason(build),
            release_override=overrides.get(build.pk),
            updates=updates.get(build.pk),
            boot_test=boot_test_badge(build),
        )
        for build in builds
    ]
