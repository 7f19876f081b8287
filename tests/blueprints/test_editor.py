"""The blueprint editor's sections, saved one at a time as revisions."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from blueprints.json5_io import blueprint_dump
from blueprints.models import Blueprint
from tests.blueprints.conftest import section_post

pytestmark = pytest.mark.django_db

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgm5VrX2tUAMFvQ4Lc6ykz3c9s0nZ3yqg9y3iS5lOQ2 pam@laptop"
)


def _latest(blueprint: Blueprint) -> dict:
    blueprint.refresh_from_db()
    return blueprint.latest_revision.data


def test_new_blueprint_opens_the_editor(product_manager: Client, seeded: None) -> None:
    response = product_manager.post(
        "/blueprints/new/", {"name": "sensor-hub", "description": "Reads sensors", "targets": []}
    )
    assert response.status_code == 302
    assert response["Location"] == "/blueprints/sensor-hub/edit/"
    page = product_manager.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    for title in (
        "Basics",
        "Targets",
        "Packages",
        "Services",
        "Users and groups",
        "Files",
        "Custom settings",
        "Default system.ini",
    ):
        assert title in html
    assert "Advanced" not in html  # setup commands need a permission product managers lack


def test_each_section_save_is_a_revision_with_a_message(product_manager, kiosk) -> None:
    response = section_post(
        product_manager, kiosk, "basics", {"description": "Self-service kiosk", "version": "2.0"}
    )
    assert response.status_code == 200
    assert "Saved: Changed basics" in response.content.decode()
    trigger = json.loads(response["HX-Trigger"])
    assert trigger["blueprintSaved"]["revision"] == 2
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.message == "Changed basics"
    assert kiosk.latest_revision.version == "2.0"


def test_unknown_service_name_is_refused_with_the_reason(product_manager, kiosk) -> None:
    response = section_post(product_manager, kiosk, "services", {"name": "not a unit!"})
    assert "Not a systemd unit name" in response.content.decode()
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == 1


def test_typed_password_is_stored_only_as_a_crypt_hash(product_manager, kiosk) -> None:
    response = section_post(
        product_manager,
        kiosk,
        "users",
        {
            "form": "main",
            "name": "operator",
            "shell": "/bin/bash",
            "password": "s3cret-Pa55",
            "ssh_keys": ED25519,
            "additional_groups": "dialout",
        },
    )
    assert response.status_code == 200, response.content
    kiosk.refresh_from_db()
    user = _latest(kiosk)["users"][0]
    assert user["password_hash"].startswith("$6$")
    assert "s3cret-Pa55" not in kiosk.latest_revision.source
    assert "s3cret-Pa55" not in json.dumps(kiosk.latest_revision.data)
    assert user["ssh_keys"] == [ED25519]


def test_bad_ssh_key_is_refused(product_manager, kiosk) -> None:
    response = section_post(
        product_manager,
        kiosk,
        "users",
        {
            "form": "main",
            "name": "operator",
            "shell": "/bin/bash",
            "ssh_keys": "ssh-rsa nonsense",
        },
    )
    assert "users" not in _latest(kiosk)
    assert "errorlist" in response.content.decode()


def test_static_ip_with_a_gateway_outside_the_subnet_is_refused_then_fixed(
    product_manager, kiosk
) -> None:
    wrong = {
        "network": "static",
        "ip_address": "192.168.10.20/24",
        "ip_gateway": "10.0.0.1",
        "hostname": "kiosk-01",
    }
    response = section_post(product_manager, kiosk, "system_ini", wrong)
    html = response.content.decode()
    assert "is not in the network of the IP address (192.168.10.0/24)" in html
    assert "system_ini" not in _latest(kiosk)
    fixed = {**wrong, "ip_gateway": "192.168.10.1", "dns": "192.168.10.1 1.1.1.1"}
    response = section_post(product_manager, kiosk, "system_ini", fixed)
    assert "Saved" in response.content.decode()
    assert _latest(kiosk)["system_ini"] == {
        "hostname": "kiosk-01",
        "ip_address": "192.168.10.20/24",
        "ip_gateway": "192.168.10.1",
        "dns": ["192.168.10.1", "1.1.1.1"],
    }


def test_preview_shows_the_exact_file_for_the_chosen_board(product_manager, kiosk) -> None:
    url = f"/blueprints/{kiosk.name}/system-ini/preview/"
    pc = product_manager.post(
        url,
        {"network": "dhcp", "hostname": "kiosk-07", "preview_profile": "pc-x86_64"},
        HTTP_HX_REQUEST="true",
    )
    text = pc.content.decode()
    assert "hostname=kiosk-07" in text
    assert "wifi_ssid" in text  # the PC profile has a radio
    kvm = product_manager.post(
        url,
        {"network": "dhcp", "hostname": "kiosk-07", "preview_profile": "kvm-x86_64"},
        HTTP_HX_REQUEST="true",
    )
    assert "wifi_ssid" not in kvm.content.decode()


def test_preview_warns_of_each_value_it_leaves_out(product_manager, kiosk) -> None:
    typed = {
        "network": "static",
        "ip_address": "192.168.10.20/24",
        "ip_gateway": "10.0.0.1",
        "hostname": "kiosk#1",
        "preview_profile": "pc-x86_64",
    }
    response = product_manager.post(
        f"/blueprints/{kiosk.name}/system-ini/preview/", typed, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'data-testid="system-ini-warnings"' in html
    assert (
        "<strong>Gateway</strong>: &#x27;10.0.0.1&#x27; is not in the network of the IP address"
        in html
    )
    assert "<strong>Hostname</strong>: &#x27;kiosk#1&#x27; has &#x27;#&#x27;" in html
    preview = html.split('data-testid="system-ini-preview">', 1)[1]
    assert "ip_gateway=10.0.0.1" not in preview and "hostname=kiosk#1" not in preview


def test_preview_warns_that_a_wired_board_ignores_wifi(product_manager, kiosk) -> None:
    typed = {"network": "dhcp", "wifi_ssid": "Shop", "preview_profile": "kvm-x86_64"}
    html = product_manager.post(
        f"/blueprints/{kiosk.name}/system-ini/preview/", typed, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<strong>Wi-Fi network name</strong>: This device has no Wi-Fi" in html


def test_preview_without_problems_has_no_warnings(product_manager, kiosk) -> None:
    html = product_manager.post(
        f"/blueprints/{kiosk.name}/system-ini/preview/",
        {"network": "dhcp", "hostname": "kiosk-01"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "system-ini-warnings" not in html


def test_each_system_ini_field_has_its_own_block_and_only_the_fixed_address_ones_hide(
    product_manager, kiosk
) -> None:
    html = product_manager.get("/blueprints/kiosk/edit/").content.decode()
    blocks = html.split('<div class="field static-only" data-static-only>')[1:]
    hidden = [re.search(r'name="(\w+)"', block).group(1) for block in blocks]
    assert hidden == ["ip_address", "ip_gateway", "dns", "interface"]
    assert re.search(r'<div class="field">\s*<label for="id_systemini_wifi_interface"', html)


def test_wifi_fields_only_with_a_radio(product_manager, kiosk) -> None:
    assert 'name="wifi_ssid"' in product_manager.get("/blueprints/kiosk/edit/").content.decode()
    section_post(product_manager, kiosk, "targets", {"targets": ["kvm-x86_64"]})
    html = product_manager.get("/blueprints/kiosk/edit/").content.decode()
    assert 'name="wifi_ssid"' not in html


def test_two_browsers_editing_at_once_never_lose_an_edit(product_manager, kiosk) -> None:
    kiosk.refresh_from_db()
    opened_at = kiosk.latest_revision.number
    first = product_manager.post(
        "/blueprints/kiosk/edit/basics/",
        {"based_on": opened_at, "description": "first browser"},
        HTTP_HX_REQUEST="true",
    )
    assert "Saved" in first.content.decode()
    second = product_manager.post(
        "/blueprints/kiosk/edit/basics/",
        {"based_on": opened_at, "description": "second browser"},
        HTTP_HX_REQUEST="true",
    )
    assert "changed since you opened it" in second.content.decode()
    assert _latest(kiosk)["description"] == "first browser"


def test_plain_form_post_without_javascript_works(product_manager, kiosk) -> None:
    response = section_post(product_manager, kiosk, "services", {"name": "ssh"}, htmx=False)
    assert response.status_code == 302
    assert _latest(kiosk)["services"] == ["ssh"]


def test_files_refuse_paths_under_proc(product_manager, kiosk) -> None:
    response = section_post(
        product_manager,
        kiosk,
        "files",
        {"path": "/proc/evil", "mode": "0644", "owner": "root", "content": "x"},
    )
    assert "cannot go under" in response.content.decode()
    section_post(
        product_manager,
        kiosk,
        "files",
        {"path": "/etc/kiosk/url", "mode": "0644", "owner": "root", "content": "https://shop\n"},
    )
    assert _latest(kiosk)["files"] == [
        {"path": "/etc/kiosk/url", "mode": "0644", "owner": "root", "content": "https://shop\n"}
    ]


def test_a_file_typed_in_the_form_is_stored_with_lf(product_manager, kiosk) -> None:
    """Browsers send every line break of a textarea as CRLF; the script must not get a CR."""
    typed = {"path": "/usr/local/bin/hello", "mode": "0755", "owner": "root"}
    section_post(product_manager, kiosk, "files", {**typed, "content": "#!/bin/sh\r\necho hi\r\n"})
    assert _latest(kiosk)["files"] == [{**typed, "content": "#!/bin/sh\necho hi\n"}]


def test_an_uploaded_file_keeps_its_crlf_byte_for_byte(product_manager, kiosk) -> None:
    windows = b"[share]\r\npath = C:\\data\r\n"
    upload = SimpleUploadedFile("share.ini", windows, content_type="text/plain")
    fields = {"path": "/srv/share.ini", "mode": "0644", "owner": "root"}
    section_post(product_manager, kiosk, "files", {**fields, "upload": upload})
    (entry,) = _latest(kiosk)["files"]
    assert entry["content"].encode("utf-8") == windows


def test_a_build_file_typed_in_advanced_is_stored_with_lf(admin_client_role, kiosk) -> None:
    section_post(
        admin_client_role,
        kiosk,
        "advanced",
        {
            "form": "build_file",
            "path": "/usr/local/bin/helper",
            "mode": "0755",
            "owner": "root",
            "content": "#!/bin/sh\r\nexit 0\r\n",
        },
    )
    assert _latest(kiosk)["build_files"][0]["content"] == "#!/bin/sh\nexit 0\n"


@pytest.mark.parametrize(
    ("path", "mode", "words"),
    [
        ("/etc/shadow", "0640", "system's accounts"),
        ("/etc/passwd-", "0644", "system's accounts"),
        ("/etc/gshadow", "0640", "system's accounts"),
        ("/usr/lib/genpack/agent.py", "0755", "appliance's own programs"),
        ("/etc/ssh/sshd_config.d/genpack-host-keys.conf", "0644", "appliance's own programs"),
        ("/usr/sbin/policy-rc.d", "0755", "appliance's own programs"),
        ("/etc/systemd/system/genpack-agent.service", "0644", "appliance's own programs"),
        ("/usr/local/bin/rootshell", "4755", "setuid and setgid"),
        ("/usr/local/bin/rootshell", "2755", "setuid and setgid"),
    ],
)
def test_files_refuse_account_files_appliance_code_and_setuid(
    product_manager, kiosk, path: str, mode: str, words: str
) -> None:
    response = section_post(
        product_manager,
        kiosk,
        "files",
        {"path": path, "mode": mode, "owner": "root", "content": "x"},
    )
    assert response.status_code == 200
    assert words in html.unescape(response.content.decode())
    assert "files" not in _latest(kiosk)


@pytest.mark.parametrize(
    "layer",
    [
        lambda files: {"files": files},
        lambda files: {"arch": {"amd64": {"files": files}}},
        lambda files: {"variants": {"demo": {"files": files}}},
    ],
)
@pytest.mark.parametrize(
    "entry",
    [
        {"path": "/etc/shadow", "content": "root::0:0:99999:7:::"},
        {"path": "/lib/genpack/agent.py", "content": "x"},
        {"path": "/usr/local/bin/x", "content": "x", "mode": "6755"},
    ],
)
def test_json5_refuses_account_files_appliance_code_and_setuid(
    admin_client_role, kiosk, layer, entry: dict
) -> None:
    """Refused in the shared checks, so for everyone and on every path (here the source editor,
    by an admin: even the permission to run setup commands does not make `files` build files)."""
    kiosk.refresh_from_db()
    source = blueprint_dump({**_latest(kiosk), **layer([entry])})
    response = admin_client_role.post(
        "/blueprints/kiosk/edit/json5/", {"source": source, "based_on": 1}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["source"]
    assert _latest(kiosk).get("files") is None and kiosk.revisions.count() == 1


def test_admin_adds_and_removes_a_build_file_in_advanced(admin_client_role, kiosk) -> None:
    response = section_post(
        admin_client_role,
        kiosk,
        "advanced",
        {
            "form": "build_file",
            "path": "/usr/local/bin/helper",
            "mode": "4755",
            "owner": "root",
            "content": "#!/bin/sh\n",
        },
    )
    assert "Saved: Set build file /usr/local/bin/helper" in response.content.decode()
    assert _latest(kiosk)["build_files"] == [
        {"path": "/usr/local/bin/helper", "mode": "4755", "owner": "root", "content": "#!/bin/sh\n"}
    ]
    assert (
        "/usr/local/bin/helper" in admin_client_role.get("/blueprints/kiosk/edit/").content.decode()
    )
    section_post(
        admin_client_role, kiosk, "advanced", {"remove_build_file": "/usr/local/bin/helper"}
    )
    assert "build_files" not in _latest(kiosk)


def test_custom_setting_appears_in_the_preview(product_manager, kiosk) -> None:
    section_post(
        product_manager,
        kiosk,
        "settings",
        {
            "section": "kiosk",
            "key": "start_url",
            "type": "string",
            "default": "https://example.com",
            "help": "Page shown at start",
        },
    )
    text = product_manager.post(
        "/blueprints/kiosk/system-ini/preview/", {"network": "dhcp"}
    ).content.decode()
    assert "[kiosk]" in text and "start_url" in text


def test_advanced_section_needs_its_permission(product_manager, admin_client_role, kiosk) -> None:
    denied = section_post(
        product_manager, kiosk, "advanced", {"setup_commands": "rm -rf /", "compression": "xz"}
    )
    assert denied.status_code == 403
    allowed = section_post(
        admin_client_role,
        kiosk,
        "advanced",
        {"setup_commands": "echo hello > /etc/motd", "compression": "gzip"},
    )
    assert allowed.status_code == 200
    assert _latest(kiosk)["setup_commands"] == ["echo hello > /etc/motd"]
    assert _latest(kiosk)["compression"] == "gzip"


def test_each_boards_packages_list_the_radios_firmware_only_with_wifi(
    product_manager, kiosk
) -> None:
    html = product_manager.get("/blueprints/kiosk/edit/").content.decode()
    assert html.count('aria-label="Leave out firmware-atheros"') == 1  # the PC, not the VM
    section_post(product_manager, kiosk, "packages", {"exclude": "firmware-atheros"})
    assert _latest(kiosk)["packages"] == ["-firmware-atheros"]
    section_post(product_manager, kiosk, "targets", {"targets": ["kvm-x86_64"]})
    html = product_manager.get("/blueprints/kiosk/edit/").content.decode()
    assert "firmware-iwlwifi" not in html and "firmware-realtek" not in html


WIFI = {"network": "dhcp", "wifi_ssid": "Shop WLAN", "wifi_key": "hunter2hunter2"}


def test_the_saved_wifi_password_is_never_shown_again(product_manager, kiosk) -> None:
    section_post(product_manager, kiosk, "system_ini", {**WIFI, "wifi_country": "JP"})
    assert _latest(kiosk)["system_ini"]["wifi_key"] == "hunter2hunter2"

    page = product_manager.get("/blueprints/kiosk/edit/").content.decode()
    refused = section_post(
        product_manager, kiosk, "system_ini", {**WIFI, "wifi_key": "", "wifi_country": "J1"}
    ).content.decode()
    preview = product_manager.post(
        f"/blueprints/{kiosk.name}/system-ini/preview/",
        {"network": "dhcp", "wifi_ssid": "Shop WLAN", "preview_profile": "pc-x86_64"},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert "A password is saved: leave this empty to keep it" in page
    assert "country code" in refused
    for text in (page, refused, preview):
        assert "hunter2hunter2" not in text
    assert "wifi_key=********" in preview  # kept, and masked


def test_an_empty_password_field_keeps_the_saved_one_for_wpa3(product_manager, kiosk) -> None:
    section_post(product_manager, kiosk, "system_ini", WIFI)

    section_post(
        product_manager,
        kiosk,
        "system_ini",
        {**WIFI, "wifi_key": "", "wifi_wpa3": "on", "wifi_hidden": "on", "wifi_interface": "wlan1"},
    )

    assert _latest(kiosk)["system_ini"] == {
        "wifi_ssid": "Shop WLAN",
        "wifi_key": "hunter2hunter2",
        "wifi_wpa3": True,
        "wifi_hidden": True,
        "wifi_interface": "wlan1",
    }


def test_clearing_the_network_name_clears_the_saved_wifi_password(product_manager, kiosk) -> None:
    """Once a password was saved, the network name could not be cleared: the kept password
    was refused without it. Now the password goes with the name, and the page says so."""
    section_post(product_manager, kiosk, "system_ini", {**WIFI, "hostname": "kiosk-01"})
    kiosk.refresh_from_db()
    saved = kiosk.latest_revision.number

    cleared = section_post(
        product_manager,
        kiosk,
        "system_ini",
        {"network": "dhcp", "hostname": "kiosk-01", "wifi_ssid": "", "wifi_country": "JP"},
    ).content.decode()

    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == saved + 1
    assert "The saved Wi-Fi password was removed with the network name." in cleared
    # The country stays: a default for devices whose technician types the network name.
    assert _latest(kiosk)["system_ini"] == {"hostname": "kiosk-01", "wifi_country": "JP"}
    assert kiosk.latest_revision.message == (
        "Changed default system.ini. The saved Wi-Fi password was removed with the network name."
    )


def test_the_saved_wifi_password_can_be_removed_for_an_open_network(product_manager, kiosk) -> None:
    section_post(product_manager, kiosk, "system_ini", WIFI)
    page = product_manager.get("/blueprints/kiosk/edit/").content.decode()
    assert 'name="wifi_key_forget"' in page

    response = section_post(
        product_manager,
        kiosk,
        "system_ini",
        {"network": "dhcp", "wifi_ssid": "Cafe", "wifi_key_forget": "on"},
    )

    assert "The saved Wi-Fi password was removed." in response.content.decode()
    assert _latest(kiosk)["system_ini"] == {"wifi_ssid": "Cafe"}
