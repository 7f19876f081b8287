"""Per-device images: a private copy of a finished disk image with this device's system.ini.

Per-device data never enters a build or its cache key (ARCHITECTURE.md); it is written into
the copy's FAT partition with mtools in a fraction of a second, then streamed and deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builds import paths
from builds.downloads import ArtifactFileMissing, artifact_file
from builds.engine.device.system_ini import (
    parse_ini,
    render_system_ini,
    validate_system_ini,
)
from builds.engine.image_tools import copy_image, write_system_ini
from builds.models import Artifact, Build
from builds.system_ini import _ini_text, app_settings

CHUNK = 1024 * 1024


def device_system_ini(build: Build, values: dict[str, Any]) -> str:
    """The system.ini for one device: the blueprint's defaults overlaid with `values`."""
    data = build.revision.data
    capabilities = frozenset(build.profile.capabilities)
    declared = app_settings(data)
    merged = {**(data.get("system_ini") or {}), **values}
    raw = "\n".join(f"{key}={_ini_text(value)}" for key, value in merged.items())
    result = validate_system_ini(parse_ini(raw), capabilities=capabilities, app_settings=declared)
    header = f"{data['name']} {data.get('version', '')} for {build.profile.name}, " + (
        f"device {values['hostname']}" if values.get("hostname") else "personalised"
    )
    return render_system_ini(
        result.values,
        capabilities=capabilities,
        app_settings=declared,
        header=header.replace("  ", " "),
    )


def artifact_personalised(*, artifact: Artifact, system_ini: str) -> Path:
    """A private copy of `artifact` (a raw disk image) with `system_ini` written into it."""
    source = artifact_file(artifact)
    if not source.is_file():
        raise ArtifactFileMissing(f"{source.name} is no longer on disk.")
    directory = paths.artifacts_root() / "personal"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{uuid.uuid4().hex}.img"
    try:
        copy_image(source, target)
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
