"""Reading and writing the FAT boot partition of a finished raw image, without mounting it.

Used at download time (per-device system.ini, no rebuild) and by the boot tests (reading the
status file the device wrote). mtools addresses the partition by byte offset (`image@@offset`).

write_system_ini() changes the image file in place. Callers that serve the same image to
several people must pass a private copy (cp --reflink=auto or a sparse copy), never the
published artifact; copy_image() does that.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from appliance.system_ini import STATUS_FILE_NAME, parse_status_report

ESP_TYPES = {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EF", "C", "B", "E"}
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


class ImageError(RuntimeError):
    pass


def boot_partition_offset(image: Path) -> int:
    """Byte offset of the first FAT/ESP partition, from `sfdisk --json`."""
    result = subprocess.run(
        ["sfdisk", "--json", str(image)], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise ImageError(f"{image}: no partition table ({result.stderr.strip()})")
    table = json.loads(result.stdout)["partitiontable"]
    sector_size = table.get("sectorsize", 512)
    for partition in table.get("partitions", []):
        if str(partition.get("type", "")).upper() in ESP_TYPES:
            return int(partition["start"]) * sector_size
    raise ImageError(f"{image}: no FAT boot partition in the partition table")


def _mtools(args: list[str], image: Path) -> bytes:
    target = f"{image}@@{boot_partition_offset(image)}"
    command = [args[0], "-i", target, *args[1:]]
    result = subprocess.run(command, capture_output=True, env=MTOOLS_ENV, timeout=120)
    if result.returncode != 0:
        raise ImageError(f"{' '.join(args[:1])} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def write_boot_file(image: Path, name: str, data: bytes) -> None:
    """Create or replace a file in the root of the boot partition."""
    with tempfile.NamedTemporaryFile(prefix="genpack-", suffix="-" + name) as handle:
        handle.write(data)
        handle.flush()
        _mtools(["mcopy", "-o", handle.name, f"::{name}"], image)


def read_boot_file(image: Path, name: str) -> bytes | None:
    try:
        return _mtools(["mtype", f"::{name}"], image)
    except ImageError as error:
        if "not found" in str(error).lower():
            return None
        raise


def delete_boot_file(image: Path, name: str) -> bool:
    """Remove a file from the root of the boot partition; False if it was not there."""
    try:
        _mtools(["mdel", f"::{name}"], image)
    except ImageError as error:
        if "not found" in str(error).lower():
            return False
        raise
    return True


def write_system_ini(image: Path, text: str | bytes) -> None:
    """Replace system.ini in a raw image (in place: pass a copy, see module docstring).

    `text` as str is written UTF-8 with CRLF kept as given; bytes are written unchanged
    (tests use that to store exactly what Notepad would, UTF-16 with BOM).
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    write_boot_file(Path(image), "system.ini", data)


def read_status(image: Path) -> dict | None:
    """The status file the device wrote at its last boot, parsed; None if it never wrote one."""
    raw = read_boot_file(Path(image), STATUS_FILE_NAME)
    return None if raw is None else parse_status_report(raw)


def copy_image(source: Path, target: Path) -> Path:
    """A private, sparse copy of a published image to personalise."""
    subprocess.run(
        ["cp", "--sparse=always", "--reflink=auto", str(source), str(target)], check=True
    )
    return target


__all__ = [
    "ImageError",
    "boot_partition_offset",
    "copy_image",
    "delete_boot_file",
    "read_boot_file",
    "read_status",
    "write_boot_file",
    "write_system_ini",
]
