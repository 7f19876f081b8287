"""Per-device images: a private copy of a finished disk image with this device's system.ini.

Per-device data never enters a build or its cache key (ARCHITECTURE.md); it is written into
the copy's FAT partition with mtools in a fraction of a second, then streamed and deleted.
Guarded: at most GENPACK_MAX_PERSONALISING copies at once, only with room for one more, and
retention sweeps copies a crash left behind.

The copy differs from the published image (its system.ini), so the published checksums do not
fit it. Hashing it before sending would read the whole image once more before the first byte
goes out; instead the bytes are hashed as they stream, and once the last one has been sent the
SHA-256 is written as a checksum file (`sha256sum -c` format) that the download page fetches
and shows. A download the client broke off leaves none.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
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


# The page makes one token per download (static/js/personal-checksum.js) to find its checksum.
CHECKSUM_TOKEN = re.compile(r"[0-9a-f]{32}")
# Long enough for a slow download to be checked the next day; retention removes older ones.
PERSONAL_CHECKSUM_MAX_AGE = timedelta(days=1)


def personal_copy_name(artifact: Artifact, hostname: str = "") -> str:
    """The downloaded file's name: the image's, with the device's hostname in it."""
    name = Path(artifact.path).name
    return name.replace(".img", f"-{hostname}.img") if hostname else name


def personal_checksum_path(*, user_id: int, build_id: int, token: str) -> Path | None:
    """Where the SHA-256 of one person's personalised download of a build is written; None for
    a token the page did not make (it names a file)."""
    if not CHECKSUM_TOKEN.fullmatch(token):
        return None
    return paths.personal_checksums_dir() / f"{build_id}-{user_id}-{token}.sha256"


def personal_checksum_read(path: Path) -> str | None:
    """The checksum line ("<sha256>  <file name>"), or None while the download is not sent."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


class PersonalCopy:
    """A private copy being streamed: iterate it once; closing (Django closes the response
    even when the client leaves early) deletes the file and frees its slot. Sent whole, its
    SHA-256 is written to `checksum_path` (when given) as `<sha256>  <name>`."""

    def __init__(
        self, path: Path, slot: BinaryIO, *, name: str, checksum_path: Path | None = None
    ) -> None:
        self.path = path
        self.name = name
        self.checksum_path = checksum_path
        self._slot = slot
        self._handle: BinaryIO | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def __iter__(self) -> Iterator[bytes]:
        self._handle = self.path.open("rb")
        digest = hashlib.sha256()
        try:
            while chunk := self._handle.read(CHUNK):
                digest.update(chunk)
                yield chunk
            self._checksum_write(digest.hexdigest())
        finally:
            self.close()

    def _checksum_write(self, sha256: str) -> None:
        if self.checksum_path is None:
            return
        self.checksum_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.checksum_path.with_suffix(".partial")
        partial.write_text(f"{sha256}  {self.name}\n", encoding="utf-8")
        os.replace(partial, self.checksum_path)  # the page never reads half a line

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self.path.unlink(missing_ok=True)
        self._slot.close()  # releases the flock


def artifact_personalised(
    *, artifact: Artifact, system_ini: str, name: str, checksum_path: Path | None = None
) -> PersonalCopy:
    """A private copy of `artifact` (a raw disk image) with `system_ini` written into it, to be
    sent as `name`; its SHA-256 goes to `checksum_path` once it has been sent whole (an older
    checksum there, of an earlier download, is removed first).

    Raises ArtifactFileMissing, PersonaliseRefusedError (busy, no space), or the image tools'
    errors; no copy is left behind on any of them.
    """
    if checksum_path is not None:
        checksum_path.unlink(missing_ok=True)
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
    return PersonalCopy(target, slot, name=name, checksum_path=checksum_path)


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


def personal_checksums_sweep(max_age: timedelta = PERSONAL_CHECKSUM_MAX_AGE) -> int:
    """Remove the checksums of personalised downloads older than `max_age`; returns how many."""
    directory = paths.personal_checksums_dir()
    if not directory.exists():
        return 0
    cutoff = time.time() - max_age.total_seconds()
    removed = 0
    for checksum in directory.iterdir():
        try:
            if checksum.stat().st_mtime < cutoff:
                checksum.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
