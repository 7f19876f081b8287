"""Tiny real disk images for tests that need a partition table and a FAT boot partition."""

from __future__ import annotations

import subprocess
from pathlib import Path

ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


def small_disk_image(directory: Path, name: str = "disk.img") -> Path:
    """A 40 MiB GPT image with a FAT32 ESP at 1 MiB, laid out like the engine's images."""
    fat = directory / f"{name}.fat"
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-C", str(fat), str(34 * 1024)], check=True, capture_output=True
    )
    image = directory / name
    with image.open("wb") as handle:
        handle.truncate(40 * 2**20)
    layout = f"label: gpt\nstart=2048, size=69632, type={ESP}\n"
    subprocess.run(["sfdisk", "-q", str(image)], input=layout.encode(), check=True)
    subprocess.run(
        ["dd", f"if={fat}", f"of={image}", "bs=1M", "seek=1", "conv=notrunc", "status=none"],
        check=True,
    )
    fat.unlink()
    return image
