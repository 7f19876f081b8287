"""No secret in any metadata artifact of a real build whose blueprint has a root password hash
and a Wi-Fi key, while the image itself keeps both where the device needs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from image_builder import BuildResult
from image_builder.image_tools import read_boot_file
from image_builder.secrets import CRYPT_HASH_RE

from .boards import PC_WIFI_KEY, minimal_blueprint
from .test_boot_boards import system_img_file

pytestmark = pytest.mark.slow

METADATA_KINDS = ("manifest", "sbom", "sha256sums", "log")


def test_no_password_hash_or_wifi_key_in_any_metadata_artifact(
    minimal_build: BuildResult, tmp_path: Path
) -> None:
    (root,) = [user for user in minimal_blueprint()["users"] if user["name"] == "root"]
    password_hash = root["password_hash"]
    assert password_hash.startswith("$6$")
    # The inputs really held both: the hash is in the image's /etc/shadow, the key in the
    # system.ini on the boot partition.
    shadow = system_img_file(minimal_build, "etc/shadow", tmp_path).decode()
    assert f"root:{password_hash}:" in shadow
    ini = read_boot_file(minimal_build.artifact("disk-raw").path, "system.ini") or b""
    assert f"wifi_key={PC_WIFI_KEY}".encode() in ini

    kinds = {artifact.kind for artifact in minimal_build.artifacts}
    assert set(METADATA_KINDS) <= kinds
    for kind in METADATA_KINDS:
        text = minimal_build.artifact(kind).path.read_text(encoding="utf-8", errors="replace")
        assert password_hash not in text, kind
        assert "$6$" not in text and "$y$" not in text, kind
        assert CRYPT_HASH_RE.search(text) is None, (kind, CRYPT_HASH_RE.search(text))
        assert PC_WIFI_KEY not in text, kind
    # The manifest still says a password is set, without it.
    manifest = json.loads(minimal_build.artifact("manifest").path.read_text())
    (user,) = [u for u in manifest["spec"]["users"] if u["name"] == "root"]
    assert user["password_set"] is True
    assert "password_hash" not in user
