"""The slow tests boot images with the product's QEMU harness (image_builder/qemu.py), the
one the worker's boot test uses; login() and run() there drive a shell over the serial
console with the test image's root password."""

from __future__ import annotations

from image_builder.qemu import (
    MACHINES,
    Arm64UefiVM,
    QemuTimeout,
    QemuVM,
    Raspi3VM,
    clean,
    dead_end,
    sd_card_copy,
)

__all__ = [
    "MACHINES",
    "Arm64UefiVM",
    "QemuTimeout",
    "QemuVM",
    "Raspi3VM",
    "clean",
    "dead_end",
    "sd_card_copy",
]
