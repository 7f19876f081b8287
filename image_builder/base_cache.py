"""The base root filesystem, cached: what every build of a profile installs before the
blueprint's own packages (the engine's packages, the profile's kernel, firmware and extras,
the boot scheme's), so a blueprint change only installs what differs.

An entry is `<directory>/<key>/` holding `tree/` (the tree as mmdebstrap left it, without
.debs) and `entry.json` (size, the package versions it holds, when it was made). The key
hashes the inputs: builder version, suite, architecture, components, apt sources, the
package set and mmdebstrap's options. The versions are checked when an entry is used: after
`apt-get update` in the copy, a base package the archive has a newer version of makes the
entry stale and the build starts from a fresh base, which replaces it. So a base always
holds the archive's current versions, as a fresh one would.

Safe with builds running at once: entries appear by rename of a complete staging
directory, a reader holds a shared lock on `<key>.lock` while it copies, and pruning (least
recently used first, down to `max_bytes`) only removes an entry it can lock exclusively.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .runner import Runner

ENTRY_FILE = "entry.json"
TREE = "tree"
STEP = "rootfs"


def base_key(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]


def tree_bytes(root: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total


def remove(path: Path, runner: Runner) -> None:
    runner.run(["rm", "-rf", "--one-file-system", str(path)], step=STEP, quiet=True)


@dataclass(frozen=True)
class BaseCache:
    directory: Path
    max_bytes: int

    def entry(self, key: str) -> Path:
        return self.directory / key

    def lock_path(self, key: str) -> Path:
        return self.directory / f"{key}.lock"

    @contextmanager
    def locked(self, key: str, *, exclusive: bool, wait: bool = True) -> Iterator[bool]:
        """Hold `<key>.lock`; yields False when `wait` is off and somebody else holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path(key), "a+") as handle:
            flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                fcntl.flock(handle, flags if wait else flags | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def copy_out(self, key: str, root: Path, runner: Runner) -> dict | None:
        """Copy the entry's tree to `root`; its entry.json, or None when there is no entry."""
        with self.locked(key, exclusive=False):
            entry = self.entry(key)
            try:
                info = json.loads((entry / ENTRY_FILE).read_text())
            except (OSError, ValueError):
                return None
            root.mkdir(parents=True, exist_ok=True)
            runner.run(["cp", "-a", "--reflink=auto", f"{entry / TREE}/.", str(root)], step=STEP)
            os.utime(entry / ENTRY_FILE)  # least recently used is what pruning removes first
            return info

    def store(self, key: str, root: Path, versions: dict[str, str], runner: Runner) -> None:
        """Add `root` (no .debs in it) as the entry for `key`, replacing an older one."""
        staging = self.staging(key)
        (staging / TREE).mkdir()
        runner.run(["cp", "-a", "--reflink=auto", f"{root}/.", str(staging / TREE)], step=STEP)
        info = {"size": tree_bytes(staging / TREE), "versions": versions, "created": time.time()}
        self.publish(key, staging, info, runner)
        runner.reporter.log(f"base cache: stored {key} ({info['size'] / 2**20:.0f} MiB)")
        self.prune(runner, keep=key)

    def staging(self, key: str) -> Path:
        """An empty directory to fill, then `publish`; readers never see it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=self.directory))

    def publish(self, key: str, staging: Path, info: dict, runner: Runner) -> None:
        """Make the complete `staging` the entry for `key` (one rename), with `info` (its
        "size" counts toward max_bytes) as its entry.json; an older entry goes."""
        (staging / ENTRY_FILE).write_text(json.dumps(info, indent=1, sort_keys=True))
        with self.locked(key, exclusive=True):
            old = self.entry(key)
            if old.exists():  # a stale entry, or one a parallel build stored first
                aside = staging.with_suffix(".old")
                os.replace(old, aside)
                os.replace(staging, old)
                remove(aside, runner)
            else:
                os.replace(staging, old)

    def entries(self) -> list[tuple[float, int, str]]:
        """(last used, size, key) of every complete entry."""
        found = []
        for info_path in self.directory.glob(f"*/{ENTRY_FILE}"):
            try:
                size = int(json.loads(info_path.read_text())["size"])
                found.append((info_path.stat().st_mtime, size, info_path.parent.name))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found)

    def size(self) -> int:
        return sum(size for _, size, _ in self.entries()) if self.directory.is_dir() else 0

    def prune(self, runner: Runner, keep: str = "") -> list[str]:
        """Remove least recently used entries until the cache fits max_bytes; an entry being
        copied right now (locked) is skipped, as is `keep`, the one just stored."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = []
        for _used, size, key in entries:
            if total <= self.max_bytes:
                break
            if key == keep:
                continue
            with self.locked(key, exclusive=True, wait=False) as got:
                if not got:
                    continue
                aside = self.directory / f".{key}.{uuid.uuid4().hex}.pruned"
                os.replace(self.entry(key), aside)
            remove(aside, runner)
            total -= size
            removed.append(key)
        if removed:
            runner.reporter.log(f"base cache: pruned {len(removed)} least recently used base(s)")
        return removed
