"""Hardware profiles → package indexes: the daily task and the command load what profiles use."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from blueprints.package_lookup import package_index_targets
from blueprints.tasks import package_index_task
from hardware_profiles.models import HardwareProfile
from tests.harness import SUITE, security_mirror_url

pytestmark = pytest.mark.django_db


def test_targets_are_the_enabled_profiles_suites_components_and_arches(seeded: None) -> None:
    assert ("bookworm", "main", "arm64") in package_index_targets()
    assert ("bookworm-updates", "main", "arm64") in package_index_targets()
    assert ("bookworm-security", "main", "arm64") in package_index_targets()
    HardwareProfile.objects.filter(arch="arm64").update(enabled=False)

    assert {arch for _, _, arch in package_index_targets()} == {"amd64"}


def test_command_prints_counts_and_fails_on_a_missing_index(mirror: str) -> None:
    out = StringIO()
    call_command(
        "package_index", suite=SUITE, component="main", arch="amd64", mirror=mirror, stdout=out
    )
    assert "bookworm/main/amd64: 10 packages, 4 with systemd units" in out.getvalue()

    with pytest.raises(CommandError):
        call_command(
            "package_index",
            suite=SUITE,
            component="contrib",
            arch="amd64",
            mirror=mirror,
            stdout=StringIO(),
            stderr=StringIO(),
        )


def test_task_refreshes_from_the_configured_mirror(settings, seeded: None, mirror: str) -> None:
    settings.GENPACK_DEBIAN_MIRROR = mirror
    settings.GENPACK_DEBIAN_SECURITY_MIRROR = security_mirror_url(mirror)
    HardwareProfile.objects.filter(arch="arm64").update(enabled=False)

    results = package_index_task()

    # The fixture mirror has no update pockets: they fail like any missing index, and stop
    # none (tests/package_index/test_pockets.py loads them).
    assert [(r["suite"], r["component"], r["packages"], bool(r["error"])) for r in results] == [
        ("bookworm", "main", 10, False),
        ("bookworm", "non-free-firmware", 0, True),
        ("bookworm-security", "main", 0, True),
        ("bookworm-security", "non-free-firmware", 0, True),
        ("bookworm-updates", "main", 0, True),
        ("bookworm-updates", "non-free-firmware", 0, True),
    ]
