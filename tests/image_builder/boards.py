"""One blueprint, every board: the minimal blueprint merged with each seeded hardware profile
the way the web does it (blueprints.buildspec.buildspec_for), for the per-board slow tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blueprints.buildspec import buildspec_for
from hardware_profiles.models import HardwareProfile
from hardware_profiles.seed import SEED_PROFILES
from image_builder import BuildSpec

DATA = Path(__file__).parent / "data"
PC, KVM, ARM64, RPI = "pc-x86_64", "kvm-x86_64", "arm64-uefi", "rpi-arm64"
BOARDS = (PC, KVM, ARM64, RPI)
BLUEPRINT_KEYS = ("name", "version", "description", "packages", "services", "users")


def minimal_blueprint() -> dict[str, Any]:
    """The blueprint part of data/minimal.json: openssh-server and a root password."""
    spec = json.loads((DATA / "minimal.json").read_text())
    blueprint = {key: spec[key] for key in BLUEPRINT_KEYS if key in spec}
    blueprint["description"] = "openssh-server and a root password, for every board"
    blueprint["services"] = [unit.removesuffix(".service") for unit in blueprint["services"]]
    return blueprint


def seeded_profile(slug: str) -> HardwareProfile:
    """The profile as seeded, unsaved: no database needed."""
    fields = next(dict(item) for item in SEED_PROFILES if item["slug"] == slug)
    return HardwareProfile(**fields)


def board_spec(slug: str) -> BuildSpec:
    return buildspec_for(minimal_blueprint(), seeded_profile(slug))
