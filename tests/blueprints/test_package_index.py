"""The package index: read from a mirror over HTTP (a local one), searched, used to check names."""

from __future__ import annotations

import functools
import gzip
import hashlib
import lzma
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from blueprints.models import Package, PackageIndexState
from blueprints.package_index import (
    PackageIndexError,
    contents_units,
    package_index_missing,
    package_index_targets,
    package_index_update,
    package_search,
    packages_index_all,
    packages_size,
    packages_unknown,
    provides_parse,
    release_parse,
    services_suggested,
)
from blueprints.tasks import package_index_task
from hardware_profiles.models import HardwareProfile

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent.parent / "data" / "debian"
SUITE = "bookworm"
BOTH = {"suite": SUITE, "arches": ["amd64", "arm64"], "components": ["main"]}
AMD64 = {"suite": SUITE, "arches": ["amd64"], "components": ["main"]}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _arm64_packages(text: str) -> str:
    """The same archive for arm64, less the one package that exists only on PCs."""
    stanzas = text.strip().split("\n\n")
    return "\n\n".join(s for s in stanzas if "Package: intel-microcode\n" not in s) + "\n"


def _release(dists: Path) -> None:
    """A Release file listing every index file's SHA-256, as the archive software writes it."""
    lines = [f"Origin: Debian\nSuite: oldstable\nCodename: {SUITE}"]
    lines += ["Date: Sat, 11 Jul 2026 10:16:37 UTC", "Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC"]
    lines += ["Architectures: amd64 arm64", "Components: main", "SHA256:"]
    for path in sorted(p for p in dists.rglob("*") if p.is_file() and p.name != "Release"):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        lines.append(f" {digest} {len(data):8} {path.relative_to(dists)}")
    (dists / "Release").write_text("\n".join(lines) + "\n")


def _mirror_tree(root: Path) -> Path:
    dists = root / "debian" / "dists" / SUITE
    packages = (DATA / "Packages").read_text()
    for arch, text in (("amd64", packages), ("arm64", _arm64_packages(packages))):
        binary = dists / "main" / f"binary-{arch}"
        binary.mkdir(parents=True)
        (binary / "Packages.xz").write_bytes(lzma.compress(text.encode()))
        (binary / "Packages.gz").write_bytes(gzip.compress(text.encode()))
    contents = gzip.compress((DATA / "Contents-amd64").read_bytes())
    for arch in ("amd64", "arm64"):
        (dists / "main" / f"Contents-{arch}.gz").write_bytes(contents)
    (dists / "main" / "Contents-all.gz").write_bytes(
        gzip.compress((DATA / "Contents-all").read_bytes())
    )
    _release(dists)
    return dists


@pytest.fixture(autouse=True)
def _no_cached_searches() -> None:
    cache.clear()


@pytest.fixture
def mirror_dists(tmp_path: Path) -> Path:
    return _mirror_tree(tmp_path)


@pytest.fixture
def mirror(mirror_dists: Path) -> Iterator[str]:
    """The fixture archive served over real HTTP on 127.0.0.1, as a Debian mirror."""
    root = mirror_dists.parent.parent.parent
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian"
    server.shutdown()
    server.server_close()


@pytest.fixture
def loaded(mirror: str) -> str:
    for arch in ("amd64", "arm64"):
        package_index_update(suite=SUITE, component="main", arch=arch, mirror=mirror)
    return mirror


# --- reading the mirror ----------------------------------------------------------------------


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
    _release(mirror_dists)

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
    _release(mirror_dists)

    counts = package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    assert counts.packages == 10


def test_an_unreachable_or_missing_index_is_a_clear_error(mirror: str) -> None:
    with pytest.raises(PackageIndexError, match="no bookworm/contrib packages for amd64"):
        package_index_update(suite=SUITE, component="contrib", arch="amd64", mirror=mirror)
    with pytest.raises(PackageIndexError, match="HTTP 404"):
        package_index_update(suite="trixie", component="main", arch="amd64", mirror=mirror)


def test_index_all_reads_what_enabled_profiles_use_and_one_failure_stops_none(
    seeded: None, mirror: str
) -> None:
    HardwareProfile.objects.filter(arch="arm64").update(enabled=False)

    results = packages_index_all(mirror=mirror)

    assert [(r.component, r.arch) for r in results] == [
        ("main", "amd64"),
        ("non-free-firmware", "amd64"),
    ]
    assert results[0].packages == 10
    assert "non-free-firmware packages" in results[1].error


def test_targets_are_the_enabled_profiles_suites_components_and_arches(seeded: None) -> None:
    assert ("bookworm", "main", "arm64") in package_index_targets()
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
    HardwareProfile.objects.filter(arch="arm64").update(enabled=False)

    results = package_index_task()

    assert [(r["component"], r["packages"], bool(r["error"])) for r in results] == [
        ("main", 10, False),
        ("non-free-firmware", 0, True),
    ]


# --- parsing ---------------------------------------------------------------------------------


def test_provides_drops_versions_and_arch_qualifiers() -> None:
    assert provides_parse("foo (= 1.0), bar:any,baz ,") == ["bar", "baz", "foo"]


def test_release_parse_reads_dates_and_hashes() -> None:
    release = release_parse(
        "Date: Sat, 11 Jul 2026 10:16:37 UTC\nSHA256:\n abc 12 main/binary-amd64/Packages.xz\n"
    )
    assert release.valid_until is None
    assert release.sha256 == {"main/binary-amd64/Packages.xz": ("abc", 12)}


def test_contents_units_survive_any_block_boundary() -> None:
    text = (DATA / "Contents-amd64").read_bytes()
    expected = contents_units([text])
    for cut in range(0, len(text), 37):
        # Blocks always end at a line end (see _verified_blocks): split like that.
        head_end = text.rfind(b"\n", 0, cut) + 1
        assert contents_units([text[:head_end], text[head_end:]]) == expected


# --- search ----------------------------------------------------------------------------------


def test_search_ranks_exact_then_prefix_then_substring_then_summary(loaded: str) -> None:
    names = [hit.name for hit in package_search(query="vim", **AMD64)]

    assert names[:4] == ["vim", "vim-tiny", "vim-runtime", "neovim"]
    assert names[4:] == [], "summaries that mention vim belong to packages already listed"


def test_search_finds_summary_words_in_any_order(loaded: str) -> None:
    assert [hit.name for hit in package_search(query="ssh server", **AMD64)] == ["openssh-server"]
    assert [hit.name for hit in package_search(query="SERVER secure", **AMD64)] == [
        "openssh-server"
    ]


def test_search_returns_size_summary_and_the_arches_that_have_it(loaded: str) -> None:
    hits = {hit.name: hit for hit in package_search(query="intel-micro", **BOTH)}
    vim = package_search(query="vim", **BOTH)[0]

    assert hits["intel-microcode"].arches == ("amd64",)
    assert (vim.name, vim.arches, vim.installed_size, vim.size) == (
        "vim",
        ("amd64", "arm64"),
        3753,
        1567392,
    )
    assert vim.summary == "Vi IMproved - enhanced vi editor"


def test_search_respects_limit_and_ignores_blank_or_unknown_scope(loaded: str) -> None:
    assert len(package_search(query="v", limit=2, **AMD64)) == 2
    assert package_search(query="   ", **AMD64) == []
    assert package_search(query="vim", suite="trixie", arches=["amd64"], components=["main"]) == []


def test_search_short_text_looks_at_name_starts_only(loaded: str) -> None:
    """One or two letters match half the archive inside names and summaries: only prefixes."""
    assert [hit.name for hit in package_search(query="ss", **AMD64)] == []
    assert [hit.name for hit in package_search(query="ssh", **AMD64)] == [
        "openssh-server",
        "python3-sshtunnel",
    ], "names containing the text, shortest first"


# --- validation, sizes, services -------------------------------------------------------------


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
