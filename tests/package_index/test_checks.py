"""Names checked against the index: unknown per arch, sizes, systemd units to suggest."""

from __future__ import annotations

import pytest

from package_index.checks import (
    package_index_missing,
    package_name_suggestion,
    packages_installed,
    packages_size,
    packages_unknown,
    services_suggested,
    unit_shippers,
    units_shipped,
)
from package_index.models import Package
from package_index.store import package_index_update
from tests.package_index.conftest import BOTH, SUITE

pytestmark = pytest.mark.django_db


def test_unknown_names_are_listed_per_arch_and_virtual_packages_are_known(loaded: str) -> None:
    names = ["vim", "intel-microcode", "mail-transport-agent", "editor", "vim-nox", "-x"]

    unknown = packages_unknown(names=names, **BOTH)

    assert unknown == {"amd64": ["-x", "vim-nox"], "arm64": ["-x", "intel-microcode", "vim-nox"]}
    assert packages_unknown(names=["systemd-sysusers", "vim"], **BOTH) == {}


def test_names_are_not_refused_for_an_index_not_loaded_yet(mirror: str) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    assert package_index_missing(**BOTH) == ["bookworm/main/arm64"]
    assert packages_unknown(names=["nonsense"], **BOTH) == {"amd64": ["nonsense"]}


def test_size_is_the_sum_of_the_named_packages_per_arch(loaded: str) -> None:
    sizes = packages_size(names=["vim", "intel-microcode", "nonsense"], **BOTH)

    assert (sizes["amd64"].installed_kib, sizes["amd64"].download_bytes) == (
        3753 + 12668,
        1567392 + 7542496,
    )
    assert sizes["arm64"].installed_kib == 3753


def test_services_suggested_from_chosen_packages_without_templates(loaded: str) -> None:
    suggested = services_suggested(
        packages=["openssh-server", "unattended-upgrades", "vim"], suite=SUITE, arch="arm64"
    )

    assert suggested == ["ssh.service", "ssh.socket", "unattended-upgrades.service"]


def test_an_image_holds_the_names_their_dependencies_and_the_essential_set(loaded: str) -> None:
    Package.objects.create(
        suite=SUITE, component="main", arch="amd64", name="bash", version="5.2", essential=True
    )

    installed = packages_installed(
        names=["openssh-server", "nonsense"], suite=SUITE, arch="amd64", components=["main"]
    )

    # Depends and Pre-Depends, first alternatives only ("debconf (>= 0.5) | debconf-2.0").
    assert {"openssh-server", "openssh-client", "adduser", "debconf", "bash", "apt"} <= installed
    assert "debconf-2.0" not in installed and "xauth" not in installed  # xauth: a recommend
    assert "nonsense" in installed


def test_units_and_the_packages_that_ship_them(loaded: str) -> None:
    amd64 = {"suite": SUITE, "arch": "amd64", "components": ["main"]}

    assert {"ssh.service", "ssh.socket"} <= units_shipped(packages=["openssh-server"], **amd64)
    assert unit_shippers(unit="exim4.service", **amd64) == ["exim4-daemon-light"]
    assert unit_shippers(unit="frobnicator.service", **amd64) == []


def test_a_mistyped_name_gets_the_closest_package(loaded: str) -> None:
    amd64 = {"suite": SUITE, "arch": "amd64", "components": ["main"]}

    assert package_name_suggestion(name="opensh-server", **amd64) == "openssh-server"
    assert package_name_suggestion(name="vim-tinny", **amd64) == "vim-tiny"
    assert package_name_suggestion(name="notapkg-xyz", **amd64) is None
