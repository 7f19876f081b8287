"""Plain words for the engine's steps and for durations (builds/presenting.py)."""

from __future__ import annotations

import pytest

from builds.presenting import PHASES, duration_text, phase_label
from image_builder import bootchain, customize, rootfs, trim
from image_builder.pipeline import STEPS


@pytest.mark.parametrize(
    "step",
    [*STEPS, rootfs.STEP, customize.STEP, customize.FILES_STEP, bootchain.STEP, trim.STEP,
     "services", "metadata"],
)  # fmt: skip
def test_every_step_the_engine_names_has_a_plain_name(step: str) -> None:
    assert phase_label(step) in PHASES.values()  # not the name itself, capitalised


def test_the_builders_main_phases_read_as_a_product_manager_would_say_them() -> None:
    assert [phase_label(step) for step in ("rootfs", "customize", "squashfs", "disk")] == [
        "Installing packages",
        "Configuring",
        "Packing the system image",
        "Writing the disk image",
    ]
    assert phase_label("setup command 3") == "Running setup commands"
    assert phase_label("pack") == "Pack"  # a stand-in engine's step, shown as it is


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (42.4, "42 s"), (60, "1 min"), (200, "3 min 20 s"), (754, "12 min"),
     (3600, "1 h"), (3900, "1 h 5 min"), (-5, "0 s")],
)  # fmt: skip
def test_durations_read_as_minutes_and_seconds(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
