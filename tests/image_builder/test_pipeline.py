"""The order of the build: a blueprint's files reach the tree after every command run in it.

A real chroot needs a built tree (minutes of mmdebstrap), so this drives the real pipeline over
a small skeleton tree and stands in only for what needs one: the chroot (commands are recorded,
with what the tree held at that moment), the debootstrap step, the package list and mksquashfs
(which ends the build once it has seen the tree). Everything else runs for real.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from image_builder import BuildSpec, EngineOptions, pipeline
from image_builder.chroot import Chroot
from image_builder.runner import CommandResult

from .conftest import RecordingReporter, minimal_spec_data

KERNEL = "6.1.0-test-amd64"
PRODUCT_FILE = "/etc/kiosk/kiosk.conf"
PRODUCT_UNIT = "/etc/systemd/system/kiosk.service"
BUILD_FILE = "/usr/local/sbin/prepare-kiosk"
UNIT = "[Service]\nExecStart=/usr/bin/true\n[Install]\nWantedBy=multi-user.target\n"


class RecordingChroot(Chroot):
    """Runs nothing: records each command and which blueprint files the tree held then."""

    commands: list[tuple[tuple[str, ...], dict[str, bool]]] = []

    def run(self, *command: str, step: str, **kwargs) -> CommandResult:
        present = {
            path: (self.root / path.lstrip("/")).exists()
            for path in (PRODUCT_FILE, PRODUCT_UNIT, BUILD_FILE)
        }
        RecordingChroot.commands.append((command, present))
        return CommandResult(list(command), 0, 0.0)


class TreePacked(Exception):
    pass


def skeleton_rootfs(
    spec: BuildSpec, root: Path, options: EngineOptions, runner, **boot_scheme_parts: object
) -> None:
    """What mmdebstrap leaves that the later steps read: accounts, a kernel, the ssh unit."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nkiosk:x:4321:4321::/:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nkiosk:x:4321:\n")
    (root / f"usr/lib/modules/{KERNEL}").mkdir(parents=True)
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/ssh.service").write_text(UNIT)
    (root / "boot").mkdir()
    (root / f"boot/vmlinuz-{KERNEL}").write_bytes(b"kernel")
    (root / f"boot/initrd.img-{KERNEL}").write_bytes(b"initrd")


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="needs the host's systemctl")
@pytest.mark.skipif(os.geteuid() != 0, reason="files get the tree's owner ids: needs root")
def test_product_files_are_written_last_without_running_the_chroot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BuildSpec.from_dict(
        {
            **minimal_spec_data(),
            "services": ["ssh", "kiosk.service"],
            "files": [
                {"path": PRODUCT_FILE, "content": "url=https://example.com\n", "owner": "kiosk"},
                {"path": PRODUCT_UNIT, "content": UNIT},
            ],
            "build_files": [{"path": BUILD_FILE, "content": "#!/bin/sh\n", "mode": "0755"}],
            "setup_commands": [BUILD_FILE],
        }
    )
    seen: dict[str, object] = {}

    def pack(spec: BuildSpec, root: Path, output: Path, runner) -> None:
        conf = root / PRODUCT_FILE.lstrip("/")
        seen["conf"] = conf.read_text()
        seen["owner"] = (conf.stat().st_uid, conf.stat().st_gid)
        seen["wants"] = (
            root / "etc/systemd/system/multi-user.target.wants/kiosk.service"
        ).is_symlink()
        sbom = json.loads((root / ".genpack/sbom.spdx.json").read_text())
        seen["sbom"] = sbom["packages"][0]["name"]
        raise TreePacked

    RecordingChroot.commands = []
    monkeypatch.setattr(pipeline, "Chroot", RecordingChroot)
    monkeypatch.setattr(pipeline.rootfs, "build_rootfs", skeleton_rootfs)
    monkeypatch.setattr(pipeline.assemble, "installed_packages", lambda root, runner: {})
    monkeypatch.setattr(pipeline.assemble, "make_squashfs", pack)
    packed_initramfs: list[str] = []

    def make_initramfs(root: Path, version: str, *args) -> int:
        (root / "boot/initramfs").write_bytes(b"initramfs")
        packed_initramfs.append(version)
        return 0

    monkeypatch.setattr(pipeline.initramfs, "make_initramfs", make_initramfs)

    with pytest.raises(TreePacked):
        pipeline.build(
            spec,
            workdir=tmp_path / "work",
            outdir=tmp_path / "out",
            options=EngineOptions(build_id="order-test"),
            reporter=RecordingReporter(),
        )

    commands = RecordingChroot.commands
    names = [command[0] for command, _ in commands]
    assert "systemctl" in names  # the steps that run the tree
    # The initramfs is packed on the host from the tree, never by the tree's update-initramfs.
    assert packed_initramfs == [KERNEL] and "update-initramfs" not in names
    # The build file was there for the setup command; the product's files never were there
    # while a program of the tree ran.
    setup = next(present for command, present in commands if command[-1] == BUILD_FILE)
    assert setup[BUILD_FILE] is True
    assert all(not present[PRODUCT_FILE] and not present[PRODUCT_UNIT] for _, present in commands)
    # The product's unit is enabled by the host's systemctl --root, not in the chroot.
    enable = next(command for command, _ in commands if command[:2] == ("systemctl", "enable"))
    assert "ssh.service" in enable and "kiosk.service" not in enable
    # At packing time the files are there, owned by the tree's kiosk user, the unit enabled.
    # ...and the SBOM is in the image's /.genpack beside the other metadata.
    assert seen == {
        "conf": "url=https://example.com\n",
        "owner": (4321, 4321),
        "wants": True,
        "sbom": "minimal",
    }
