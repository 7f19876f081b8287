"""The update pockets: bookworm-updates on the mirror, bookworm-security in its own archive,
loaded by the daily update as suites of their own; search and pre-flight never see them."""

from __future__ import annotations

from pathlib import Path

import pytest

from blueprints.package_lookup import package_search_for, package_summary
from blueprints.preflight import target_content_check
from blueprints.tasks import package_index_task
from hardware_profiles.models import HardwareProfile
from package_index.checks import packages_size, packages_unknown, services_suggested
from package_index.models import Package, PackageIndexState
from package_index.search import package_search
from tests.factories import BlueprintFactory
from tests.harness import SUITE, pocket_tree, security_mirror_url
from tests.package_index.conftest import AMD64

pytestmark = pytest.mark.django_db

OPENSSH_SECURITY = "1:9.2p1-2+deb12u4"
SYSTEMD_UPDATES = "252.31-1~deb12u1"


@pytest.fixture
def pockets(settings, seeded: None, mirror: str, mirror_dists: Path) -> str:
    """The fixture mirror with both pockets, the settings pointing at it, only the KVM
    profile enabled (amd64, main); the daily update run once. Returns the security URL."""
    root = mirror_dists.parent.parent.parent
    pocket_tree(root, pocket="security", versions={"openssh-server": OPENSSH_SECURITY})
    pocket_tree(root, pocket="updates", versions={"systemd": SYSTEMD_UPDATES})
    settings.GENPACK_DEBIAN_MIRROR = mirror
    settings.GENPACK_DEBIAN_SECURITY_MIRROR = security_mirror_url(mirror)
    HardwareProfile.objects.exclude(slug="kvm-x86_64").update(enabled=False)
    results = package_index_task()
    assert [(r["suite"], r["error"]) for r in results] == [
        (SUITE, ""),
        (f"{SUITE}-security", ""),
        (f"{SUITE}-updates", ""),
    ]
    return settings.GENPACK_DEBIAN_SECURITY_MIRROR


def test_the_daily_update_loads_each_pocket_from_its_own_archive(pockets: str, mirror: str) -> None:
    mirrors = dict(PackageIndexState.objects.values_list("suite", "mirror"))
    assert mirrors == {
        SUITE: mirror,
        f"{SUITE}-updates": mirror,
        f"{SUITE}-security": pockets,
    }
    assert pockets.endswith("/debian-security") and pockets != mirror
    rows = Package.objects.filter(name__in=["openssh-server", "systemd"], arch="amd64")
    assert sorted(rows.values_list("suite", "name", "version")) == [
        (SUITE, "openssh-server", "1:9.2p1-2+deb12u3"),
        (SUITE, "systemd", "252.30-1~deb12u2"),
        (f"{SUITE}-security", "openssh-server", OPENSSH_SECURITY),
        (f"{SUITE}-updates", "systemd", SYSTEMD_UPDATES),
    ]


def test_the_security_pocket_is_not_read_from_the_debian_mirror(
    settings, pockets: str, mirror: str
) -> None:
    """The mirror has no dists/bookworm-security: a wrong URL would be an error, not rows."""
    settings.GENPACK_DEBIAN_SECURITY_MIRROR = mirror
    results = package_index_task()

    security = next(r for r in results if r["suite"] == f"{SUITE}-security")
    assert "HTTP 404" in security["error"]


def test_search_lists_each_package_once_at_the_releases_version(pockets: str) -> None:
    hits = package_search(query="openssh-server", **AMD64)
    assert [(hit.name, hit.version) for hit in hits] == [("openssh-server", "1:9.2p1-2+deb12u3")]

    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    names = [hit.name for hit in package_search_for(query="systemd", targets=[kvm])]
    assert names.count("systemd") == 1


def test_checks_and_preflight_read_the_release_only(pockets: str) -> None:
    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    base = Package.objects.get(suite=SUITE, arch="amd64", name="openssh-server")

    sizes = packages_size(names=["openssh-server"], **AMD64)["amd64"]
    assert (sizes.installed_kib, sizes.download_bytes) == (base.installed_size, base.size)
    assert package_summary(packages=["openssh-server"], targets=[kvm])["loaded"] is True
    assert packages_unknown(names=["openssh-server", "nosuch"], **AMD64) == {"amd64": ["nosuch"]}
    assert services_suggested(packages=["openssh-server"], suite=SUITE, arch="amd64") == sorted(
        unit for unit in base.units if "@." not in unit
    )

    data = BlueprintFactory(packages=["openssh-server"]).latest_revision.data
    check = target_content_check({**data, "packages": ["openssh-server", "openssh-servr"]}, kvm)
    assert check.loading == []
    assert [problem.message for problem in check.problems] == [
        "“openssh-servr” is not a package of Debian bookworm for amd64. "
        "Did you mean “openssh-server”?"
    ]
