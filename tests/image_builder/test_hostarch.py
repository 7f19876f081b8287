"""What a host can build: its own architecture, and arm64 on x86 only when arm64 programs run."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from image_builder.hostarch import binfmt_enabled, buildable_architectures, native_architecture


def _binfmt(tmp_path: Path, *, status: str = "enabled", entry: str | None = "enabled") -> Path:
    """A binfmt_misc directory as the kernel shows it, with a qemu-aarch64 entry in `entry`."""
    directory = tmp_path / "binfmt_misc"
    directory.mkdir()
    (directory / "status").write_text(f"{status}\n")
    if entry is not None:
        (directory / "qemu-aarch64").write_text(
            f"{entry}\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"
        )
    return directory


def _arch_test(tmp_path: Path, exit_code: int) -> str:
    """A stand-in for Debian's arch-test that answers with `exit_code` and notes its argument."""
    script = tmp_path / "arch-test"
    script.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/asked"\nexit {exit_code}\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "arm64"), ("riscv64", None)],
)
def test_the_native_architecture_is_named_the_debian_way(machine: str, arch: str | None) -> None:
    assert native_architecture(machine) == arch


def test_an_x86_host_with_working_qemu_user_builds_arm64_too(tmp_path: Path) -> None:
    found = buildable_architectures(
        machine="x86_64", binfmt_dir=_binfmt(tmp_path), arch_test=_arch_test(tmp_path, 0)
    )

    assert found == ["amd64", "arm64"]
    assert (tmp_path / "asked").read_text().split() == ["arm64"]


@pytest.mark.parametrize(
    "binfmt",
    [
        {"entry": "disabled"},  # update-binfmts --disable qemu-aarch64
        {"entry": None},  # qemu-user-static not installed
        {"status": "disabled"},  # binfmt_misc switched off as a whole
    ],
)
def test_no_arm64_without_an_enabled_binfmt_entry(tmp_path: Path, binfmt: dict) -> None:
    found = buildable_architectures(
        machine="x86_64", binfmt_dir=_binfmt(tmp_path, **binfmt), arch_test=_arch_test(tmp_path, 0)
    )

    assert found == ["amd64"]


def test_no_arm64_when_arch_test_cannot_run_an_arm64_program(tmp_path: Path) -> None:
    found = buildable_architectures(
        machine="x86_64", binfmt_dir=_binfmt(tmp_path), arch_test=_arch_test(tmp_path, 2)
    )

    assert found == ["amd64"]


def test_without_arch_test_the_binfmt_entry_decides(tmp_path: Path) -> None:
    found = buildable_architectures(
        machine="x86_64", binfmt_dir=_binfmt(tmp_path), arch_test=str(tmp_path / "not-installed")
    )

    assert found == ["amd64", "arm64"]


def test_an_arm64_host_builds_arm64_only(tmp_path: Path) -> None:
    found = buildable_architectures(
        machine="aarch64", binfmt_dir=_binfmt(tmp_path), arch_test=_arch_test(tmp_path, 0)
    )

    assert found == ["arm64"]
    assert not (tmp_path / "asked").exists()  # nothing foreign to try


def test_a_missing_binfmt_misc_mount_reads_as_disabled(tmp_path: Path) -> None:
    assert not binfmt_enabled("qemu-aarch64", tmp_path / "not-mounted")


def test_this_machine_builds_at_least_its_own_architecture() -> None:
    native = native_architecture(platform.machine())
    if native is None:
        pytest.skip(f"the builder knows no Debian architecture for {platform.machine()}")

    assert buildable_architectures()[0] == native
