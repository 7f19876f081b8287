"""Writing into the image tree from the build host, never through a program of the tree.

A blueprint's files are written here rather than with a shell inside the chroot: one of them
could be /bin/sh. And they never leave the tree: every directory on the way is opened relative
to the one before with O_NOFOLLOW; a symlink among them is resolved the way the running image
will see it (its target taken from the tree's root, ".." never above it); the file itself is
written under a temporary name and renamed over its path, so a symlink or hard link already
there is replaced, never written through. Owners and groups become numeric ids from the
tree's own /etc/passwd and /etc/group, never the build host's.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath

MAX_SYMLINKS = 40  # as the kernel's own limit: a loop of links ends with a message
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreePathError(ValueError):
    """The path cannot be written inside the tree; the message names it and says why."""


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _open_root(self) -> int:
        return os.open(self.root, _DIR_FLAGS)

    def _walk(self, parts: list[str], *, create: bool) -> tuple[int, list[str]]:
        """Open the directory `parts` names inside the tree; returns its fd and its real path
        (symlinks resolved) as components. `create` makes missing directories (root, 0755)."""
        pending = [part for part in parts if part not in ("", ".")]
        resolved: list[str] = []
        fd = self._open_root()
        hops = 0
        try:
            while pending:
                part = pending.pop(0)
                if part in ("", "."):
                    continue
                if part == "..":  # only from a symlink's target; never above the tree's root
                    resolved = resolved[:-1]
                    os.close(fd)
                    fd, resolved = self._walk(resolved, create=False)
                    continue
                try:
                    info = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        raise TreePathError(
                            f"/{'/'.join([*resolved, part])} does not exist"
                        ) from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    info = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        raise TreePathError(f"too many symlinks on the way to /{'/'.join(parts)}")
                    target = os.readlink(part, dir_fd=fd)
                    pending = [*target.split("/"), *pending]
                    if target.startswith("/"):
                        os.close(fd)
                        fd, resolved = self._open_root(), []
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    raise TreePathError(f"/{'/'.join([*resolved, part])} is not a directory")
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)  # O_NOFOLLOW: no swap since stat
                os.close(fd)
                fd = child
                resolved.append(part)
        except BaseException:
            os.close(fd)
            raise
        return fd, resolved

    @staticmethod
    def _split(path: str) -> tuple[list[str], str]:
        parts = path.strip("/").split("/")
        if not path.startswith("/") or not parts[-1] or ".." in parts:
            raise TreePathError(f"{path!r} is not an absolute file path")
        return parts[:-1], parts[-1]

    def resolve(self, path: str, *, create: bool = False) -> str:
        """Where `path` lands inside the tree: its directory's symlinks resolved, not its own."""
        directory, name = self._split(path)
        fd, resolved = self._walk(directory, create=create)
        os.close(fd)
        return "/" + "/".join([*resolved, name])

    def read_bytes(self, path: str) -> bytes:
        """A file of the tree; a symlink to it is followed, inside the tree."""
        directory, name = self._split(path)
        for _ in range(MAX_SYMLINKS):
            fd, resolved = self._walk(directory, create=False)
            try:
                if name in ("", ".", ".."):
                    raise TreePathError(f"{path} is not a file in the image")
                try:
                    handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except FileNotFoundError:
                    raise TreePathError(f"{path} does not exist in the image") from None
                except OSError:
                    if not stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise
                    target = os.readlink(name, dir_fd=fd)
                    parts = [] if target.startswith("/") else resolved
                    *directory, name = [*parts, *target.split("/")]
                    continue
            finally:
                os.close(fd)
            with os.fdopen(handle, "rb") as file:
                return file.read()
        raise TreePathError(f"too many symlinks on the way to {path}")

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        mode: int,
        uid: int,
        gid: int,
        refuse: Callable[[str], str | None] | None = None,
    ) -> str:
        """Write `data` at `path` (missing directories made); returns where it landed.

        `refuse(real_path)` may name a reason not to write there, after symlinks are resolved.
        """
        directory, name = self._split(path)
        fd, resolved = self._walk(directory, create=True)
        real_path = "/" + "/".join([*resolved, name])
        temporary = f".genpack-{secrets.token_hex(6)}"
        try:
            if refuse is not None and (reason := refuse(real_path)):
                raise TreePathError(reason)
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise TreePathError(f"{real_path} is a directory in the image")
            except FileNotFoundError:
                pass
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            handle = os.open(temporary, flags, 0o600, dir_fd=fd)
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                    os.fchown(file.fileno(), uid, gid)
                    os.fchmod(file.fileno(), mode)  # after chown, which would clear setuid bits
                os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                os.unlink(temporary, dir_fd=fd)
                raise
        finally:
            os.close(fd)
        return real_path

    def accounts(self) -> tuple[dict[str, int], dict[str, int]]:
        """User name → uid and group name → gid, from the tree's /etc/passwd and /etc/group."""
        return self._ids("/etc/passwd", 2), self._ids("/etc/group", 2)

    def _ids(self, path: str, column: int) -> dict[str, int]:
        try:
            text = self.read_bytes(path).decode("utf-8", errors="replace")
        except (TreePathError, OSError):
            return {}  # no such accounts file: only numeric ids and none of its names resolve
        ids = {}
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) > column and fields[column].isascii() and fields[column].isdigit():
                ids.setdefault(fields[0], int(fields[column]))
        return ids


def resolve_in_tree(
    root: Path, relative: str, links: list[tuple[str, str]] | None = None
) -> Path | None:
    """`relative` (tree-relative or absolute) with its links followed as the running image
    would follow them (an absolute target starts at the tree's root, ".." stops there): a path
    inside the tree, never one of the build host; None for a loop of links. `links`, when
    given, receives each link passed on the way (its tree-relative path, its target)."""
    parts = list(PurePosixPath(relative).parts)
    current, hops = root, 0
    while parts:
        part = parts.pop(0)
        if part in ("/", "."):
            continue
        if part == "..":
            current = current if current == root else current.parent
            continue
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > MAX_SYMLINKS:
                return None
            target = os.readlink(candidate)
            if links is not None:
                links.append((str(candidate.relative_to(root)), target))
            if target.startswith("/"):
                current = root
            parts = [*PurePosixPath(target).parts, *parts]
            continue
        current = candidate
    return current
