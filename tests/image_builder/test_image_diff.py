"""image_diff on real squashfs images (mksquashfs of small trees): what counts as a
difference, and what only records the build's time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from image_builder import image_diff

pytestmark = pytest.mark.skipif(not shutil.which("mksquashfs"), reason="needs squashfs-tools")


def squash(tree: Path, image: Path) -> Path:
    subprocess.run(["mksquashfs", str(tree), str(image), "-noappend", "-quiet", "-no-progress"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return image


def tree(root: Path, *, stamp: str = "1", tool_mode: int = 0o755, motd: str = "hi\n") -> Path:
    (root / ".genpack").mkdir(parents=True)
    (root / ".genpack/timestamp").write_text(stamp)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_text("#!/bin/sh\n")
    (root / "usr/bin/tool").chmod(tool_mode)
    (root / "etc").mkdir()
    (root / "etc/motd").write_text(motd)
    (root / "bin").symlink_to("usr/bin")
    return root


def diff(tmp_path: Path, **second) -> image_diff.ImageDiff:
    first = squash(tree(tmp_path / "a"), tmp_path / "a.img")
    other = squash(tree(tmp_path / "b", **second), tmp_path / "b.img")
    return image_diff.compare(first, other, tmp_path / "work")


def test_identical_trees_differ_in_nothing(tmp_path: Path) -> None:
    result = diff(tmp_path)
    assert result.files == 3 and result.beyond() == [] and result.differing == []


def test_a_time_record_is_allowed_to_differ(tmp_path: Path) -> None:
    result = diff(tmp_path, stamp="2026-12-02T05:00:00Z")
    assert result.differing == ["/.genpack/timestamp"] and result.beyond() == []


def test_contents_and_modes_are_differences(tmp_path: Path) -> None:
    assert diff(tmp_path / "c", motd="ho\n").beyond() == ["/etc/motd"]  # same size
    modes = diff(tmp_path / "m", tool_mode=0o4755).beyond()
    assert len(modes) == 2 and all("/usr/bin/tool" in row for row in modes)
    assert any(row.startswith("-rwsr-xr-x") for row in modes)
