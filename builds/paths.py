"""Where a build's files live. One place, so web, worker and retention agree."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def artifacts_root() -> Path:
    return Path(settings.GENPACK_ARTIFACTS_DIR)


def build_artifacts_dir(build_id: int) -> Path:
    return artifacts_root() / "builds" / str(build_id)


def build_staging_dir(build_id: int) -> Path:
    """Same filesystem as the final place, so publishing is one rename."""
    return artifacts_root() / "staging" / str(build_id)


def build_log_path(build_id: int) -> Path:
    return artifacts_root() / "logs" / f"{build_id}.log"


def build_work_dir(build_id: int) -> Path:
    return Path(settings.GENPACK_WORK_DIR) / str(build_id)


def boot_test_work_dir(build_id: int) -> Path:
    """The boot test's own work dir (its copy of the disk, QEMU's files), apart from the
    build's, which is gone by then."""
    return Path(settings.GENPACK_WORK_DIR) / f"boot-test-{build_id}"


def console_log_name(build_id: int) -> str:
    """The boot test's console log in the build's artifacts dir (and its download name)."""
    return f"build-{build_id}-boot-console.log"


def personal_dir() -> Path:
    """Per-device copies while they are written and streamed (builds/personalise.py)."""
    return artifacts_root() / "personal"


def personal_slots_dir() -> Path:
    """Lock files limiting how many personalised copies exist at once."""
    return artifacts_root() / "personal-slots"


def personal_checksums_dir() -> Path:
    """The SHA-256 of each personalised download, written once it has been sent whole."""
    return artifacts_root() / "personal-checksums"
