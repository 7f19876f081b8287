"""How two system.img files differ: their listings without times (type and mode, owner,
size or device numbers, path and link target, from `unsquashfs -lls`) and the contents of
their files (sha256). The base cache's promise, a warm rebuild makes the image a cold
build makes, is checked with it (bench/build.py --warm-rebuild and the slow tests)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# mode, owner, size (or device numbers), date, time, path (with " -> target" for links)
LLS_ROW = re.compile(r"^(\S+) (\S+)\s+(.+?) \d{4}-\d\d-\d\d \d\d:\d\d (/.*)$", re.MULTILINE)
# Files whose bytes record when the build ran (compare them another way, if at all).
TIME_RECORDS = frozenset(
    {
        "/.genpack/timestamp",
        "/.genpack/sbom.spdx.json",  # its creation time and document namespace
        "/var/cache/ldconfig/aux-cache",
        "/boot/initramfs",  # the cpio archive records its files' mtimes
        "/etc/.updated",  # /usr's mtime (assemble.stamp_etc_up_to_date)
    }
)


Row = tuple[str, str, str, str]  # mode, owner, size, "/path" or "/path -> target"


def row_path(row: Row) -> str:
    return row[3].split(" -> ", 1)[0]


@dataclass
class ImageDiff:
    only_first: list[Row]  # listing rows
    only_second: list[Row]
    differing: list[str]  # paths of regular files whose contents differ
    files: int

    def beyond(self, allowed: frozenset[str] = TIME_RECORDS) -> list[str]:
        """Everything that differs other than the `allowed` files' contents (and sizes: a
        compressed archive of other mtimes may pack a few bytes shorter)."""
        rows = [
            row for row in (*self.only_first, *self.only_second) if row_path(row) not in allowed
        ]
        return [*(" ".join(row) for row in rows), *(p for p in self.differing if p not in allowed)]


def listing(system_img: Path) -> list[Row]:
    output = subprocess.run(
        ["unsquashfs", "-lls", "-d", "", str(system_img)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [match.groups() for match in LLS_ROW.finditer(output)]  # type: ignore[misc]


def file_hashes(system_img: Path, into: Path) -> dict[str, str]:
    """Unpack into `into` (which must not exist) and hash every regular file."""
    into.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["unsquashfs", "-q", "-n", "-d", str(into), str(system_img)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    hashes = {}
    for path in sorted(into.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            hashes["/" + str(path.relative_to(into))] = digest.hexdigest()
    return hashes


def compare(first: Path, second: Path, workdir: Path) -> ImageDiff:
    rows_first, rows_second = listing(first), listing(second)
    hashes_first = file_hashes(first, workdir / "first")
    hashes_second = file_hashes(second, workdir / "second")
    return ImageDiff(
        only_first=sorted(set(rows_first) - set(rows_second)),
        only_second=sorted(set(rows_second) - set(rows_first)),
        differing=sorted(
            path for path, digest in hashes_first.items() if hashes_second.get(path) != digest
        ),
        files=len(hashes_first),
    )
