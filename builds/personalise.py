"""Per-device images: a private copy of a finished disk image with this device's system.ini.

Per-device data never enters a build or its cache key (ARCHITECTURE.md); it is written into
the copy's FAT partition with mtools in a fraction of a second, then streamed and deleted.
Guarded: at most GENPACK_MAX_PERSONALISING copies at once, only with room for one more, and
retention sweeps copies a crash left behind.
"""

from __future__ import annotations

import fcntl
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from builds import paths
from builds.downloads import ArtifactFileMissing, artifact_file
from builds.models import Artifact, Build
from builds.system_ini import render_for
from image_builder.image_tools import copy_image, write_system_ini

CHUNK = 1024 * 1024


def device_system_ini(build: Build, values: Mapping[str, object]) -> str:
    """The system.ini for one device: `values` are its whole top-level setting."""
    return render_for(build.revision.data, build.profile, device_values=values)


class PersonaliseRefusedError(Exception):
    """No copy now (disk full, too many at once); the message says why and what to do."""


# Personalised copies are kept no longer than this: one still there later was left by a
# process that died mid-download (builds/retention.py removes it).
PERSONAL_COPY_MAX_AGE = timedelta(hours=1)


def _take_slot() -> BinaryIO:
    """One of GENPACK_MAX_PERSONALISING lock files, held (flock) while a copy exists.

    flock is per open file, so it excludes threads and processes alike (gunicorn workers,
    several web hosts on one artifacts disk that supports it), and the kernel releases it
    when a process dies: a crash never leaves a slot taken.
    """
    slots = paths.personal_slots_dir()
    slots.mkdir(parents=True, exist_ok=True)
    for number in range(max(1, settings.GENPACK_MAX_PERSONALISING)):
        handle = (slots / f"{number}.lock").open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return handle
    raise PersonaliseRefusedError(
        "The server is busy preparing other personalised images. Try again in a minute, or "
        "download the plain image and edit system.ini on the card yourself."
    )


def _check_space(source: Path) -> None:
    """The copy is sparse: it needs about the source's allocated blocks, plus a margin."""
    info = source.stat()
    needed = min(info.st_size, info.st_blocks * 512) + settings.GENPACK_PERSONALISE_MARGIN_BYTES
    free = shutil.disk_usage(paths.personal_dir()).free
    if free < needed:
        raise PersonaliseRefusedError(
            f"There is not enough disk space on the server to prepare a personalised copy "
            f"({free / 1024**3:.1f} GiB free, {needed / 1024**3:.1f} GiB needed). Download the "
            "plain image and edit system.ini on the card, or ask an admin to free space."
        )


class PersonalCopy:
    """A private copy being streamed: iterate it once; closing (Django closes the response
    even when the client leaves early) deletes the file and frees its slot."""

    def __init__(self, path: Path, slot: BinaryIO) -> None:
        self.path = path
        self._slot = slot
        self._handle: BinaryIO | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def __iter__(self) -> Iterator[bytes]:
        self._handle = self.path.open("rb")
        try:
            while chunk := self._handle.read(CHUNK):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self.path.unlink(missing_ok=True)
        self._slot.close()  # releases the flock


def artifact_personalised(*, artifact: Artifact, system_ini: str) -> PersonalCopy:
    """A private copy of `artifact` (a raw disk image) with `system_ini` written into it.

    Raises ArtifactFileMissing, PersonaliseRefusedError (busy, no space), or the image tools'
    errors; no copy is left behind on any of them.
    """
    source = artifact_file(artifact)
    if not source.is_file():
        raise ArtifactFileMissing(f"{source.name} is no longer on disk.")
    directory = paths.personal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    slot = _take_slot()
    target = directory / f"{uuid.uuid4().hex}.img"
    try:
        _check_space(source)
        copy_image(source, target)
        write_system_ini(target, system_ini)
    except BaseException:
        target.unlink(missing_ok=True)
        slot.close()
        raise
    return PersonalCopy(target, slot)


def personal_copies_sweep(max_age: timedelta = PERSONAL_COPY_MAX_AGE) -> int:
    """Remove copies older than `max_age` (left by a crash); returns how many. A copy still
    being streamed is only unlinked: its reader keeps the open file until it is done."""
    directory = paths.personal_dir()
    if not directory.exists():
        return 0
    cutoff = time.time() - max_age.total_seconds()
    removed = 0
    for copy in directory.glob("*.img"):
        try:
            if copy.stat().st_mtime < cutoff:
                copy.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # finished and deleted meanwhile
    return removed
