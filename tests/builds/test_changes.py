"""What changed between builds: packages (dpkg's version order), blueprint, sizes; the compare
view and the build page's "Changes since the previous release"."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.test import Client

from blueprints.models import Blueprint, BlueprintRevision
from builds import paths
from builds.changes import (
    ChangesRefusedError,
    PackageChange,
    build_packages,
    changes,
    previous_release,
)
from builds.models import Artifact, Build
from builds.services import ProducedFile, build_claim, build_enqueue, build_publish
from hardware_profiles.models import HardwareProfile
from image_builder import assemble
from image_builder.pipeline import manifest_data
from image_builder.spec import BuildSpec
from tests.factories import BlueprintFactory, BuildFactory, RevisionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

# Two package sets that differ in every way a compare view must tell apart. As text, "1.10-1"
# sorts before "1.2-1" and "1:0.9" before "2.0": only dpkg's order gets these right.
OLD_PACKAGES = {
    "bash": "5.2.15-2+b2",
    "libfoo1": "1.2-1",
    "tzdata": "2.0",
    "curl": "7.88.1-10+deb12u5",
    "rc-tool": "2.0~rc1-1",
    "telnet": "0.17+2.4-2",
}
NEW_PACKAGES = {
    "bash": "5.2.15-2+b2",
    "libfoo1": "1.10-1",
    "tzdata": "1:0.9",
    "curl": "7.88.1-10+deb12u4",
    "rc-tool": "2.0-1",
    "nginx-light": "1.22.1-9",
}


def _manifest(build: Build, packages: dict[str, str], images: list[tuple[str, Path]]) -> bytes:
    """manifest.json as the engine writes it (pipeline.manifest_data, assemble.write_manifest),
    each package with an installed size of 100 KiB."""
    artifacts = [
        assemble.Artifact(kind, path, path.stat().st_size, assemble.sha256_file(path))
        for kind, path in images
    ]
    data = manifest_data(
        BuildSpec.from_dict(build.spec),
        build_id=str(build.pk),
        fat_uuid="1234-ABCD",
        kernel_command_line="console=ttyS0",
        sources=["deb http://deb.debian.org/debian bookworm main"],
        packages={name: {"version": v, "installed_kib": "100"} for name, v in packages.items()},
        artifacts=artifacts,
        timings={"rootfs": 1.0},
    )
    target = images[0][1].parent / "manifest.json"
    return assemble.write_manifest(target, data).read_bytes()


def _publish(
    build: Build,
    *,
    packages: dict[str, str] | None,
    system_img: int = 4096,
    disk: int = 8192,
    manifest: bytes | None = None,
) -> Build:
    """Claim and publish `build` as the worker does: system.img and disk image of the given
    sizes, and a manifest listing `packages` (none when None; `manifest` bytes as given)."""
    assert build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    images = [("system-img", staging / "system.img"), ("disk-raw", staging / "kiosk.img")]
    for (_, path), size in zip(images, (system_img, disk), strict=True):
        path.write_bytes(b"\0" * size)
    names = [(kind, path.name) for kind, path in images]
    if packages is not None:
        _manifest(build, packages, images)
        names.append(("manifest", "manifest.json"))
    elif manifest is not None:
        (staging / "manifest.json").write_bytes(manifest)
        names.append(("manifest", "manifest.json"))
    files = []
    for kind, name in names:
        payload = (staging / name).read_bytes()
        files.append(ProducedFile(kind, name, len(payload), hashlib.sha256(payload).hexdigest()))
    assert build_publish(build_id=build.pk, staging=staging, files=files)
    return Build.objects.get(pk=build.pk)


def _built(
    revision: BlueprintRevision,
    packages: dict[str, str] | None = None,
    *,
    profile: HardwareProfile | None = None,
    released: bool = False,
    **sizes: int,
) -> Build:
    """A new succeeded build of `revision` (never a cache hit: a rebuild with the latest
    packages, as the Rebuild button makes), released if asked."""
    profile = profile or HardwareProfile.objects.get(slug="kvm-x86_64")
    queued = build_enqueue(revision=revision, profile=profile, requested_by=None, bypass_cache=True)
    build = _publish(queued, packages=packages, **sizes)
    if released:
        _release(build)
        build.refresh_from_db()
    return build


def _release(build: Build) -> None:
    """Offered to technicians. The row, not the release service: whether a build may be
    released (its boot test) is not what these tests are about, only what it is compared with."""
    assert Build.objects.filter(pk=build.pk, state=Build.State.SUCCEEDED).update(released=True)


def _rows(html: str, kind: str) -> list[tuple[str, ...]]:
    """The cells of the compare page's rows of one kind (added, removed, upgraded...)."""
    rows = re.findall(rf'<tr data-testid="{kind}">(.*?)</tr>', html, re.DOTALL)
    return [tuple(re.findall(r"<td[^>]*>(.*?)</td>", row)) for row in rows]


def _compare(client: Client, query: str) -> tuple[int, str]:
    response = client.get(f"/builds/compare/?{query}")
    return response.status_code, response.content.decode()


@pytest.fixture
def blueprint(seeded: None) -> Blueprint:
    return BlueprintFactory(name="kiosk")


@pytest.fixture
def two_builds(blueprint: Blueprint) -> tuple[Build, Build]:
    """r1 built with OLD_PACKAGES, then r2 (packages and version changed) with NEW_PACKAGES,
    a bigger system.img and a smaller disk image."""
    old = _built(blueprint.latest_revision, OLD_PACKAGES, system_img=4096, disk=8192)
    revision = RevisionFactory(
        blueprint=blueprint, changes={"packages": ["nginx-light"], "version": "2.0"}
    )
    new = _built(revision, NEW_PACKAGES, system_img=6144, disk=7168)
    return old, new


# --- the service -----------------------------------------------------------------------------


def test_packages_added_removed_upgraded_and_downgraded_in_dpkg_order(two_builds) -> None:
    old, new = two_builds

    result = changes(old=old, new=new)

    assert result.packages_missing == []
    assert result.added == [PackageChange("nginx-light", new="1.22.1-9")]
    assert result.removed == [PackageChange("telnet", old="0.17+2.4-2")]
    assert result.upgraded == [
        PackageChange("libfoo1", "1.2-1", "1.10-1"),
        PackageChange("rc-tool", "2.0~rc1-1", "2.0-1"),
        PackageChange("tzdata", "2.0", "1:0.9"),
    ]
    assert result.downgraded == [PackageChange("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u4")]
    assert result.package_count == 6


def test_swapped_builds_turn_upgrades_into_downgrades(two_builds) -> None:
    old, new = two_builds

    result = changes(old=new, new=old)

    assert [p.name for p in result.upgraded] == ["curl"]
    assert [p.name for p in result.downgraded] == ["libfoo1", "rc-tool", "tzdata"]
    assert result.added == [PackageChange("telnet", new="0.17+2.4-2")]


def test_blueprint_changes_between_the_revisions(two_builds) -> None:
    old, new = two_builds

    diffs = {diff.field: diff for diff in changes(old=old, new=new).blueprint}

    assert diffs["packages"].added == ["nginx-light"]
    assert diffs["version"].changed == [f'"{old.revision.data["version"]}" → "2.0"']
    assert not changes(old=old, new=new, include_blueprint=False).blueprint


def test_two_builds_of_one_revision_say_same_revision(blueprint: Blueprint) -> None:
    first = _built(blueprint.latest_revision, OLD_PACKAGES)
    second = _built(blueprint.latest_revision, NEW_PACKAGES)

    result = changes(old=first, new=second)

    assert result.same_revision
    assert result.blueprint == []
    assert [p.name for p in result.upgraded] == ["libfoo1", "rc-tool", "tzdata"]


def test_size_changes_of_system_img_disk_image_and_installed_packages(two_builds) -> None:
    old, new = two_builds

    sizes = {size.label: size for size in changes(old=old, new=new).sizes}

    assert (sizes["system.img (update file)"].old, sizes["system.img (update file)"].new) == (
        4096,
        6144,
    )
    assert sizes["system.img (update file)"].delta == 2048
    assert sizes["system.img (update file)"].percent == "+50.0 %"
    assert sizes["Disk image (.img)"].delta == -1024
    assert sizes["Disk image (.img)"].percent == "-12.5 %"
    # 6 packages of 100 KiB each on both sides.
    assert sizes["Installed packages"].delta == 0


def test_a_cache_hit_compares_with_its_source_files(blueprint: Blueprint) -> None:
    source = _built(blueprint.latest_revision, OLD_PACKAGES)
    # The same spec again (a new revision that changes only system.ini defaults): a cache hit.
    revision = RevisionFactory(blueprint=blueprint, changes={"system_ini": {"hostname": "kiosk-2"}})
    hit = build_enqueue(revision=revision, profile=source.profile, requested_by=None)
    assert hit.cache_hit_of_id == source.pk

    assert build_packages(hit).packages.versions == OLD_PACKAGES
    result = changes(old=source, new=hit)
    assert result.same_files and result.package_count == 0
    assert [size.delta for size in result.sizes] == [0, 0, 0]
    assert [diff.field for diff in result.blueprint] == ["system_ini"]


def test_secret_system_ini_defaults_are_masked(blueprint: Blueprint, product_manager) -> None:
    RevisionFactory(
        blueprint=blueprint,
        changes={"system_ini": {"wifi_ssid": "shop", "wifi_key": "OldWifiKey1"}},
    )
    old = _built(blueprint.latest_revision, OLD_PACKAGES)
    revision = RevisionFactory(
        blueprint=blueprint,
        changes={"system_ini": {"wifi_ssid": "shop", "wifi_key": "NewWifiKey2"}},
    )
    new = _built(revision, OLD_PACKAGES)

    changed = changes(old=old, new=new).blueprint
    status, html = _compare(product_manager, f"a={old.pk}&b={new.pk}")

    assert [diff.field for diff in changed] == ["system_ini"]
    assert changed[0].changed == ["wifi_key: ******** → ********"]
    assert status == 200
    assert "wifi_key" in html
    assert "OldWifiKey1" not in html and "NewWifiKey2" not in html


def test_builds_of_different_boards_are_refused(seeded: None) -> None:
    boards = list(HardwareProfile.objects.filter(slug__in=["kvm-x86_64", "pc-x86_64"]))
    blueprint = BlueprintFactory(name="two-boards", targets=boards)
    kvm_build = _built(blueprint.latest_revision, OLD_PACKAGES, profile=boards[0])
    pc_build = _built(blueprint.latest_revision, NEW_PACKAGES, profile=boards[1])

    with pytest.raises(ChangesRefusedError, match="different boards"):
        changes(old=kvm_build, new=pc_build)


def test_builds_of_different_blueprints_are_refused(blueprint: Blueprint) -> None:
    mine = _built(blueprint.latest_revision, OLD_PACKAGES)
    foreign = _built(BlueprintFactory(name="other").latest_revision, OLD_PACKAGES)

    with pytest.raises(ChangesRefusedError, match="same blueprint"):
        changes(old=foreign, new=mine)


def test_builds_without_a_package_list_say_why(blueprint: Blueprint) -> None:
    listed = _built(blueprint.latest_revision, OLD_PACKAGES)
    failed = BuildFactory(revision=RevisionFactory(blueprint=blueprint), state=Build.State.FAILED)
    no_manifest = _built(blueprint.latest_revision, None)
    broken = _publish(
        build_enqueue(
            revision=blueprint.latest_revision,
            profile=listed.profile,
            requested_by=None,
            bypass_cache=True,
        ),
        packages=None,
        manifest=b'{"spec": {"name": "kiosk"}, "packages": ',
    )
    gone = _built(blueprint.latest_revision, OLD_PACKAGES)
    gone_path = paths.artifacts_root() / gone.artifacts.get(kind=Artifact.Kind.MANIFEST).path
    gone_path.unlink()

    reasons = {
        build.pk: build_packages(build).missing for build in (failed, no_manifest, broken, gone)
    }
    assert "failed" in reasons[failed.pk]
    assert "no manifest" in reasons[no_manifest.pk]
    assert "cannot be read" in reasons[broken.pk]
    assert "cannot be read" in reasons[gone.pk]
    result = changes(old=failed, new=listed)
    assert result.packages_missing == [
        f"Build #{failed.pk} has no package list: it failed, so it published no manifest."
    ]
    assert result.added == result.removed == result.upgraded == []


# --- the compare view ------------------------------------------------------------------------


def test_compare_page_shows_exactly_the_changed_packages(two_builds, product_manager) -> None:
    old, new = two_builds

    status, html = _compare(product_manager, f"a={old.pk}&b={new.pk}")

    assert status == 200
    assert _rows(html, "added") == [("nginx-light", "1.22.1-9")]
    assert _rows(html, "removed") == [("telnet", "0.17+2.4-2")]
    assert _rows(html, "upgraded") == [
        ("libfoo1", "1.2-1", "1.10-1"),
        ("rc-tool", "2.0~rc1-1", "2.0-1"),
        ("tzdata", "2.0", "1:0.9"),
    ]
    assert _rows(html, "downgraded") == [("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u4")]
    assert "bash" not in html  # unchanged packages are not listed
    assert "1 added, 1 removed, 3 upgraded, 1 downgraded." in html
    assert "+ added <code>nginx-light</code>" in html  # the blueprint's own change
    assert html.count('data-testid="size-change"') == 3
    assert "+2.0\xa0KB" in html and "(+50.0 %)" in html
    # The form offers the blueprint's builds, with these two chosen.
    assert f'<option value="{old.pk}" selected>' in html
    assert f'<option value="{new.pk}" selected>' in html


def test_compare_with_one_build_uses_its_previous_release(two_builds, product_manager) -> None:
    old, new = two_builds
    _release(old)

    status, html = _compare(product_manager, f"b={new.pk}")

    assert status == 200
    assert f"Build #{old.pk} is the previous release" in html
    assert _rows(html, "added") == [("nginx-light", "1.22.1-9")]


def test_compare_a_failed_build_says_no_package_list(blueprint, product_manager) -> None:
    listed = _built(blueprint.latest_revision, OLD_PACKAGES)
    failed = BuildFactory(revision=RevisionFactory(blueprint=blueprint), state=Build.State.FAILED)

    status, html = _compare(product_manager, f"a={listed.pk}&b={failed.pk}")

    assert status == 200
    assert f"Build #{failed.pk} has no package list: it failed" in html
    assert 'data-testid="upgraded"' not in html


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "Open a build"),
        ("a=abc&b={new}", 400, "“abc” is not a build number."),
        ("a={old}&b=1.5", 400, "“1.5” is not a build number."),
        ("a=-1&b={new}", 400, "is not a build number"),
        ("a=²&b={new}", 400, "is not a build number"),
        ("a=%00&b={new}", 400, "is not a build number"),
        ("a={old}&b=999999", 404, "There is no build #999999 that you can see."),
        ("a={old}&b=" + "9" * 40, 404, "that you can see"),
        ("a={old}&a=zzz&b={new}", 400, "is not a build number"),  # the last value counts
        ("b=" + "x" * 5000, 400, "is not a build number"),
    ],
)
def test_bad_compare_addresses_get_a_clear_message(
    two_builds, product_manager, query: str, status: int, message: str
) -> None:
    old, new = two_builds

    got, html = _compare(product_manager, query.format(old=old.pk, new=new.pk))

    assert got == status
    assert message in html


def test_compare_builds_of_another_blueprint_is_refused(two_builds, product_manager) -> None:
    old, _ = two_builds
    foreign = _built(BlueprintFactory(name="other").latest_revision, OLD_PACKAGES)

    status, html = _compare(product_manager, f"a={foreign.pk}&b={old.pk}")

    assert status == 400
    assert "only builds of the same blueprint can be compared" in html
    assert 'data-testid="compare-form"' in html


def test_compare_builds_of_different_boards_is_refused(seeded: None, product_manager) -> None:
    boards = list(HardwareProfile.objects.filter(slug__in=["kvm-x86_64", "pc-x86_64"]))
    blueprint = BlueprintFactory(name="two-boards", targets=boards)
    first = _built(blueprint.latest_revision, OLD_PACKAGES, profile=boards[0])
    second = _built(blueprint.latest_revision, NEW_PACKAGES, profile=boards[1])

    status, html = _compare(product_manager, f"a={first.pk}&b={second.pk}")

    assert status == 400
    assert "only builds for the same board are compared" in html


def test_first_build_has_nothing_to_compare_with(blueprint, product_manager) -> None:
    only = _built(blueprint.latest_revision, OLD_PACKAGES)

    status, html = _compare(product_manager, f"b={only.pk}")

    assert status == 200
    assert "There is no earlier succeeded build of kiosk" in html
    assert "Choose a build…" in html


def test_technician_cannot_compare_unreleased_builds(two_builds, technician) -> None:
    old, new = two_builds
    _release(new)

    status, html = _compare(technician, f"a={old.pk}&b={new.pk}")

    assert status == 404
    assert f"There is no build #{old.pk} that you can see." in html


def test_technician_compares_releases_without_the_blueprint(two_builds, technician) -> None:
    old, new = two_builds
    _release(old)
    _release(new)
    unreleased = _built(new.revision, NEW_PACKAGES)

    status, html = _compare(technician, f"a={old.pk}&b={new.pk}")

    assert status == 200
    assert _rows(html, "added") == [("nginx-light", "1.22.1-9")]
    assert "<h2>Blueprint</h2>" not in html  # blueprint changes are for blueprint readers
    assert "nginx-light</code>" not in html
    # The form offers only what a technician may see.
    offered = set(map(int, re.findall(r'<option value="(\d+)"', html)))
    assert offered == {old.pk, new.pk}
    assert unreleased.pk not in offered


def test_compare_needs_the_view_build_permission(two_builds, outsider, anonymous) -> None:
    old, new = two_builds
    query = f"a={old.pk}&b={new.pk}"

    assert _compare(outsider, query)[0] == 403
    assert anonymous.get(f"/builds/compare/?{query}").status_code in (302, 403)


def test_compare_form_lists_succeeded_builds_of_the_blueprint_only(
    two_builds, product_manager
) -> None:
    old, new = two_builds
    failed = BuildFactory(
        revision=RevisionFactory(blueprint=old.revision.blueprint), state=Build.State.FAILED
    )
    foreign = _built(BlueprintFactory(name="other").latest_revision, OLD_PACKAGES)

    html = _compare(product_manager, f"a={old.pk}&b={new.pk}")[1]

    offered = set(map(int, re.findall(r'<option value="(\d+)"', html)))
    assert offered == {old.pk, new.pk}
    assert failed.pk not in offered and foreign.pk not in offered


# --- previous release, and the build page ----------------------------------------------------


def test_previous_release_is_the_newest_earlier_release_of_that_board(product_manager) -> None:
    boards = list(HardwareProfile.objects.filter(slug__in=["kvm-x86_64", "pc-x86_64"]))
    kvm, pc = sorted(boards, key=lambda board: board.slug != "kvm-x86_64")
    blueprint = BlueprintFactory(name="kiosk", targets=boards)
    revision = blueprint.latest_revision
    pm = product_manager.user
    older_release = _built(revision, OLD_PACKAGES, released=True)
    release = _built(revision, OLD_PACKAGES, released=True)
    _built(revision, OLD_PACKAGES)  # succeeded, not released
    BuildFactory(revision=RevisionFactory(blueprint=blueprint), state=Build.State.FAILED)
    _built(blueprint.latest_revision, OLD_PACKAGES, profile=pc, released=True)  # another board
    this = _built(blueprint.latest_revision, NEW_PACKAGES)
    _built(blueprint.latest_revision, NEW_PACKAGES, released=True)  # later

    assert previous_release(this, pm) == (release, True)
    assert previous_release(release, pm) == (older_release, True)
    assert previous_release(older_release, pm) == (None, False)
    assert kvm.pk == this.profile_id


def test_without_a_release_the_previous_succeeded_build_is_used(blueprint, product_manager):
    first = _built(blueprint.latest_revision, OLD_PACKAGES)
    BuildFactory(revision=RevisionFactory(blueprint=blueprint), state=Build.State.FAILED)
    this = _built(blueprint.latest_revision, NEW_PACKAGES)

    assert previous_release(this, product_manager.user) == (first, False)
    html = product_manager.get(f"/builds/{this.pk}/").content.decode()
    assert "Changes since the previous build" in html
    assert f"No earlier release for {this.profile.name}: compared with" in html
    assert f"/builds/compare/?a={first.pk}&amp;b={this.pk}" in html


def test_build_page_shows_changes_since_the_previous_release(two_builds, product_manager):
    old, new = two_builds
    _release(old)
    _release(new)

    html = product_manager.get(f"/builds/{new.pk}/").content.decode()

    assert html.count('data-testid="changes-since"') == 1
    assert "Changes since the previous release" in html
    assert f"build #{old.pk}</a> (r{old.revision.number}), the previous release" in html
    assert "Packages: 1 added, 1 removed, 3 upgraded, 1 downgraded." in html
    assert "changed: Packages, Version." in html
    assert "system.img (update file): <span" in html and "+2.0\xa0KB" in html
    assert f"/builds/compare/?a={old.pk}&amp;b={new.pk}" in html


def test_technician_build_page_compares_with_the_previous_release_only(two_builds, technician):
    old, new = two_builds
    _release(new)

    html = technician.get(f"/builds/{new.pk}/").content.decode()
    assert "Nothing earlier to compare with: this is the first release of kiosk" in html
    assert f"a={old.pk}" not in html

    _release(old)
    html = technician.get(f"/builds/{new.pk}/").content.decode()
    assert "Packages: 1 added, 1 removed, 3 upgraded, 1 downgraded." in html
    assert 'data-testid="changes-blueprint"' not in html


def test_build_page_of_a_build_without_manifest_says_no_package_list(blueprint, product_manager):
    first = _built(blueprint.latest_revision, None)
    this = _built(blueprint.latest_revision, OLD_PACKAGES)

    response = product_manager.get(f"/builds/{this.pk}/")

    assert response.status_code == 200
    assert f"Build #{first.pk} has no package list" in response.content.decode()


def test_unfinished_builds_have_no_changes_section(blueprint, product_manager) -> None:
    _built(blueprint.latest_revision, OLD_PACKAGES)
    running = BuildFactory(revision=RevisionFactory(blueprint=blueprint), state=Build.State.RUNNING)

    html = product_manager.get(f"/builds/{running.pk}/").content.decode()

    assert 'data-testid="changes-since"' not in html
