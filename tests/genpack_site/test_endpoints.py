"""Every URL, every role: the status each person gets, and that a refused POST changed nothing.

The table is checked against the URL resolver, so a new URL without an entry fails
`test_every_url_has_an_entry`. Each case runs as GET and POST, with and without `HX-Request`,
for an anonymous visitor, a logged-in user with no role, a field technician, a product
manager and an admin, against real objects (a blueprint with two revisions, a released build
with files on disk, an unreleased build, a seeded hardware profile).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.services import person_create
from blueprints.models import Blueprint, BlueprintRevision
from blueprints.services import blueprint_create, blueprint_revise
from builds import paths
from builds.models import Artifact, Build, ReleaseEvent
from builds.services import build_enqueue
from genpack_site.roles import FIELD_TECHNICIAN, PRODUCT_MANAGER
from hardware_profiles.models import HardwareProfile
from tests.images import small_disk_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

ROLES = ("anonymous", "outsider", "technician", "product_manager", "admin")
PERSONA_FIXTURES = {
    "anonymous": "anonymous",
    "outsider": "outsider",
    "technician": "technician",
    "product_manager": "product_manager",
    "admin": "admin_client_role",
}
LOGIN = "login"  # expected: a redirect to the login page
REFUSED = {LOGIN, 403, 404, 405}
# Django admin's own URLs are guarded by admin.site.has_permission (staff only); the index and
# one change list stand for all of them.
UNLISTED_NAMESPACES = {"admin"}


@pytest.fixture
def data_dirs(settings, tmp_path: Path) -> None:
    settings.GENPACK_WORK_DIR = tmp_path / "work"
    settings.GENPACK_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.GENPACK_MIN_FREE_BYTES = 0
    settings.GENPACK_BASE_CACHE_MAX_BYTES = 0


@dataclass
class World:
    blueprint: Blueprint
    released: Build
    unreleased: Build
    profile: HardwareProfile
    person: Any = None  # someone for the people pages to change


@dataclass
class Case:
    """One URL with real arguments; `get`/`post` map role → expected status."""

    name: str
    url: Callable[[World], str]
    get: dict[str, Any]
    post: dict[str, Any]
    data: Callable[[World], dict[str, Any]] = field(default=lambda world: {})
    htmx_get: dict[str, Any] = field(default_factory=dict)  # overrides when HX-Request is set
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or self.name


def roles(anonymous=LOGIN, outsider=403, technician=403, product_manager=200, admin=200):
    return {
        "anonymous": anonymous,
        "outsider": outsider,
        "technician": technician,
        "product_manager": product_manager,
        "admin": admin,
    }


BLUEPRINT_READ = roles()
BUILD_READ = roles(technician=200)
READ_ONLY_POST = roles(product_manager=405, admin=405)
BUILD_READ_ONLY_POST = roles(technician=405, product_manager=405, admin=405)


def _source_change(world: World, extra: str = "") -> dict[str, Any]:
    latest = world.blueprint.latest_revision
    source = latest.source.replace('description: ""', f'description: "changed"{extra}')
    return {"source": source, "message": "x", "based_on": latest.number}


def _import_confirm(world: World, extra: str = "") -> dict[str, Any]:
    """The confirm step of an import over the blueprint: the text, and the revision it saw."""
    source = _source_change(world, extra)["source"]
    return {
        "source_b64": base64.b64encode(source.encode()).decode(),
        "based_on": world.blueprint.latest_revision.number,
    }


def _bp(suffix: str = "") -> Callable[[World], str]:
    return lambda world: f"/blueprints/{world.blueprint.name}/{suffix}"


def _build(suffix: str = "", which: str = "released") -> Callable[[World], str]:
    return lambda world: f"/builds/{getattr(world, which).pk}/{suffix}"


def _person(suffix: str = "") -> Callable[[World], str]:
    return lambda world: f"/people/{world.person.pk}/{suffix}"


PEOPLE_READ = roles(product_manager=403)
PEOPLE_WRITE = roles(product_manager=403, admin=302)
PEOPLE_POST_ONLY = roles(product_manager=403, admin=405)
EVERYONE = roles(anonymous=200, outsider=200, technician=200)
SIGNED_IN = roles(outsider=200, technician=200)


CASES = [
    Case(
        "home",
        lambda w: "/",
        get=roles(outsider=200, technician=200),
        post=roles(outsider=405, technician=405, product_manager=405, admin=405),
    ),
    Case(
        "login",
        lambda w: "/accounts/login/",
        get=roles(anonymous=200, outsider=200, technician=200),
        # A wrong password: the form again, with an error.
        post=roles(anonymous=200, outsider=200, technician=200),
        data=lambda w: {"username": "pam", "password": "wrong"},
    ),
    Case(
        "logout",
        lambda w: "/accounts/logout/",
        get=roles(outsider=405, technician=405, product_manager=405, admin=405),
        post=roles(
            anonymous=LOGIN, outsider=LOGIN, technician=LOGIN, product_manager=LOGIN, admin=LOGIN
        ),
    ),
    Case("blueprints:list", lambda w: "/blueprints/", get=BLUEPRINT_READ, post=READ_ONLY_POST),
    Case(
        "blueprints:new",
        lambda w: "/blueprints/new/",
        get=BLUEPRINT_READ,
        post=roles(product_manager=302, admin=302),
        data=lambda w: {"name": "fresh", "description": "new one"},
    ),
    Case(
        "blueprints:import",
        lambda w: "/blueprints/import/",
        get=BLUEPRINT_READ,
        post=roles(product_manager=302, admin=302),
        data=lambda w: {"source": '{name: "imported", packages: ["curl"]}'},
    ),
    Case(
        "blueprints:import",
        lambda w: "/blueprints/import/",
        get=BLUEPRINT_READ,
        # Setup commands run as root on the build host: admins only, on every write path.
        post=roles(product_manager=200, admin=302),
        data=lambda w: {"source": '{name: "rooted", setup_commands: ["id"]}'},
        label="blueprints:import setup_commands",
    ),
    Case("blueprints:detail", _bp(), get=BLUEPRINT_READ, post=READ_ONLY_POST),
    Case("blueprints:edit", _bp("edit/"), get=BLUEPRINT_READ, post=READ_ONLY_POST),
    Case(
        "blueprints:source",
        _bp("edit/json5/"),
        get=BLUEPRINT_READ,
        post=roles(product_manager=302, admin=302),
        data=_source_change,
    ),
    Case(
        "blueprints:source",
        _bp("edit/json5/"),
        get=BLUEPRINT_READ,
        post=roles(product_manager=200, admin=302),
        data=lambda w: _source_change(w, ', setup_commands: ["id"]'),
        label="blueprints:source setup_commands",
    ),
    Case(
        "blueprints:source",
        _bp("edit/json5/"),
        get=BLUEPRINT_READ,
        post=roles(product_manager=200, admin=302),
        data=lambda w: _source_change(w, ', arch: {amd64: {setup_commands: ["id"]}}'),
        label="blueprints:source arch setup_commands",
    ),
    Case(
        "blueprints:section",
        _bp("edit/basics/"),
        get=BLUEPRINT_READ,
        post=roles(product_manager=302, admin=302),
        data=lambda w: {
            "description": "from the form",
            "version": "2",
            "based_on": w.blueprint.latest_revision.number,
        },
        label="blueprints:section basics",
    ),
    Case(
        "blueprints:section",
        _bp("edit/advanced/"),
        get=roles(product_manager=403),
        post=roles(product_manager=403, admin=302),
        data=lambda w: {
            "setup_commands": "id",
            "compression": "xz",
            "based_on": w.blueprint.latest_revision.number,
        },
        label="blueprints:section advanced",
    ),
    Case(
        "blueprints:section",
        _bp("edit/no-such-section/"),
        get=roles(product_manager=404, admin=404),
        post=roles(product_manager=404, admin=404),
        label="blueprints:section unknown",
    ),
    Case(
        "blueprints:package_search",
        lambda w: f"/blueprints/{w.blueprint.name}/packages/search/?q=cu",
        get=BLUEPRINT_READ,
        post=READ_ONLY_POST,
    ),
    Case(
        "blueprints:system_ini_preview",
        _bp("system-ini/preview/"),
        get=roles(product_manager=405, admin=405),
        post=roles(),  # renders a preview from the posted form; saves nothing
        data=lambda w: {"hostname": "kiosk-01", "network": "dhcp"},
    ),
    Case("blueprints:history", _bp("history/"), get=BLUEPRINT_READ, post=READ_ONLY_POST),
    Case(
        "blueprints:diff",
        lambda w: f"/blueprints/{w.blueprint.name}/diff/?a=1&b=2",
        get=BLUEPRINT_READ,
        post=READ_ONLY_POST,
    ),
    Case(
        "blueprints:restore",
        _bp("restore/1/"),
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),
        data=lambda w: {"based_on": w.blueprint.latest_revision.number},
    ),
    Case(
        "blueprints:import_update",
        _bp("import/"),
        get=BLUEPRINT_READ,
        post=roles(),  # shows the changes the file would make; saves nothing
        data=lambda w: {"source": _source_change(w)["source"]},
    ),
    Case(
        "blueprints:import_update",
        _bp("import/"),
        get=BLUEPRINT_READ,
        post=roles(product_manager=302, admin=302),
        data=lambda w: _import_confirm(w),
        label="blueprints:import_update confirmed",
    ),
    Case(
        "blueprints:import_update",
        _bp("import/"),
        get=BLUEPRINT_READ,
        post=roles(product_manager=200, admin=302),
        data=lambda w: _import_confirm(w, ', setup_commands: ["id"]'),
        label="blueprints:import_update setup_commands",
    ),
    Case("blueprints:export", _bp("export/"), get=BLUEPRINT_READ, post=READ_ONLY_POST),
    Case(
        "blueprints:export",
        lambda w: f"/blueprints/{w.blueprint.name}/export/?secrets=1",
        get=BLUEPRINT_READ,
        post=READ_ONLY_POST,
        label="blueprints:export with secrets",
    ),
    Case("builds:list", lambda w: "/builds/", get=BUILD_READ, post=BUILD_READ_ONLY_POST),
    Case(
        "builds:detail",
        _build(),
        get=BUILD_READ,
        post=BUILD_READ_ONLY_POST,
        htmx_get=roles(technician=286, product_manager=286, admin=286),
    ),
    Case(
        "builds:detail",
        _build(which="unreleased"),
        get=roles(technician=404),
        post=roles(technician=405, product_manager=405, admin=405),
        label="builds:detail unreleased",
    ),
    Case(
        "builds:log",
        _build("log/"),
        get=BUILD_READ,
        post=BUILD_READ_ONLY_POST,
        htmx_get=roles(technician=286, product_manager=286, admin=286),
    ),
    Case(
        "builds:cancel",
        _build("cancel/", which="unreleased"),
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),
    ),
    Case(
        "builds:release",
        _build("release/"),
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),  # already released: a message says so
        data=lambda w: {"reason": "crafted"},
    ),
    Case(
        "builds:withdraw",
        _build("withdraw/"),
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),
        data=lambda w: {"reason": "crafted"},
    ),
    Case(
        "builds:boot_test",
        _build("boot-test/"),  # the section itself answers htmx; opened alone: the build page
        get=roles(technician=302, product_manager=302, admin=302),
        post=BUILD_READ_ONLY_POST,
        # The released build's boot test has finished: the section stops polling (286).
        htmx_get=roles(technician=286, product_manager=286, admin=286),
    ),
    Case(
        "builds:boot_test_cancel",
        _build("boot-test/cancel/", which="unreleased"),
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),
    ),
    Case(
        "builds:compare",
        lambda w: f"/builds/compare/?b={w.released.pk}",
        get=BUILD_READ,
        post=BUILD_READ_ONLY_POST,
    ),
    Case(
        "builds:releases",
        lambda w: "/builds/releases/",
        get=BUILD_READ,
        post=BUILD_READ_ONLY_POST,
    ),
    Case(
        "builds:rebuild",
        _build("rebuild/"),
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),
    ),
    Case(
        "builds:download",
        _build("download/disk-raw/"),
        get=BUILD_READ,
        post=BUILD_READ_ONLY_POST,
    ),
    Case(
        "builds:download",
        _build("download/manifest/"),
        get=roles(technician=404, product_manager=404, admin=404),
        post=BUILD_READ_ONLY_POST,
        label="builds:download missing kind",
    ),
    Case(
        "builds:personalise",
        _build("personalise/"),
        get=BUILD_READ,
        post=BUILD_READ,
        data=lambda w: {"hostname": "kiosk-07", "network": "dhcp"},
    ),
    Case(
        "builds:personal_checksum",
        _build(f"personalise/{'0' * 32}.sha256"),
        get=roles(technician=404, product_manager=404, admin=404),  # no such download yet
        post=BUILD_READ_ONLY_POST,
    ),
    Case(
        "builds:start",
        lambda w: f"/builds/start/{w.blueprint.name}/",
        get=roles(product_manager=405, admin=405),
        post=roles(product_manager=302, admin=302),
    ),
    Case(
        "hardware_profiles:list", lambda w: "/profiles/", get=BUILD_READ, post=BUILD_READ_ONLY_POST
    ),
    Case(
        "hardware_profiles:create",
        lambda w: "/profiles/new/",
        get=roles(product_manager=403),
        post=roles(product_manager=403, admin=200),  # incomplete form: shown again
        data=lambda w: {"slug": "sneaky", "name": "Sneaky"},
    ),
    Case(
        "hardware_profiles:detail",
        lambda w: f"/profiles/{w.profile.slug}/",
        get=BUILD_READ,
        post=BUILD_READ_ONLY_POST,
    ),
    Case(
        "hardware_profiles:edit",
        lambda w: f"/profiles/{w.profile.slug}/edit/",
        get=roles(product_manager=403),
        post=roles(product_manager=403, admin=200),
        data=lambda w: {"name": "Renamed"},
    ),
    Case("accounts:people", lambda w: "/people/", get=PEOPLE_READ, post=PEOPLE_POST_ONLY),
    Case(
        "accounts:new",
        lambda w: "/people/new/",
        get=PEOPLE_READ,
        post=PEOPLE_WRITE,
        data=lambda w: {"username": "fresh-person", "role": FIELD_TECHNICIAN},
    ),
    Case("accounts:detail", _person(), get=PEOPLE_READ, post=PEOPLE_POST_ONLY),
    Case(
        "accounts:role",
        _person("role/"),
        get=PEOPLE_POST_ONLY,
        post=PEOPLE_WRITE,
        data=lambda w: {"role": FIELD_TECHNICIAN},
    ),
    Case("accounts:deactivate", _person("deactivate/"), get=PEOPLE_POST_ONLY, post=PEOPLE_WRITE),
    Case("accounts:reactivate", _person("reactivate/"), get=PEOPLE_POST_ONLY, post=PEOPLE_WRITE),
    Case(
        "accounts:password_link",
        _person("password-link/"),
        get=PEOPLE_POST_ONLY,
        post=PEOPLE_WRITE,
    ),
    Case(
        "password_change",
        lambda w: "/accounts/password/",
        get=SIGNED_IN,
        post=SIGNED_IN,  # a wrong old password: the form again
        data=lambda w: {"old_password": "wrong", "new_password1": "x", "new_password2": "x"},
    ),
    Case(
        "password_change_done",
        lambda w: "/accounts/password/done/",
        get=SIGNED_IN,
        post=roles(outsider=405, technician=405, product_manager=405, admin=405),
    ),
    Case(
        "password_reset_confirm",
        lambda w: "/accounts/set-password/MQ/not-a-token/",
        get=EVERYONE,  # "this link no longer works"
        post=EVERYONE,
        data=lambda w: {"new_password1": "x", "new_password2": "x"},
    ),
    Case(
        "password_reset_complete",
        lambda w: "/accounts/set-password/done/",
        get=EVERYONE,
        post=roles(anonymous=405, outsider=405, technician=405, product_manager=405, admin=405),
    ),
    Case(
        "admin:index",
        lambda w: "/admin/",
        # The admin sends everyone who is not staff to its own login page.
        get=roles(anonymous=302, outsider=302, technician=302, product_manager=302),
        post=roles(anonymous=302, outsider=302, technician=302, product_manager=302),
    ),
    Case(
        "admin:blueprints_blueprint_changelist",
        lambda w: "/admin/blueprints/blueprint/",
        get=roles(outsider=302, technician=302, product_manager=302),
        post=roles(outsider=302, technician=302, product_manager=302),
    ),
]


def _names(patterns: list, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_has_an_entry() -> None:
    routed = {
        name
        for name in _names(get_resolver().url_patterns)
        if name.split(":")[0] not in UNLISTED_NAMESPACES
    }
    covered = {case.name for case in CASES}
    assert routed - covered == set(), "URLs without an entry in CASES"
    assert covered - routed - {"admin:index", "admin:blueprints_blueprint_changelist"} == set()


@pytest.fixture(scope="session")
def disk_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    image = small_disk_image(tmp_path_factory.mktemp("image"), "kiosk.img")
    return image, hashlib.sha256(image.read_bytes()).hexdigest()


def _published(
    profile: HardwareProfile, blueprint: Blueprint, disk_image: tuple[Path, str]
) -> Build:
    """A released build with a real disk image and log on disk (rows written directly: the
    publish path has its own tests, and hashing 40 MiB per case would dominate this module)."""
    build = build_enqueue(revision=blueprint.latest_revision, profile=profile, requested_by=None)
    image, sha256 = disk_image
    final = paths.build_artifacts_dir(build.pk)
    final.mkdir(parents=True)
    os.link(image, final / "kiosk.img")  # nobody writes an artifact in place (personalising copies)
    Artifact.objects.create(
        build=build,
        kind=Artifact.Kind.DISK_RAW,
        path=str((final / "kiosk.img").relative_to(paths.artifacts_root())),
        size=image.stat().st_size,
        sha256=sha256,
    )
    log = paths.build_log_path(build.pk)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("12:00:00 == build\n")
    Build.objects.filter(pk=build.pk).update(
        state=Build.State.SUCCEEDED, released=True, progress=1.0, finished_at=timezone.now()
    )
    return Build.objects.get(pk=build.pk)


@pytest.fixture
def world(seeded: None, disk_image: tuple[Path, str]) -> World:
    profile = HardwareProfile.objects.get(slug="kvm-x86_64")
    blueprint = blueprint_create(name="kiosk", author=None, targets=[profile])
    latest = blueprint.latest_revision
    blueprint_revise(
        blueprint=blueprint,
        source=latest.source.replace("packages: []", 'packages: ["curl"]'),
        message="curl",
        author=None,
        based_on=latest.number,
    )
    blueprint.refresh_from_db()
    released = _published(profile, blueprint, disk_image)
    pc = HardwareProfile.objects.get(slug="pc-x86_64")
    unreleased = build_enqueue(revision=blueprint.latest_revision, profile=pc, requested_by=None)
    person = person_create(username="victor", role=PRODUCT_MANAGER)
    return World(blueprint, released, unreleased, profile, person)


def _snapshot() -> dict[str, Any]:
    """Everything a POST could change that matters here (not sessions or login attempts)."""
    return {
        "blueprints": list(Blueprint.objects.order_by("pk").values_list("name", "latest_revision")),
        "revisions": list(BlueprintRevision.objects.order_by("pk").values_list("pk", "number")),
        "builds": list(Build.objects.order_by("pk").values_list("pk", "state", "released")),
        "artifacts": list(Artifact.objects.order_by("pk").values_list("pk", "path", "sha256")),
        "release_events": list(ReleaseEvent.objects.order_by("pk").values()),
        "profiles": list(HardwareProfile.objects.order_by("pk").values()),
        "users": list(
            get_user_model()
            .objects.order_by("pk")
            .values_list("pk", "is_active", "password", "is_staff", "is_superuser")
        ),
        "roles": sorted(get_user_model().groups.through.objects.values_list("user", "group")),
    }


def _status(response) -> Any:
    if response.status_code == 302 and "/accounts/login/" in response.get("Location", ""):
        return LOGIN
    return response.status_code


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_role_gets_the_expected_status(
    request: pytest.FixtureRequest, world: World, case: Case, role: str, method: str, htmx: bool
) -> None:
    client: Client = request.getfixturevalue(PERSONA_FIXTURES[role])
    expected = case.get[role] if method == "get" else case.post[role]
    if htmx and method == "get":
        expected = case.htmx_get.get(role, expected)
    headers = {"HX-Request": "true"} if htmx else {}
    url = case.url(world)
    before = _snapshot()
    if method == "get":
        response = client.get(url, headers=headers)
    else:
        response = client.post(url, case.data(world), headers=headers)
    status = _status(response)
    if htmx and case.name == "blueprints:section" and expected == 302 and status == 200:
        status = 302  # an htmx save answers with the re-rendered section instead of a redirect
    assert status == expected, f"{role} {method.upper()} {url} → {response.status_code}"
    if method == "post" and (
        expected in REFUSED or ("setup_commands" in case.id and role != "admin")
    ):
        assert _snapshot() == before, f"refused {role} POST {url} changed something"
