"""Running commands inside the image tree.

Each command gets its own private mount namespace with /proc and /sys mounted into the tree:
the mounts die with the command, so nothing can leak out of a killed build (see rootfs.py).
The tree's /dev already holds the basic device nodes mmdebstrap created.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from .runner import CommandResult, Runner

_WRAPPER = (
    'set -e; root="$1"; shift; '
    'mount -t proc proc "$root/proc"; '
    'mount -t sysfs -o ro sysfs "$root/sys"; '
    'exec chroot "$root" "$@"'
)
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}


class Chroot:
    def __init__(self, root: Path, runner: Runner) -> None:
        self.root = root
        self.runner = runner

    def argv(self, *command: str) -> list[str]:
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _WRAPPER, "genpack-chroot", str(self.root), *command,
        ]  # fmt: skip

    def run(self, *command: str, step: str, **kwargs) -> CommandResult:
        kwargs.setdefault("display", f"chroot {self.root} {shlex.join(command)}")
        return self.runner.run(self.argv(*command), step=step, env=CHROOT_ENV, **kwargs)

    def shell(self, script: str, *, step: str, **kwargs) -> CommandResult:
        return self.run("/bin/sh", "-e", "-c", script, step=step, **kwargs)

    def write_file(
        self, path: str, data: bytes, *, mode: str, owner: str, group: str, step: str
    ) -> None:
        """Write through the chroot so symlinks in the tree resolve inside it, never on the host."""
        self.run(
            "/bin/sh", "-e", "-c",
            'mkdir -p "$(dirname "$1")"; cat > "$1"; chown "$2:$3" "$1"; chmod "$4" "$1"',
            "genpack-write", path, owner, group, mode,
            step=step, input_text=data,
        )  # fmt: skip
