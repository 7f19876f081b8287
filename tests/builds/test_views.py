"""Build pages: live log by offset, release to technicians, who sees what."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from builds import paths
from builds.models import BootTestState, Build
from builds.services import (
    ProducedFile,
    build_claim,
    build_enqueue,
    build_publish,
    build_release,
)
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint
from tests.factories import BlueprintFactory, BuildFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]


def _succeeded(profile: HardwareProfile, boot_test: str = BootTestState.PASSED) -> Build:
    """A succeeded build whose boot test ended `boot_test` (by default: releasable)."""
    revision = BlueprintFactory(name="kiosk").latest_revision
    build = BuildFactory(revision=revision, profile=profile, state=Build.State.SUCCEEDED)
    Build.objects.filter(pk=build.pk).update(boot_test_state=boot_test)
    return Build.objects.get(pk=build.pk)


def test_log_is_read_by_offset_and_polling_stops_when_final(product_manager: Client, kvm) -> None:
    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    log = paths.build_log_path(build.pk)
    log.parent.mkdir(parents=True)
    log.write_text("first line\n")
    url = f"/builds/{build.pk}/log/"
    first = product_manager.get(url, {"offset": 0}, HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and first.content == b"first line\n"
    offset = int(first["X-Log-Offset"])
    with log.open("a") as handle:
        handle.write("second line ✓\n")
    second = product_manager.get(url, {"offset": offset}, HTTP_HX_REQUEST="true")
    assert second.content.decode() == "second line ✓\n"
    Build.objects.filter(pk=build.pk).update(state=Build.State.FAILED)
    final = product_manager.get(url, {"offset": second["X-Log-Offset"]}, HTTP_HX_REQUEST="true")
    assert final.status_code == 286  # htmx stops polling
    status = product_manager.get(f"/builds/{build.pk}/", HTTP_HX_REQUEST="true")
    assert status.status_code == 286


def test_bad_offset_is_read_from_the_start(product_manager: Client, kvm) -> None:
    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    response = product_manager.get(f"/builds/{build.pk}/log/", {"offset": "lots"})
    assert response.status_code == 200 and response["X-Log-Offset"] == "0"


@pytest.mark.parametrize("offset", ["99999999999999999999", "9" * 5000, "²", "-3"])
def test_an_offset_past_the_end_or_not_a_number_never_fails(
    product_manager: Client, kvm, offset: str
) -> None:
    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    log = paths.build_log_path(build.pk)
    log.parent.mkdir(parents=True)
    log.write_text("line\n")
    response = product_manager.get(f"/builds/{build.pk}/log/", {"offset": offset})
    assert response.status_code == 200
    assert response["X-Log-Offset"] in ("0", "5")  # the start, or clamped to the end


def test_technicians_see_and_download_only_released_builds(
    product_manager: Client,
    technician: Client,
    kvm,
) -> None:
    build = _succeeded(kvm)
    url = f"/builds/{build.pk}/download/disk-raw/"
    assert technician.get(f"/builds/{build.pk}/").status_code == 404
    assert technician.get(url).status_code == 404
    assert technician.post(f"/builds/{build.pk}/release/").status_code == 403
    assert product_manager.post(f"/builds/{build.pk}/release/").status_code == 302
    assert technician.get(f"/builds/{build.pk}/").status_code == 200
    download = technician.get(url)
    assert b"".join(download.streaming_content) == b"image"


def test_a_released_cache_hit_shows_its_log_through_itself_and_hides_the_unreleased_source(
    product_manager: Client, technician: Client, kvm
) -> None:
    original = _succeeded(kvm)
    log = paths.build_log_path(original.pk)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("== artifacts published\n")
    hit = build_enqueue(revision=original.revision, profile=kvm, requested_by=None)
    assert hit.cache_hit_of == original
    product_manager.post(f"/builds/{hit.pk}/release/")
    page = technician.get(f"/builds/{hit.pk}/").content.decode()
    assert f'data-log-url="/builds/{hit.pk}/log/"' in page
    assert f"/builds/{original.pk}/" not in page  # neither the log nor a "reused" link
    assert "earlier build" in page
    assert technician.get(f"/builds/{original.pk}/").status_code == 404
    shown = technician.get(f"/builds/{hit.pk}/log/", HTTP_HX_REQUEST="true")
    assert shown.status_code == 286 and shown.content == b"== artifacts published\n"
    pm_page = product_manager.get(f"/builds/{hit.pk}/").content.decode()
    assert f'<a href="/builds/{original.pk}/">build #{original.pk}</a>' in pm_page


def test_range_beyond_the_end_is_refused(product_manager: Client, kvm) -> None:
    build = _succeeded(kvm)
    response = product_manager.get(f"/builds/{build.pk}/download/disk-raw/", HTTP_RANGE="bytes=99-")
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */5"


def test_x_accel_redirect_hands_the_file_to_nginx(product_manager: Client, kvm, settings) -> None:
    settings.GENPACK_X_ACCEL_PREFIX = "/protected/"
    build = _succeeded(kvm)
    response = product_manager.get(f"/builds/{build.pk}/download/disk-raw/")
    assert response["X-Accel-Redirect"] == f"/protected/builds/{build.pk}/kiosk.img"
    assert response.content == b""


def test_build_image_command_explains_bad_input(tmp_path: Path, seeded: None) -> None:
    blueprint = tmp_path / "genpack.json5"
    blueprint.write_text('{name: "x", packages: ["net-misc/openssh"]}')
    with pytest.raises(CommandError, match="Gentoo"):
        call_command("build_image", str(blueprint), profile="pc-x86_64", out=str(tmp_path))
    blueprint.write_text('{name: "x"}')
    with pytest.raises(CommandError, match="no hardware profile 'mars'"):
        call_command("build_image", str(blueprint), profile="mars", out=str(tmp_path))


def test_personalised_download_carries_the_device_settings(
    product_manager: Client,
    kvm,
    tmp_path: Path,
) -> None:
    from image_builder.image_tools import read_boot_file
    from tests.images import small_disk_image

    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    image = small_disk_image(staging, "kiosk.img")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    produced = ProducedFile("disk-raw", "kiosk.img", image.stat().st_size, digest)
    build_publish(build_id=build.pk, staging=staging, files=[produced])
    url = f"/builds/{build.pk}/personalise/"
    refused = product_manager.post(
        url,
        {
            "network": "static",
            "ip_address": "10.1.1.5/24",
            "ip_gateway": "10.9.9.9",
            "hostname": "dev-07",
        },
    )
    assert refused.status_code == 200
    assert "is not in the network" in refused.content.decode()
    response = product_manager.post(
        url,
        {
            "network": "static",
            "ip_address": "10.1.1.5/24",
            "ip_gateway": "10.1.1.1",
            "hostname": "dev-07",
        },
    )
    assert response.status_code == 200
    assert "kiosk-dev-07.img" in response["Content-Disposition"]
    copy = tmp_path / "downloaded.img"
    copy.write_bytes(b"".join(response.streaming_content))
    ini = read_boot_file(copy, "system.ini").decode()
    assert "hostname=dev-07" in ini and "ip_address=10.1.1.5/24" in ini
    published = paths.artifacts_root() / build.artifacts.get(kind="disk-raw").path
    assert hashlib.sha256(published.read_bytes()).hexdigest() == digest  # original untouched
    assert not list((paths.artifacts_root() / "personal").iterdir())  # copy deleted


@pytest.mark.parametrize(
    "typed",
    [
        {"hostname": "dev-07\nfactory_reset=yes"},
        {"hostname": "dev-07", "locale": "en_US.UTF-8\u2028"},
        {
            "hostname": "dev-07",
            "network": "static",
            "ip_address": "10.1.1.5/24",
            "dns": "10.1.1.1\r",
        },
    ],
)
def test_personalised_download_refuses_a_line_break_in_a_field(
    product_manager: Client, kvm, typed: dict
) -> None:
    from tests.images import small_disk_image

    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    image = small_disk_image(staging, "kiosk.img")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    produced = ProducedFile("disk-raw", "kiosk.img", image.stat().st_size, digest)
    build_publish(build_id=build.pk, staging=staging, files=[produced])
    response = product_manager.post(
        f"/builds/{build.pk}/personalise/", {"network": "dhcp", **typed}
    )
    assert response.status_code == 200
    assert "Content-Disposition" not in response  # the form again, not an image
    assert "line break" in response.content.decode()


def _published_pc_build(system_ini: dict) -> Build:
    """A published PC build (the PC has Wi-Fi) of a blueprint with these system.ini defaults."""
    from tests.factories import RevisionFactory
    from tests.images import small_disk_image

    pc = HardwareProfile.objects.get(slug="pc-x86_64")
    blueprint = BlueprintFactory(name="kiosk", targets=[pc])
    RevisionFactory(blueprint=blueprint, changes={"system_ini": system_ini})
    build = build_enqueue(revision=blueprint.latest_revision, profile=pc, requested_by=None)
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    image = small_disk_image(staging, "kiosk.img")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    produced = ProducedFile("disk-raw", "kiosk.img", image.stat().st_size, digest)
    build_publish(build_id=build.pk, staging=staging, files=[produced])
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    build.refresh_from_db()
    assert build_release(build=build)  # offered to field technicians
    return build


def _downloaded_ini(response, tmp_path: Path) -> str:
    from image_builder.image_tools import read_boot_file

    assert response.status_code == 200 and "Content-Disposition" in response
    copy = tmp_path / "downloaded.img"
    copy.write_bytes(b"".join(response.streaming_content))
    return read_boot_file(copy, "system.ini").decode()


DEVICE_WIFI = {"wifi_ssid": "Shop", "wifi_key": "saved-password", "wifi_country": "JP"}


def test_the_device_form_offers_the_wifi_keys_and_never_shows_the_password(
    technician: Client, seeded: None, tmp_path: Path
) -> None:
    build = _published_pc_build({**DEVICE_WIFI, "wifi_hidden": True})
    url = f"/builds/{build.pk}/personalise/"

    page = technician.get(url).content.decode()
    refused = technician.post(
        url, {"network": "dhcp", "wifi_ssid": "Shop", "wifi_wpa3": "on", "wifi_key": "a" * 64}
    ).content.decode()
    response = technician.post(
        url,
        {
            "network": "dhcp",
            "wifi_ssid": "Back office",
            "wifi_wpa3": "on",
            "wifi_interface": "wlan1",
            "wifi_country": "DE",
        },
    )

    for name in ("wifi_wpa3", "wifi_hidden", "wifi_interface", "wifi_key_forget"):
        assert f'name="{name}"' in page, name
    assert 'type="checkbox" name="wifi_hidden"' in page
    assert "not a 64-hex-digit key" in refused
    for html in (page, refused):
        assert "saved-password" not in html
    ini = _downloaded_ini(response, tmp_path)
    # The blueprint's password is kept; its hidden-network default was unticked.
    assert "wifi_ssid=Back office" in ini and "wifi_key=saved-password" in ini
    assert "wifi_wpa3=yes" in ini and "wifi_interface=wlan1" in ini
    assert "wifi_country=DE" in ini and "wifi_hidden=yes" not in ini


def test_a_device_on_ethernet_only_clears_the_network_name(
    technician: Client, seeded: None, tmp_path: Path
) -> None:
    build = _published_pc_build(DEVICE_WIFI)
    url = f"/builds/{build.pk}/personalise/"

    response = technician.post(url, {"network": "dhcp", "hostname": "wired-01"})

    ini = _downloaded_ini(response, tmp_path)
    assert "hostname=wired-01" in ini
    assert "saved-password" not in ini and "wifi_ssid=Shop" not in ini
