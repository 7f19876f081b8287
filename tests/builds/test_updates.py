""" "N updates available (M security)": a build's manifest against the archive's current
versions in bookworm, bookworm-updates and bookworm-security (the fake mirror over HTTP, the
security pocket in its own archive), and the rebuild that installs them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blueprints.tasks import package_index_task
from builds.models import Build
from builds.services import build_enqueue, build_release
from builds.updates import PackageUpdate, build_updates
from builds.worker import engine_command
from hardware_profiles.models import HardwareProfile
from image_builder import rootfs
from image_builder.cli import parse_args
from image_builder.options import EngineOptions
from image_builder.spec import BuildSpec
from package_index.models import Package, PackageIndexState
from package_index.store import package_index_update
from tests.factories import BuildFactory
from tests.harness import SUITE, pocket_tree, security_mirror_url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

OPENSSH_OLD, OPENSSH_SECURITY = "1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u4"
SYSTEMD_OLD, SYSTEMD_UPDATES = "252.30-1~deb12u2", "252.31-1~deb12u1"
VIM = "2:9.0.1378-2"
# The Release `Date` of every index of the fake mirror (tests/harness.py release_write).
INDEX_DATE = "11 Jul 2026 10:16 UTC"


@pytest.fixture
def pockets(settings, seeded: None, mirror: str, mirror_dists: Path) -> None:
    """The daily update has read bookworm, bookworm-updates (a newer systemd) and
    bookworm-security (a newer openssh-server, from its own archive) for the KVM profile."""
    root = mirror_dists.parent.parent.parent
    pocket_tree(root, pocket="security", versions={"openssh-server": OPENSSH_SECURITY})
    pocket_tree(root, pocket="updates", versions={"systemd": SYSTEMD_UPDATES})
    settings.GENPACK_DEBIAN_MIRROR = mirror
    settings.GENPACK_DEBIAN_SECURITY_MIRROR = security_mirror_url(mirror)
    HardwareProfile.objects.exclude(slug="kvm-x86_64").update(enabled=False)
    assert not any(result["error"] for result in package_index_task())


def built_with_manifest(packages: dict[str, str], *, released: bool = True) -> Build:
    """A succeeded build whose manifest lists `packages` (name → installed version)."""
    manifest = {"spec": {"name": "kiosk"}, "packages": packages}
    build = BuildFactory(
        state=Build.State.SUCCEEDED,
        boot_test_state="passed",
        files=[
            ("disk-raw", "kiosk.img", b"image"),
            ("manifest", "manifest.json", json.dumps(manifest).encode()),
        ],
    )
    if released:
        assert build_release(build=build)
    return build


def _page(client: Client, build: Build) -> str:
    response = client.get(f"/builds/{build.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _rows(page: str) -> list[list[str]]:
    table = re.search(r'<table class="updates-list".*?<tbody>(.*?)</tbody>', page, re.S)
    assert table, "no list of updates"
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    ]


OLD = {"openssh-server": OPENSSH_OLD, "systemd": SYSTEMD_OLD, "vim": VIM, "neovim": "0.7.2-7"}


def test_a_released_build_shows_its_updates_security_first(
    pockets: None, technician: Client
) -> None:
    build = built_with_manifest(
        {**OLD, "libc-local-only": "1.0"}
    )  # a package the index lacks: skipped

    page = _page(technician, build)

    assert 'data-testid="updates-badge">2 updates available (1 security)</span>' in page
    assert _rows(page) == [
        ["openssh-server", OPENSSH_OLD, OPENSSH_SECURITY, "security"],
        ["systemd", SYSTEMD_OLD, SYSTEMD_UPDATES, "stable updates"],
    ]
    assert f"in the archive as of {INDEX_DATE}" in page


def test_a_cache_hit_shows_the_updates_of_the_build_it_reuses(
    pockets: None, product_manager: Client
) -> None:
    source = built_with_manifest(OLD, released=False)
    hit = build_enqueue(revision=source.revision, profile=source.profile, requested_by=None)
    assert hit.cache_hit_of == source

    assert "2 updates available (1 security)" in _page(product_manager, hit)


def test_an_up_to_date_build_shows_no_badge(pockets: None, technician: Client) -> None:
    build = built_with_manifest(
        {**OLD, "openssh-server": OPENSSH_SECURITY, "systemd": SYSTEMD_UPDATES}
    )

    page = _page(technician, build)

    assert "updates-badge" not in page and "updates available" not in page
    assert f"Up to date with the archive as of {INDEX_DATE}." in page
    assert "updates-rebuild" not in page


def test_before_the_pockets_are_loaded_the_page_says_so(
    seeded: None, mirror: str, product_manager: Client
) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)
    build = built_with_manifest(OLD)

    page = _page(product_manager, build)

    assert "updates-badge" not in page
    note = re.search(r'data-testid="updates-not-loaded">(.*?)</p>', page, re.S)
    assert note, "no note"
    assert "Updates cannot be checked yet" in note.group(1)
    assert "bookworm-updates/main/amd64, bookworm-security/main/amd64" in note.group(1)


def test_a_build_without_a_package_list_shows_nothing(pockets: None, technician: Client) -> None:
    # The test engine's files, no manifest.
    build = BuildFactory(state=Build.State.SUCCEEDED, boot_test_state="passed")
    assert build_release(build=build)

    assert 'id="build-updates"' not in _page(technician, build)


def test_technicians_get_no_rebuild_button_and_cannot_rebuild(
    pockets: None, technician: Client
) -> None:
    build = built_with_manifest(OLD)

    assert "updates-rebuild" not in _page(technician, build)
    assert technician.post(f"/builds/{build.pk}/rebuild/").status_code == 403
    assert Build.objects.count() == 1


def test_rebuild_leads_to_a_new_build_that_skips_the_cache(
    pockets: None, product_manager: Client
) -> None:
    build = built_with_manifest(OLD)
    page = _page(product_manager, build)
    form = re.search(
        r'<form method="post" action="([^"]+)">[^<]*<input[^>]*csrfmiddlewaretoken[^>]*>'
        r'<button[^>]*data-testid="updates-rebuild"[^>]*>Rebuild with the latest packages<',
        page,
    )
    assert form, "no rebuild form in the updates section"

    response = product_manager.post(form.group(1))

    new = Build.objects.exclude(pk=build.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/builds/{new.pk}/"
    assert (new.state, new.cache_hit_of, new.spec_hash) == (
        Build.State.QUEUED,
        None,
        build.spec_hash,
    )


def _list_queries(client: Client) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/builds/")
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_the_builds_list_marks_released_builds_with_updates_in_a_few_queries(
    pockets: None, product_manager: Client
) -> None:
    outdated = built_with_manifest(OLD)
    built_with_manifest(OLD, released=False)
    built_with_manifest({**OLD, "openssh-server": OPENSSH_SECURITY, "systemd": SYSTEMD_UPDATES})

    page, queries = _list_queries(product_manager)

    badges = re.findall(
        r'<a class="badge[^"]*" href="([^"]+)" data-testid="list-updates">([^<]+)<', page
    )
    assert badges == [(f"/builds/{outdated.pk}/#build-updates", "2 updates (1 security)")]
    for _ in range(3):
        built_with_manifest(OLD)
    page, more_queries = _list_queries(product_manager)
    assert page.count('data-testid="list-updates"') == 4
    assert more_queries == queries, "the list's queries grow with its released builds"


# --- Debian version ordering ---------------------------------------------------------------


def _index(rows: dict[str, dict[str, str]]) -> None:
    """Every index loaded, holding `rows`: suite → {name: version}."""
    for suite in (SUITE, f"{SUITE}-updates", f"{SUITE}-security"):
        PackageIndexState.objects.create(
            suite=suite,
            component="main",
            arch="amd64",
            mirror="http://m",
            updated_at=datetime(2026, 7, 11, tzinfo=UTC),
        )
        for name, version in rows.get(suite, {}).items():
            Package.objects.create(
                suite=suite, component="main", arch="amd64", name=name, version=version
            )


def test_versions_compare_as_debian_orders_them(seeded: None) -> None:
    _index(
        {
            SUITE: {
                "epoch": "2.0-1",  # below 1:1.0-1: the epoch wins
                "tilde": "1.0",  # above 1.0~rc1: ~ sorts before the empty string
                "numeric": "1.10-1",  # above 1.9-1: digits compare as numbers
                "backport": "5.0-1~deb12u1",  # below 5.0-1
                "same": "3.0-1",
                "older": "0.9-1",
            },
            f"{SUITE}-security": {"same": "3.0-1", "tilde": "1.0", "older": "0.9-2"},
            f"{SUITE}-updates": {"numeric": "1.10-1"},
        }
    )
    build = built_with_manifest(
        {
            "epoch": "1:1.0-1",
            "tilde": "1.0~rc1",
            "numeric": "1.9-1",
            "backport": "5.0-1",
            "same": "3.0-1",
            "older": "1.0-1",
        }
    )

    updates = build_updates(build=build)

    assert updates is not None and updates.checked
    assert list(updates.updates) == [
        # The same version in the release and the security pocket is a security fix.
        PackageUpdate("tilde", "1.0~rc1", "1.0", "security"),
        PackageUpdate("numeric", "1.9-1", "1.10-1", "updates"),
    ]
    assert updates.security_count == 1


def test_a_point_release_newer_than_the_pockets_is_listed_as_such(seeded: None) -> None:
    _index(
        {SUITE: {"tzdata": "2026a-0+deb12u1"}, f"{SUITE}-updates": {"tzdata": "2025b-0+deb12u1"}}
    )
    updates = build_updates(build=built_with_manifest({"tzdata": "2025b-0+deb12u1"}))

    assert updates is not None
    assert list(updates.updates) == [
        PackageUpdate("tzdata", "2025b-0+deb12u1", "2026a-0+deb12u1", "")
    ]


# --- what a rebuild installs ------------------------------------------------------------------


def test_the_builder_installs_from_the_archives_the_index_reads(
    pockets: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker hands the engine the index's mirrors; the engine's apt sources are those
    (the host lists -updates and -security, as this one does)."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://host.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://host.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n"
    )
    monkeypatch.setattr(rootfs, "SOURCES_DIR", sources)
    build = built_with_manifest(OLD)
    (tmp_path / "work").mkdir(exist_ok=True)

    argv = engine_command(build, tmp_path / "work", tmp_path / "out", tmp_path / "system.ini")
    args = parse_args(argv[3:])
    options = EngineOptions(mirror=args.mirror, security_mirror=args.security_mirror)
    lines = rootfs.sources_lines(BuildSpec.from_dict(build.spec).normalise(), options)

    mirror = django_settings.GENPACK_DEBIAN_MIRROR
    security = dict(PackageIndexState.objects.values_list("suite", "mirror"))[f"{SUITE}-security"]
    assert security == django_settings.GENPACK_DEBIAN_SECURITY_MIRROR
    assert lines == [
        f"deb {mirror} bookworm main",
        f"deb {mirror} bookworm-updates main",
        f"deb {security} bookworm-security main",
    ]
