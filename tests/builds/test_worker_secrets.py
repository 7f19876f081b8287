"""The worker's build log and the build's error text never show the blueprint's secrets."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.services import blueprint_revise
from builds import paths
from builds.services import build_claim, build_enqueue
from builds.tasks import claimed_build_run
from tests.builds.conftest import make_blueprint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

DB_DEFAULT = "DbDefault42"
WIFI_KEY = "Garden-Wifi-9"


def test_engine_output_and_error_are_masked_in_the_log_and_on_the_build_page(
    kvm, settings, monkeypatch, product_manager: Client
) -> None:
    blueprint = make_blueprint("kiosk")
    source = blueprint.latest_revision.source.replace(
        "packages: []",
        'packages: [],\n  settings: [{section: "app", key: "db_password", '
        f'default: "{DB_DEFAULT}"}}],\n  system_ini: {{wifi_ssid: "Shop", wifi_key: "{WIFI_KEY}"}}',
    )
    revision = blueprint_revise(
        blueprint=blueprint, source=source, message="secrets", author=None, based_on=1
    )
    build = build_enqueue(revision=revision, profile=kvm, requested_by=None)
    assert build_claim(build_id=build.pk, worker="w", task_id="t")
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "customize")
    monkeypatch.setenv(
        "FAKE_ENGINE_FAIL_DETAIL",
        f"$ app-setup --db {DB_DEFAULT} --wifi {WIFI_KEY} token=tok-123456",
    )

    state, _ = claimed_build_run(build.pk)

    assert state == "failed"
    log = paths.build_log_path(build.pk).read_text()
    build.refresh_from_db()
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert "customize failed" in log and "customize failed" in build.error
    for text in (log, build.error, page):
        for secret in (DB_DEFAULT, WIFI_KEY, "tok-123456"):
            assert secret not in text
