"""Loading an index from the mirror into the database: verified, whole, skipped when unchanged."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from package_index.mirror import PackageIndexError
from package_index.models import Package, PackageIndexState
from package_index.search import package_search
from package_index.store import package_index_update, packages_index_all
from tests.harness import DEBIAN_DATA as DATA
from tests.harness import release_write
from tests.package_index.conftest import AMD64, SUITE

pytestmark = pytest.mark.django_db


def test_update_reads_every_package_once_with_its_fields(mirror: str) -> None:
    counts = package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    assert (counts.packages, counts.with_units, counts.unchanged) == (10, 4, False)
    vim = Package.objects.get(suite=SUITE, arch="amd64", name="vim")
    assert vim.version == "2:9.0.1378-2", "the first entry of a name listed twice wins"
    systemd = Package.objects.get(arch="amd64", name="systemd")
    assert systemd.summary == "system and service manager", "only the first Description line"
    assert (systemd.installed_size, systemd.size, systemd.section) == (9668, 3043940, "admin")
    assert systemd.provides == ["systemd-sysusers", "systemd-tmpfiles"]


def test_update_keeps_systemd_units_from_both_contents_files(mirror: str) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    def units(name: str) -> list[str]:
        return Package.objects.get(arch="amd64", name=name).units

    assert units("openssh-server") == ["ssh.service", "ssh.socket", "ssh@.service"]
    assert units("systemd") == [
        "getty@.service",
        "systemd-journald.socket",
        "systemd-networkd.service",
        "systemd-tmpfiles-clean.timer",
    ], "no user units, no .target, nothing from a path that merely contains the unit dir"
    assert units("exim4-daemon-light") == ["exim4.service"], "usr/lib and shared lines count"
    assert units("unattended-upgrades") == ["unattended-upgrades.service"], "from Contents-all"
    assert units("vim") == []


def test_update_records_the_release_and_skips_an_unchanged_mirror(mirror: str) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)
    state = PackageIndexState.objects.get(suite=SUITE, component="main", arch="amd64")
    assert (state.package_count, state.mirror) == (10, mirror)
    assert state.release_date.isoformat() == "2026-07-11T10:16:37+00:00"
    assert state.valid_until.isoformat() == "2026-07-18T10:16:37+00:00"

    again = package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)
    forced = package_index_update(
        suite=SUITE, component="main", arch="amd64", mirror=mirror, force=True
    )

    assert (again.unchanged, again.packages) == (True, 10)
    assert (forced.unchanged, forced.packages) == (False, 10)
    assert Package.objects.filter(arch="amd64").count() == 10


def test_a_new_mirror_state_replaces_the_rows(mirror: str, mirror_dists: Path) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)
    assert [hit.name for hit in package_search(query="neovim", **AMD64)] == ["neovim"]
    text = (DATA / "Packages").read_text().replace("Package: neovim", "Package: neovim-qt")
    (mirror_dists / "main" / "binary-amd64" / "Packages.xz").write_bytes(
        lzma.compress(text.encode())
    )
    release_write(mirror_dists)

    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    names = set(Package.objects.filter(arch="amd64").values_list("name", flat=True))
    assert "neovim-qt" in names
    assert "neovim" not in names
    assert [hit.name for hit in package_search(query="neovim", **AMD64)] == ["neovim-qt"], (
        "no search result cached from before the update"
    )


def test_a_file_that_differs_from_the_release_is_refused_and_the_old_index_kept(
    mirror: str, mirror_dists: Path
) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)
    packages = mirror_dists / "main" / "binary-amd64" / "Packages.xz"
    packages.write_bytes(lzma.compress(b"Package: intruder\nVersion: 1\n"))  # Release not updated

    with pytest.raises(PackageIndexError, match="SHA-256"):
        package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror, force=True)

    assert not Package.objects.filter(name="intruder").exists()
    assert Package.objects.filter(arch="amd64").count() == 10


def test_gzip_is_read_when_the_release_lists_no_xz(mirror: str, mirror_dists: Path) -> None:
    (mirror_dists / "main" / "binary-amd64" / "Packages.xz").unlink()
    release_write(mirror_dists)

    counts = package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    assert counts.packages == 10


def test_an_unreachable_or_missing_index_is_a_clear_error(mirror: str) -> None:
    with pytest.raises(PackageIndexError, match="no bookworm/contrib packages for amd64"):
        package_index_update(suite=SUITE, component="contrib", arch="amd64", mirror=mirror)
    with pytest.raises(PackageIndexError, match="HTTP 404"):
        package_index_update(suite="trixie", component="main", arch="amd64", mirror=mirror)


def test_index_all_reads_every_target_and_one_failure_stops_none(mirror: str) -> None:
    targets = [(SUITE, "main", "amd64"), (SUITE, "non-free-firmware", "amd64")]

    results = packages_index_all(targets=targets, mirror=mirror)

    assert [(r.component, r.arch) for r in results] == [
        ("main", "amd64"),
        ("non-free-firmware", "amd64"),
    ]
    assert results[0].packages == 10
    assert "non-free-firmware packages" in results[1].error
