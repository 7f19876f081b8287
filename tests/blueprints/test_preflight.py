"""Pre-flight (issue 12): mistakes a build would hit are refused on every write path, each at
its field or line with a suggestion, all at once; the blueprint page says per target whether it
can build, and a build that would fail is never queued.

The package index is the fixture archive (tests/data/debian) loaded from the fake mirror.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.test import Client

from blueprints.models import Blueprint
from blueprints.services import blueprint_update
from builds.hosts import build_host_announce
from builds.models import Build
from hardware_profiles.models import HardwareProfile
from package_index.models import Package, PackageIndexState
from package_index.store import package_index_update
from tests.blueprints.conftest import section_post
from tests.factories import BlueprintFactory
from tests.harness import SUITE

pytestmark = pytest.mark.django_db

KVM = "kvm-x86_64"


@pytest.fixture
def index(mirror: str) -> str:
    """bookworm/main for amd64 and arm64, plus python3 (the fixture archive lacks it), as the
    daily update loads them."""
    for arch in ("amd64", "arm64"):
        package_index_update(suite=SUITE, component="main", arch=arch, mirror=mirror)
        Package.objects.create(
            suite=SUITE, component="main", arch=arch, name="python3", version="3.11.2-1+b1"
        )
    return mirror


@pytest.fixture
def data_dirs(settings, tmp_path: Path) -> None:
    """Work dirs of this test only, and no disk-space guard (as tests/builds/conftest.py)."""
    settings.GENPACK_WORK_DIR = tmp_path / "work"
    settings.GENPACK_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.GENPACK_MIN_FREE_BYTES = 0
    settings.GENPACK_BASE_CACHE_MAX_BYTES = 0


@pytest.fixture
def hosts(db: None) -> None:
    """Only an amd64 build host is online."""
    build_host_announce(name="pc@x86", architectures=["amd64"], queues=["celery", "amd64"])


def _latest(blueprint: Blueprint) -> int:
    blueprint.refresh_from_db()
    return blueprint.latest_revision.number


def _errors(response) -> list[str]:
    """The form's error messages as a person reads them."""
    form = response.context["form"]
    return [message for messages in form.errors.values() for message in messages]


def _json5(packages: str, services: str = "[]") -> str:
    return (
        "{\n"
        '  name: "kiosk",\n'
        f'  targets: ["{KVM}"],\n'
        f"  packages: {packages},\n"
        f"  services: {services},\n"
        "}\n"
    )


def test_json5_editor_refuses_unknown_packages_each_with_its_line_and_a_suggestion(
    product_manager: Client, index: str
) -> None:
    blueprint = BlueprintFactory(name="kiosk")
    source = _json5('[\n    "vim",\n    "pyhton3",\n    "notapkg-xyz",\n  ]')

    response = product_manager.post(
        "/blueprints/kiosk/edit/json5/", {"source": source, "based_on": _latest(blueprint)}
    )

    assert response.status_code == 200
    assert _errors(response) == [
        "line 6: “pyhton3” is not a package of Debian bookworm for amd64. Did you mean “python3”?",
        "line 7: “notapkg-xyz” is not a package of Debian bookworm for amd64. "
        "Check the spelling in Packages.",
    ]
    assert _latest(blueprint) == 1


def test_json5_editor_shows_every_problem_at_once(product_manager: Client, index: str) -> None:
    blueprint = BlueprintFactory(name="kiosk")
    source = _json5('["dev-lang/python", "notapkg-xyz"]', '["frobnicator", "not a unit!"]')

    response = product_manager.post(
        "/blueprints/kiosk/edit/json5/", {"source": source, "based_on": _latest(blueprint)}
    )

    errors = _errors(response)
    assert [error.split(":", 1)[0] for error in errors] == ["line 4", "line 5", "line 4", "line 5"]
    assert "Gentoo package atom" in errors[0] and "perhaps “python3”" in errors[0]
    assert "not a systemd unit name" in errors[1]
    assert "“notapkg-xyz” is not a package" in errors[2]
    assert "provides “frobnicator.service”" in errors[3]
    assert _latest(blueprint) == 1


def test_import_refuses_unknown_packages_and_units_with_their_lines(
    product_manager: Client, index: str
) -> None:
    source = _json5('["pyhton3", "notapkg-xyz"]', '["frobnicator"]')

    response = product_manager.post("/blueprints/import/", {"source": source})

    assert response.status_code == 200
    assert _errors(response) == [
        "line 4: “pyhton3” is not a package of Debian bookworm for amd64. Did you mean “python3”?",
        "line 4: “notapkg-xyz” is not a package of Debian bookworm for amd64. "
        "Check the spelling in Packages.",
        "line 5: No package of Debian bookworm for amd64 in this image provides "
        "“frobnicator.service”. Check the name, or add its unit file in Files "
        "(/etc/systemd/system/frobnicator.service).",
    ]
    assert not Blueprint.objects.exists()


def test_services_section_refuses_a_unit_no_package_provides_at_the_field(
    product_manager: Client, index: str
) -> None:
    blueprint = BlueprintFactory(name="kiosk")

    response = section_post(product_manager, blueprint, "services", {"name": "frobnicator"})

    page = html.unescape(response.content.decode())
    field = page.split('id="id_service_name"', 1)[0].rsplit("<label", 1)[-1]
    assert "No package of Debian bookworm for amd64 in this image provides" in page
    assert "“frobnicator.service”" in field  # beside the field, not only at the top
    assert _latest(blueprint) == 1


def test_packages_section_suggests_the_name_meant_at_the_field(
    product_manager: Client, index: str
) -> None:
    blueprint = BlueprintFactory(name="kiosk")

    response = section_post(product_manager, blueprint, "packages", {"name": "pyhton3"})

    page = html.unescape(response.content.decode())
    field = page.split('id="id_package_name"', 1)[0].rsplit("<form", 1)[1]
    assert "“pyhton3” is not a package of Debian bookworm for amd64. Did you mean “python3”?" in (
        field
    )
    assert _latest(blueprint) == 1


def test_a_unit_a_setup_command_may_write_is_not_refused_on_a_guess(index: str) -> None:
    blueprint = BlueprintFactory(name="kiosk")

    revision = blueprint_update(
        blueprint=blueprint,
        changes={
            "setup_commands": ["printf '[Service]\\n' > /etc/systemd/system/sensor.service"],
            "services": ["sensor"],
        },
        message="setup",
        author=None,
        based_on=1,
    )

    assert revision.number == 2


def test_a_unit_of_a_package_not_chosen_names_the_package_to_add(
    product_manager: Client, index: str
) -> None:
    blueprint = BlueprintFactory(name="kiosk")

    refused = section_post(product_manager, blueprint, "services", {"name": "ssh"})
    section_post(product_manager, blueprint, "packages", {"name": "openssh-server"})
    added = section_post(product_manager, blueprint, "services", {"name": "ssh"})

    assert (
        "“ssh.service” comes with the package openssh-server, which this blueprint does not "
        "install for amd64: add openssh-server in Packages."
    ) in html.unescape(refused.content.decode())
    assert "Saved: Added service ssh" in added.content.decode()
    blueprint.refresh_from_db()
    assert blueprint.latest_revision.data["services"] == ["ssh"]


def test_removing_the_package_a_service_needs_is_refused(
    product_manager: Client, index: str
) -> None:
    blueprint = BlueprintFactory(name="kiosk", packages=["openssh-server"])
    section_post(product_manager, blueprint, "services", {"name": "ssh"})

    response = section_post(product_manager, blueprint, "packages", {"remove": "openssh-server"})

    assert "“ssh.service” comes with the package openssh-server" in html.unescape(
        response.content.decode()
    )
    blueprint.refresh_from_db()
    assert blueprint.latest_revision.data["packages"] == ["openssh-server"]


def test_units_the_builder_dependencies_or_the_blueprints_files_provide_are_accepted(
    index: str, seeded: None
) -> None:
    # A package whose unit comes with its dependency, as nginx's comes with nginx-core.
    for name, depends, units in (
        ("webapp", ["webapp-core"], []),
        ("webapp-core", [], ["web.service"]),
    ):
        Package.objects.create(
            suite=SUITE, component="main", arch="amd64", name=name, version="1",
            depends=depends, units=units,
        )  # fmt: skip
    blueprint = BlueprintFactory(name="kiosk", packages=["webapp"])

    revision = blueprint_update(
        blueprint=blueprint,
        changes={
            # systemd (the builder's own package), genpack-agent (the builder's own unit),
            # webapp-core (a dependency), and a unit file the blueprint writes.
            "services": ["systemd-networkd", "genpack-agent", "web", "kiosk", "getty@tty1"],
            "files": [{"path": "/etc/systemd/system/kiosk.service", "content": "[Unit]\n"}],
        },
        message="services",
        author=None,
        based_on=2,
    )

    assert revision.number == 3


def test_adding_a_target_without_a_package_is_refused_at_the_targets_field(
    product_manager: Client, index: str
) -> None:
    blueprint = BlueprintFactory(name="kiosk", packages=["intel-microcode"])

    response = section_post(
        product_manager, blueprint, "targets", {"targets": ["kvm-x86_64", "arm64-uefi"]}
    )

    page = html.unescape(response.content.decode())
    assert "“intel-microcode” is not a package of Debian bookworm for arm64." in page
    assert _latest(blueprint) == 2


def test_restoring_a_revision_with_an_unknown_package_is_refused(
    product_manager: Client, mirror: str, seeded: None
) -> None:
    # Saved while the package list was still loading, then fixed.
    blueprint = BlueprintFactory(name="kiosk", packages=["notapkg-xyz"])
    for arch in ("amd64", "arm64"):
        package_index_update(suite=SUITE, component="main", arch=arch, mirror=mirror)
    section_post(product_manager, blueprint, "packages", {"remove": "notapkg-xyz"})

    response = product_manager.post("/blueprints/kiosk/restore/2/", {"based_on": 3}, follow=True)

    messages = [str(message) for message in response.context["messages"]]
    assert any("“notapkg-xyz” is not a package of Debian bookworm" in m for m in messages)
    assert _latest(blueprint) == 3


def test_a_problem_saved_earlier_does_not_stop_other_changes(
    product_manager: Client, mirror: str, seeded: None
) -> None:
    blueprint = BlueprintFactory(name="kiosk", packages=["notapkg-xyz"])
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    response = section_post(product_manager, blueprint, "basics", {"description": "Kiosk"})

    assert "Saved: Changed basics" in response.content.decode()


# --- The blueprint page and the build button ------------------------------------------------


def _buttons(page: str) -> dict[str, bool]:
    found = {}
    for chunk in page.split('<input type="hidden" name="profile" value="')[1:]:
        slug = chunk.split('"', 1)[0]
        found[slug] = "disabled" not in chunk.split("<button", 1)[1].split(">", 1)[0]
    return found


def _preflight(page: str) -> str:
    return html.unescape(page.split('data-testid="preflight"', 1)[1].split("</section>", 1)[0])


def _preflight_of(page: str, slug: str) -> str:
    """One target's line of the summary, as text."""
    item = _preflight(page).split(f'data-testid="preflight-{slug}">', 1)[1]
    item = item.split('data-testid="preflight-', 1)[0].rsplit("<li", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", item).split())


@pytest.mark.usefixtures("hosts", "data_dirs")
def test_a_unit_nobody_provides_disables_the_button_and_is_never_queued(
    product_manager: Client, mirror: str, seeded: None
) -> None:
    # Saved before the index was loaded (nothing could be checked then).
    blueprint = BlueprintFactory(name="kiosk")
    blueprint_update(
        blueprint=blueprint,
        changes={"services": ["frobnicator"]},
        message="services",
        author=None,
        based_on=1,
    )
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    page = product_manager.get("/blueprints/kiosk/").content.decode()
    response = product_manager.post("/builds/start/kiosk/", {"profile": KVM}, follow=True)

    assert _buttons(page) == {KVM: False}
    assert "Cannot build yet" in _preflight(page)
    assert "provides “frobnicator.service”" in _preflight(page)
    assert "Fix in Services" in _preflight(page)
    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1
    assert "provides “frobnicator.service”" in messages[0]
    assert "The build was not queued" in messages[0]
    assert not Build.objects.exists()


@pytest.mark.usefixtures("hosts", "data_dirs")
def test_an_arm64_target_with_no_build_host_is_refused_before_queueing(
    product_manager: Client, index: str, seeded: None
) -> None:
    targets = list(HardwareProfile.objects.filter(slug__in=[KVM, "arm64-uefi"]))
    BlueprintFactory(name="kiosk", targets=targets, packages=["vim"])

    page = product_manager.get("/blueprints/kiosk/").content.decode()
    response = product_manager.post("/builds/start/kiosk/", {"profile": "arm64-uefi"}, follow=True)

    assert _buttons(page) == {KVM: True, "arm64-uefi": False}
    assert _preflight_of(page, KVM) == "KVM / QEMU guest x86_64 : Ready to build"
    assert _preflight_of(page, "arm64-uefi") == (
        "Generic ARM64 (UEFI) : Cannot build yet No build host for arm64 is online."
    )
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "Generic ARM64 (UEFI): No build host for arm64 is online. The build was not queued: "
        "start a build worker that can build arm64 (an ARM64 machine, or an x86-64 one with "
        "qemu-user-static enabled), then try again."
    ]
    assert not Build.objects.exists()


@pytest.mark.usefixtures("hosts", "data_dirs")
def test_an_unknown_package_saved_earlier_is_refused_at_build_time(
    product_manager: Client, mirror: str, seeded: None
) -> None:
    BlueprintFactory(name="kiosk", packages=["pyhton3"])
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    response = product_manager.post("/builds/start/kiosk/", {"profile": KVM}, follow=True)

    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1 and "“pyhton3” is not a package of Debian bookworm" in messages[0]
    assert not Build.objects.exists()


@pytest.mark.usefixtures("hosts")
def test_while_the_package_list_is_loading_preflight_says_so_and_does_not_block(
    product_manager: Client, seeded: None
) -> None:
    BlueprintFactory(name="kiosk", packages=["notapkg-xyz"])

    page = product_manager.get("/blueprints/kiosk/").content.decode()

    assert _buttons(page) == {KVM: True}
    assert "Ready to build" in _preflight(page)
    assert "package list loading…" in _preflight(page)


def test_an_index_loaded_before_dependencies_were_kept_is_read_again(mirror: str, db: None) -> None:
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)
    Package.objects.update(depends=[])
    PackageIndexState.objects.update(index_format=1)  # as the migration leaves older indexes

    counts = package_index_update(suite=SUITE, component="main", arch="amd64", mirror=mirror)

    assert not counts.unchanged
    assert "openssh-client" in Package.objects.get(name="openssh-server", arch="amd64").depends
