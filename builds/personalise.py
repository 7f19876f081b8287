"""Per-device images: a private copy of a finished disk image with this device's system.ini.

Per-device data never enters a build or its cache key (ARCHITECTURE.md); it is written into
the copy's FAT partition with mtools in a fraction of a second, then streamed and deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from builds import paths
from builds.engine.image_tools import copy_image, write_system_ini
from builds.models import Artifact, Build
from builds.system_ini import render_for

CHUNK = 1024 * 1024


def device_system_ini(build: Build, values: Mapping[str, object]) -> str:
    """The system.ini for one device: `values` are its whole top-level setting."""
    return render_for(build.revision.data, build.profile, device_values=values)


def artifact_personalised(*, artifact: Artifact, system_ini: str) -> Path:
    """A private copy of `artifact` (a raw disk image) with `system_ini` written into it."""
    directory = paths.artifacts_root() / "personal"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{uuid.uuid4().hex}.img"
    try:
        copy_image(paths.artifacts_root() / artifact.path, target)
        write_system_ini(target, system_ini)
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return target


def stream_and_delete(path: Path) -> Iterator[bytes]:
    """Stream a personalised copy once; it is removed when the download ends or breaks."""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
