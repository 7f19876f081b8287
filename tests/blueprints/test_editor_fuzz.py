"""Every editor section's POST fuzzed on PostgreSQL, as an admin (who sees every section):
whatever is posted, a page with a message and never a 500; valid input always saves."""

from __future__ import annotations

import os
import string
import urllib.parse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from blueprints.editor import SECTIONS
from blueprints.models import Blueprint
from blueprints.system_ini_form import COMMON_LOCALES

pytestmark = pytest.mark.django_db

# What a browser can send: any text but lone surrogates (UTF-8 cannot carry them), with the
# characters that have hurt before: NUL, CR, line separators, markup, very long values.
typed = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60) | st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\r\n", "\u2028", "<b>x</b>", "x" * 3000, "-1", "1e999", "NaN"]
)
FIELDS = {
    "basics": ["description", "version"],
    "targets": ["targets"],
    "packages": ["name", "remove", "exclude", "include"],
    "services": ["name", "remove"],
    "users": [
        "form",
        "name",
        "comment",
        "uid",
        "shell",
        "additional_groups",
        "password",
        "ssh_keys",
        "group_name",
        "gid",
        "remove",
        "remove_group",
    ],
    "files": ["path", "mode", "owner", "content", "remove"],
    "settings": ["section", "key", "type", "default", "choices", "help", "remove"],
    "system_ini": [
        "hostname",
        "network",
        "ip_address",
        "ip_gateway",
        "dns",
        "interface",
        "wifi_ssid",
        "wifi_key",
        "wifi_country",
        "timezone",
        "locale",
        "ntp",
        "ssh_pubkey",
        "autologin",
        "debug",
    ],
    "advanced": ["setup_commands", "compression"],
}


def _examples(count: int) -> settings:
    return settings(
        max_examples=count * int(os.environ.get("GENPACK_FUZZ_SCALE", "1")),  # more: soak
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        # Each example is a request against PostgreSQL: shrinking would take minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )


@pytest.fixture
def board(seeded: None) -> Blueprint:
    from blueprints.services import blueprint_create
    from hardware_profiles.models import HardwareProfile

    return blueprint_create(
        name="board", author=None, targets=list(HardwareProfile.objects.filter(slug="pc-x86_64"))
    )


def _latest_number(blueprint: Blueprint) -> int:
    blueprint.refresh_from_db()
    return blueprint.latest_revision.number


def _post(client: Client, blueprint: Blueprint, section: str, data: dict) -> int:
    """POST one section as the page does; returns the revision number afterwards."""
    before = _latest_number(blueprint)
    response = client.post(
        f"/blueprints/{blueprint.name}/edit/{section}/",
        {"based_on": before, **data},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200, html[-2000:]
    after = _latest_number(blueprint)
    if after == before:
        assert "errorlist" in html, html  # refused, and says why
    return after


def test_every_section_is_fuzzed() -> None:
    assert set(FIELDS) == set(SECTIONS)


@_examples(20)
@given(
    section=st.sampled_from(sorted(FIELDS)),
    data=st.data(),
)
def test_any_values_in_any_section_never_give_a_500(
    admin_client_role: Client, board: Blueprint, section: str, data: st.DataObject
) -> None:
    names = data.draw(st.lists(st.sampled_from(FIELDS[section]), unique=True, max_size=6))
    values = {name: data.draw(typed, label=name) for name in names}
    _post(admin_client_role, board, section, values)


@_examples(15)
@given(raw=st.binary(max_size=80), section=st.sampled_from(sorted(FIELDS)))
def test_any_bytes_posted_never_give_a_500(
    admin_client_role: Client, board: Blueprint, raw: bytes, section: str
) -> None:
    """Bytes that are not UTF-8 (browsers send what the page's form encoding makes of them)."""
    field = FIELDS[section][0]
    body = f"based_on={_latest_number(board)}&{field}=" + urllib.parse.quote_from_bytes(raw)
    response = admin_client_role.post(
        f"/blueprints/board/edit/{section}/",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200


@_examples(15)
@given(raw=st.binary(max_size=300) | st.just(b"ascii\x00with\x00nul") | st.just(b"\xff\xfe\x00"))
def test_any_uploaded_file_is_kept_exactly(
    admin_client_role: Client, board: Blueprint, raw: bytes
) -> None:
    """NUL bytes in a UTF-8 upload were stored as text: PostgreSQL refused it (500)."""
    import base64

    path = "/opt/fuzz/upload.bin"
    upload = SimpleUploadedFile("upload.bin", raw)
    fields = {"path": path, "mode": "0644", "owner": "root", "upload": upload}
    number = _post(admin_client_role, board, "files", fields)
    if not raw:
        return  # an empty upload is no upload: the form asks for content
    assert number == _latest_number(board)
    entry = next(f for f in board.latest_revision.data["files"] if f["path"] == path)
    kept = (
        entry["content"].encode() if "content" in entry else base64.b64decode(entry["content_b64"])
    )
    assert kept == raw


# Valid input per section: each must save a new revision.
words = st.text(string.ascii_letters + string.digits + " .,-_/", min_size=1, max_size=30).map(
    str.strip
)
prose = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from("\n\t"), max_size=200
)
account = st.from_regex(r"[a-z_][a-z0-9_-]{0,15}", fullmatch=True)
octet = st.integers(min_value=1, max_value=254)
VALID = {
    "basics": st.fixed_dictionaries(
        {
            "description": prose,
            "version": st.text(string.ascii_letters + string.digits + ".-", max_size=40),
        }
    ),
    "targets": st.fixed_dictionaries(
        {"targets": st.lists(st.sampled_from(["pc-x86_64", "kvm-x86_64"]), min_size=1, unique=True)}
    ),
    "packages": st.fixed_dictionaries(
        {"name": st.from_regex(r"[a-z0-9][a-z0-9+.-]{1,30}", fullmatch=True)}
    ),
    "services": st.fixed_dictionaries(
        {
            "name": st.from_regex(
                r"[a-z][a-z0-9_-]{0,20}(\.service|\.timer|@tty1\.service)?", fullmatch=True
            )
        }
    ),
    "users": st.fixed_dictionaries(
        {
            "form": st.just("main"),
            "name": account,
            "comment": st.text(string.ascii_letters + " .-", max_size=50),
            "shell": st.sampled_from(["/bin/bash", "/bin/sh", "/usr/sbin/nologin"]),
            "additional_groups": st.lists(account, max_size=3).map(" ".join),
            "password": st.text(st.characters(codec="ascii", min_codepoint=32), max_size=30),
        }
    )
    | st.fixed_dictionaries({"form": st.just("group"), "group_name": account}),
    "files": st.fixed_dictionaries(
        {
            "path": st.from_regex(r"/opt/fuzz/[a-z0-9_-]{1,12}(\.[a-z]{1,4})?", fullmatch=True),
            "mode": st.sampled_from(["0644", "0600", "0755", "644"]),
            "owner": st.sampled_from(["root", "nobody"]),
            "content": prose.filter(str.strip),
        }
    ),
    "settings": st.fixed_dictionaries(
        {
            "section": st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True),
            "key": st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True),
            "help": st.text(string.ascii_letters + " .,", max_size=80),
        }
    ).flatmap(
        lambda common: st.one_of(
            st.fixed_dictionaries(
                {
                    "type": st.just("string"),
                    "default": st.text(string.ascii_letters + " ./:", max_size=40),
                }
            ),
            st.fixed_dictionaries(
                {"type": st.just("int"), "default": st.integers(-(10**9), 10**9).map(str)}
            ),
            st.fixed_dictionaries(
                {"type": st.just("bool"), "default": st.sampled_from(["yes", "no", ""])}
            ),
            st.lists(
                st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=4, unique=True
            ).flatmap(
                lambda choices: st.fixed_dictionaries(
                    {
                        "type": st.just("choice"),
                        "choices": st.just(", ".join(choices)),
                        "default": st.sampled_from(choices),
                    }
                )
            ),
        ).map(lambda typed_part: {**common, **typed_part})
    ),
    "system_ini": st.fixed_dictionaries(
        {
            "hostname": st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True),
            "network": st.just("dhcp"),
            "timezone": st.sampled_from(["", "UTC", "Europe/Berlin", "Asia/Tokyo"]),
            "locale": st.sampled_from(["", *COMMON_LOCALES]),
            "dns": st.lists(octet, max_size=3).map(lambda xs: " ".join(f"10.0.0.{x}" for x in xs)),
            "wifi_ssid": st.text(string.ascii_letters + string.digits, min_size=1, max_size=20),
            "wifi_key": st.just("")
            | st.text(string.ascii_letters + string.digits, min_size=8, max_size=30),
            "wifi_country": st.sampled_from(["", "US", "DE", "JP"]),
            "autologin": st.sampled_from(["", "on"]),
            "debug": st.sampled_from(["", "on"]),
        }
    )
    | st.fixed_dictionaries(
        {
            "network": st.just("static"),
            "ip_address": octet.map(lambda x: f"192.168.7.{x}/24"),
            "ip_gateway": st.just("192.168.7.254"),
            # A saved Wi-Fi key is kept when the field is empty, and needs its network name.
            "wifi_ssid": st.just("shop"),
        }
    ).filter(lambda d: d["ip_address"] != "192.168.7.254/24"),
    "advanced": st.fixed_dictionaries(
        {
            "setup_commands": st.lists(words, max_size=4).map("\n".join),
            "compression": st.sampled_from(["xz", "gzip"]),
        }
    ),
}


def test_every_section_has_valid_examples() -> None:
    assert set(VALID) == set(SECTIONS)


@_examples(40)
@given(section=st.sampled_from(sorted(VALID)), data=st.data())
def test_valid_input_in_any_section_saves_a_new_revision(
    admin_client_role: Client, board: Blueprint, section: str, data: st.DataObject
) -> None:
    values = data.draw(VALID[section], label=section)
    current = board.latest_revision.data if board.refresh_from_db() is None else {}
    if section in ("packages", "services"):
        assume(values["name"] not in (current.get(section) or []))
    if section == "users" and values["form"] == "group":
        groups = [g if isinstance(g, str) else g["name"] for g in current.get("groups") or []]
        assume(values["group_name"] not in groups)
    before = _latest_number(board)
    assert _post(admin_client_role, board, section, values) == before + 1, values
