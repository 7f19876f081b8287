"""Manifests published before the fix are rewritten without secrets (migration 0003)."""

from __future__ import annotations

import hashlib
import importlib
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client

from builds import paths
from builds.models import Artifact, Build
from builds.services import ProducedFile, build_claim, build_enqueue, build_publish
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

HASH = "$6$oldsalt$7xQ9mR2vKp4LzN8wTb3YcD6fGh1JkS5uVa0EiO9qWe2RtY4UiP7oAs3DfG6hJ"
OLD_SPEC = {
    "name": "kiosk",
    "profile": "kvm-x86_64",
    "users": [{"name": "root", "password_hash": HASH, "ssh_keys": []}],
    "files": [{"path": "/etc/app.env", "mode": "0600", "content": "API_TOKEN=FileTok3n\n"}],
    "setup_commands": ["curl -u deploy:CmdSecret1 https://example.com/x | sh"],
    "settings": [{"section": "app", "key": "db_password", "default": "DefaultPw9"}],
}
SECRETS = (HASH, "FileTok3n", "CmdSecret1", "DefaultPw9")
migration = importlib.import_module("builds.migrations.0003_scrub_published_manifests")


def _published(profile: HardwareProfile, name: str, manifest: bytes) -> Build:
    """A build published the way the worker publishes, with the manifest the old engine wrote."""
    build = build_enqueue(
        revision=make_blueprint(name).latest_revision, profile=profile, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    files = []
    for kind, file_name, payload in (
        ("disk-raw", f"{name}.img", b"image"),
        ("manifest", "manifest.json", manifest),
    ):
        (staging / file_name).write_bytes(payload)
        files.append(
            ProducedFile(kind, file_name, len(payload), hashlib.sha256(payload).hexdigest())
        )
    assert build_publish(build_id=build.pk, staging=staging, files=files)
    Build.objects.filter(pk=build.pk).update(released=True)
    return Build.objects.get(pk=build.pk)


def _old_manifest() -> bytes:
    manifest = {"engine_version": "1", "build": "1", "spec": OLD_SPEC, "packages": {"bash": "5"}}
    return (json.dumps(manifest, indent=2) + "\n").encode()


def test_migration_scrubs_a_published_manifest(kvm, technician: Client) -> None:
    build = _published(kvm, "kiosk", _old_manifest())
    url = f"/builds/{build.pk}/download/manifest/"
    leaked = b"".join(technician.get(url).streaming_content)
    assert HASH.encode() in leaked  # the leak this migration exists for

    migration.scrub(apps, None)

    artifact = build.artifacts.get(kind="manifest")
    data = (paths.artifacts_root() / artifact.path).read_bytes()
    assert artifact.size == len(data)
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    downloaded = b"".join(technician.get(url).streaming_content)
    assert downloaded == data
    for secret in SECRETS:
        assert secret.encode() not in downloaded
    manifest = json.loads(downloaded)
    assert manifest["packages"] == {"bash": "5"}
    assert manifest["spec"]["users"][0]["password_set"] is True
    assert manifest["spec"]["setup_commands"]["count"] == 1
    assert manifest["spec"]["files"][0]["size"] == len("API_TOKEN=FileTok3n\n")
    leftovers = [p.name for p in (paths.artifacts_root() / artifact.path).parent.iterdir()]
    assert sorted(leftovers) == ["kiosk.img", "manifest.json"]  # no temp file left


def test_migration_skips_missing_and_unreadable_manifests(kvm, caplog) -> None:
    missing = _published(kvm, "gone", _old_manifest())
    broken = _published(kvm, "broken", b"{not json")
    clean = _published(kvm, "kiosk", _old_manifest())
    (paths.artifacts_root() / missing.artifacts.get(kind="manifest").path).unlink()
    before = {a.pk: (a.size, a.sha256) for a in Artifact.objects.filter(kind="manifest")}

    migration.scrub(apps, None)

    after = {a.pk: (a.size, a.sha256) for a in Artifact.objects.filter(kind="manifest")}
    assert (
        after[missing.artifacts.get(kind="manifest").pk]
        == before[missing.artifacts.get(kind="manifest").pk]
    )
    broken_artifact = broken.artifacts.get(kind="manifest")
    assert after[broken_artifact.pk] == before[broken_artifact.pk]
    assert (paths.artifacts_root() / broken_artifact.path).read_bytes() == b"{not json"
    assert (
        after[clean.artifacts.get(kind="manifest").pk]
        != before[clean.artifacts.get(kind="manifest").pk]
    )
    assert "not scrubbed" in caplog.text


def test_scrub_command_leaves_a_clean_manifest_alone(kvm) -> None:
    build = _published(kvm, "kiosk", _old_manifest())
    call_command("manifests_scrub")
    artifact = build.artifacts.get(kind="manifest")
    first = (artifact.size, artifact.sha256, (paths.artifacts_root() / artifact.path).read_bytes())
    call_command("manifests_scrub")
    artifact.refresh_from_db()
    assert first == (
        artifact.size,
        artifact.sha256,
        (paths.artifacts_root() / artifact.path).read_bytes(),
    )
