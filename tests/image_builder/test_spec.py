"""BuildSpec normalisation and the cache key."""

from __future__ import annotations

import pytest

from image_builder import BuildSpec, SpecError

from .conftest import minimal_spec_data


def spec(**changes: object) -> BuildSpec:
    return BuildSpec.from_dict({**minimal_spec_data(), **changes})


def test_normalise_sorts_and_deduplicates_list_fields() -> None:
    normalised = spec(packages=["vim", "curl", "vim"], output_formats=["zst", "raw"]).normalise()
    assert normalised.packages == ("curl", "vim")
    assert normalised.output_formats == ("raw", "zst")


def test_spec_hash_ignores_list_order_after_normalise() -> None:
    first = spec(packages=["curl", "vim"]).normalise()
    second = spec(packages=["vim", "curl", "curl"]).normalise()
    assert first.spec_hash() == second.spec_hash()
    assert len(first.spec_hash()) == 64


def test_spec_hash_changes_with_any_field() -> None:
    assert spec().normalise().spec_hash() != spec(kernel_args="quiet").normalise().spec_hash()


def test_round_trip_through_dict_keeps_the_hash() -> None:
    normalised = spec(files=[{"path": "/etc/motd", "content": "hi\n"}]).normalise()
    again = BuildSpec.from_dict(normalised.to_dict()).normalise()
    assert again == normalised
    assert again.spec_hash() == normalised.spec_hash()


def test_bare_service_names_get_the_service_suffix() -> None:
    assert spec(services=["ssh", "cron.timer"]).normalise().services == (
        "cron.timer",
        "ssh.service",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"packages": ["Bad_Name"]}, "'Bad_Name' is not a Debian package name"),
        ({"arch": "mips"}, "arch"),
        ({"users": [{"name": "root", "password_hash": "secret"}]}, "crypt(3) hash"),
        ({"files": [{"path": "etc/relative", "content": ""}]}, "absolute"),
        ({"files": [{"path": "/etc/../x", "content": ""}]}, "'..'"),
        ({"files": [{"path": "/run/x", "content": ""}]}, "/run"),
        ({"files": [{"path": "/etc/x"}]}, "exactly one of"),
        ({"services": ["bad name!"]}, "not a systemd unit"),
        ({"output_formats": ["iso"]}, "output_formats"),
    ],
)
def test_normalise_rejects_malformed_fields_with_a_clear_message(
    changes: dict, message: str
) -> None:
    with pytest.raises(SpecError, match=None) as caught:
        spec(**changes).normalise()
    assert message in str(caught.value)


def test_unknown_spec_field_is_an_error() -> None:
    with pytest.raises(SpecError, match="unknown spec field"):
        BuildSpec.from_dict({**minimal_spec_data(), "use": "X"})


def test_users_get_defaults_and_sorted_groups() -> None:
    normalised = spec(
        users=[{"name": "kiosk", "additional_groups": ["video", "audio"]}]
    ).normalise()
    (user,) = normalised.users
    assert user["home"] == "/home/kiosk"
    assert user["additional_groups"] == ("audio", "video")
    assert user["password_hash"] is None


PROTECTED = [
    "/etc/shadow",
    "/etc/passwd",
    "/etc/group",
    "/etc/gshadow",
    "/etc/shadow-",
    "/usr/lib/genpack/agent.py",
    "/lib/genpack/agent.py",
    "/usr/lib/systemd/system/genpack-agent.service",
    "/etc/systemd/system/genpack-agent.service.d/override.conf",
    "/usr/sbin/policy-rc.d",
    "/sbin/policy-rc.d",
    "/.genpack/build",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_files_may_not_replace_accounts_or_the_appliances_code(path: str) -> None:
    with pytest.raises(SpecError, match=r"cannot be replaced|appliance's own units"):
        spec(files=[{"path": path, "content": "x"}]).normalise()


@pytest.mark.parametrize("mode", ["4755", "2755", "6755", "04711", 0o4755])
def test_files_may_not_be_setuid_or_setgid(mode: object) -> None:
    with pytest.raises(SpecError, match="setuid/setgid"):
        spec(files=[{"path": "/usr/local/bin/x", "content": "x", "mode": mode}]).normalise()


def test_build_files_may_use_protected_paths_and_modes() -> None:
    normalised = spec(
        build_files=[
            {"path": "/etc/shadow", "content": "x"},
            {"path": "/usr/local/bin/x", "content": "x", "mode": "4755"},
        ]
    ).normalise()
    assert [f["path"] for f in normalised.build_files] == ["/etc/shadow", "/usr/local/bin/x"]
    assert normalised.build_files[1]["mode"] == "4755"


def test_ordinary_files_and_sticky_bit_are_fine() -> None:
    normalised = spec(
        files=[
            {"path": "/etc/kiosk.conf", "content": "x"},
            {"path": "/etc/systemd/system/kiosk.service", "content": "x"},
            {"path": "/etc/genpack-notes.txt", "content": "x", "mode": "1644"},
        ]
    ).normalise()
    assert len(normalised.files) == 3


@pytest.mark.parametrize("mode", ["0644\n", "٠٦٤٤", "99999", True])
def test_file_mode_must_be_plain_octal(mode: object) -> None:
    with pytest.raises(SpecError, match="octal"):
        spec(files=[{"path": "/etc/x", "content": "x", "mode": mode}]).normalise()
