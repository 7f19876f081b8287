"""The boot test's bookkeeping and its display, run in this process with the stand-in that
boots nothing (tests/fake_boot_test.py): queued at publish, skipped when not emulated,
claimed once, recorded with its console log, masked, cancelled, reaped, shown."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from celery.app.amqp import Queues
from django.test import Client
from django.utils import timezone

from blueprints.services import blueprint_revise
from builds import paths
from builds.boot_tests import (
    NOT_EMULATED,
    WORKER_LOST,
    boot_test_claim,
    boot_test_fail,
    boot_test_heartbeat,
    boot_test_record,
    boot_test_system_ini,
    boot_test_time_limits,
    boot_tests_reap,
    masked_rejections,
    masked_settings,
)
from builds.host_agent import queues_for_this_host
from builds.models import Artifact, BootTestState, Build
from builds.services import build_enqueue, build_release
from builds.tasks import claimed_boot_test_run
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint
from tests.conftest import TEST_REDIS_URL
from tests.factories import BlueprintFactory, BuildFactory
from tests.fake_boot_test import PANIC, BootTestResult

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded", "data_dirs", "build_host")]

WIFI_KEY = "Garden-Wifi-9"
DB_DEFAULT = "DbDefault42"


@pytest.fixture(autouse=True)
def fake_boot_test(settings, monkeypatch, tmp_path: Path) -> Path:
    """This process runs the stand-in; its runs are marked in the returned directory."""
    settings.GENPACK_BOOT_TEST_MODULE = "tests.fake_boot_test"
    marks = tmp_path / "boot-test-runs"
    monkeypatch.setenv("FAKE_BOOT_TEST_MARKS", str(marks))
    for name in ("FAKE_BOOT_TEST_FAIL", "FAKE_BOOT_TEST_HOST_ERROR", "FAKE_BOOT_TEST_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return marks


def _fresh(build: Build) -> Build:
    return Build.objects.get(pk=build.pk)


def _boot_tested(build: Build) -> Build:
    """What the boot test task does once it has the message: claim, run, record."""
    assert boot_test_claim(build_id=build.pk, task_id="t")
    claimed_boot_test_run(build.pk)
    return _fresh(build)


def _secret_build() -> Build:
    """A succeeded build for the PC profile (it has Wi-Fi) whose blueprint sets a Wi-Fi key
    and a password-like app setting."""
    pc = HardwareProfile.objects.get(slug="pc-x86_64")
    blueprint = BlueprintFactory(name="kiosk", targets=[pc])
    source = blueprint.latest_revision.source.replace(
        "packages: []",
        'packages: [],\n  settings: [{section: "app", key: "db_password", '
        f'default: "{DB_DEFAULT}"}}],\n  system_ini: {{wifi_ssid: "Shop", wifi_key: "{WIFI_KEY}"}}',
    )
    revision = blueprint_revise(
        blueprint=blueprint, source=source, message="secrets", author=None, based_on=1
    )
    return BuildFactory(revision=revision, profile=pc, state=Build.State.SUCCEEDED)


def _page(client: Client, build: Build) -> str:
    response = client.get(f"/builds/{build.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_publishing_a_build_queues_its_boot_test(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks() as sent:
        build = BuildFactory(state=Build.State.SUCCEEDED)

    assert build.state == Build.State.SUCCEEDED
    assert build.boot_test_state == BootTestState.PENDING
    assert build.boot_test_heartbeat_at is not None  # when its message was sent
    # The build's own message at enqueue, then the boot test's once published.
    assert len(sent) == 2


def test_a_profile_that_is_not_emulated_is_skipped_with_that_label(
    kvm, product_manager: Client, django_capture_on_commit_callbacks
) -> None:
    HardwareProfile.objects.filter(pk=kvm.pk).update(boot_test_machine="")
    with django_capture_on_commit_callbacks() as sent:
        build = BuildFactory(state=Build.State.SUCCEEDED)

    assert build.boot_test_state == BootTestState.SKIPPED
    assert build.boot_test_error == NOT_EMULATED
    assert len(sent) == 1  # only the build's: no boot test is sent
    assert not boot_test_claim(build_id=build.pk, task_id="t")
    page = _page(product_manager, build)
    assert 'data-testid="boot-test-state">not emulated</span>' in page
    assert "This board is not emulated" in page
    listing = product_manager.get("/builds/").content.decode()
    assert 'data-testid="boot-test-badge">not emulated</span>' in listing


def test_a_boot_test_is_claimed_once() -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)

    assert boot_test_claim(build_id=build.pk, task_id="first")
    assert not boot_test_claim(build_id=build.pk, task_id="redelivered")
    assert _fresh(build).boot_test_task_id == "first"


def test_a_build_that_did_not_succeed_has_no_boot_test() -> None:
    build = BuildFactory(state=Build.State.FAILED)

    assert build.boot_test_state == ""
    assert not boot_test_claim(build_id=build.pk, task_id="t")


def test_the_test_system_ini_is_the_builds_own_plus_a_hostname() -> None:
    build = _secret_build()

    text = boot_test_system_ini(build)

    assert f"\nhostname=boot-test-{build.pk}\r\n" in text
    assert "\nwifi_ssid=Shop\r\n" in text  # the blueprint's defaults, as in the image
    assert f"\ndb_password={DB_DEFAULT}\r\n" in text


def test_a_passed_boot_test_records_login_time_applied_keys_and_console_log(
    fake_boot_test: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_BOOT_TEST_LOGIN_SECONDS", "38.4")
    build = BuildFactory(state=Build.State.SUCCEEDED)

    build = _boot_tested(build)

    assert build.boot_test_state == BootTestState.PASSED
    assert build.boot_test_login_seconds == 38.4
    assert build.boot_test_applied["hostname"] == f"boot-test-{build.pk}"
    assert build.boot_test_error == ""
    assert build.boot_test_finished_at is not None
    console = build.artifacts.get(kind=Artifact.Kind.CONSOLE_LOG)
    path = paths.artifacts_root() / console.path
    assert path.parent == paths.build_artifacts_dir(build.pk)
    assert f"boot-test-{build.pk} login:" in path.read_text()
    assert path.stat().st_size == console.size
    assert not paths.boot_test_work_dir(build.pk).exists()
    assert not list(path.parent.glob(".console-*"))  # no temp file left
    # The build log is complete with the build (its page stopped reading it): not appended to.
    assert not paths.build_log_path(build.pk).exists()  # (the factory's build wrote none)


def test_an_image_that_does_not_boot_fails_with_its_console_log(
    fake_boot_test: Path, monkeypatch, product_manager: Client
) -> None:
    monkeypatch.setenv("FAKE_BOOT_TEST_FAIL", "panic")
    build = _boot_tested(BuildFactory(state=Build.State.SUCCEEDED))

    assert build.state == Build.State.SUCCEEDED  # the build itself is not changed
    assert build.boot_test_state == BootTestState.FAILED
    assert PANIC in build.boot_test_error
    assert build.boot_test_login_seconds is None
    console = build.artifacts.get(kind=Artifact.Kind.CONSOLE_LOG)
    assert PANIC in (paths.artifacts_root() / console.path).read_text()
    page = _page(product_manager, build)
    assert 'data-testid="boot-test-state">Boot test failed</span>' in page
    assert PANIC in page
    assert "did not come up as it should" in page
    assert f'href="/builds/{build.pk}/download/console-log/"' in page
    download = product_manager.get(f"/builds/{build.pk}/download/console-log/")
    assert PANIC.encode() in b"".join(download.streaming_content)


def test_a_build_without_its_disk_image_fails_its_boot_test_in_words() -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED, files=[("manifest", "m.json", b"{}")])

    build = _boot_tested(build)

    assert build.boot_test_state == BootTestState.FAILED
    assert "no raw disk image to boot" in build.boot_test_error


def test_console_log_applied_keys_and_page_never_show_secrets(
    product_manager: Client,
) -> None:
    build = _boot_tested(_secret_build())

    assert build.boot_test_state == BootTestState.PASSED
    # The stand-in is a careless device: it echoed both secrets and reported them unmasked.
    assert set(build.boot_test_applied) >= {"wifi_key", "app.db_password", "hostname"}
    console = build.artifacts.get(kind=Artifact.Kind.CONSOLE_LOG)
    console_text = (paths.artifacts_root() / console.path).read_text()
    assert "careless-agent: wifi_key is" in console_text
    page = _page(product_manager, build)
    assert f"boot-test-{build.pk}" in page  # the applied hostname is shown
    assert "<code>wifi_key</code>" in page
    stored = json.dumps(build.boot_test_applied)
    for text in (console_text, stored, page):
        assert WIFI_KEY not in text
        assert DB_DEFAULT not in text


def test_masking_covers_secret_keys_and_secret_values_anywhere() -> None:
    secrets = [WIFI_KEY]
    assert masked_settings({"wifi_key": "x", "motd": f"join {WIFI_KEY}"}, secrets) == {
        "wifi_key": "********",
        "motd": "join ********",
    }
    assert masked_rejections({"ssid": f"no network for key {WIFI_KEY}"}, secrets) == {
        "ssid": "no network for key ********"
    }


def test_a_cache_hit_shows_its_source_builds_boot_test(kvm, product_manager: Client) -> None:
    blueprint = make_blueprint("kiosk")
    source = _boot_tested(
        BuildFactory(revision=blueprint.latest_revision, state=Build.State.SUCCEEDED)
    )
    hit = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)

    assert hit.cache_hit_of == source
    assert hit.boot_test_state == ""  # its own row holds nothing: the source's is shown
    page = _page(product_manager, hit)
    assert 'data-testid="boot-test-state">Boot test passed</span>' in page
    assert f'The result of <a href="/builds/{source.pk}/">build #{source.pk}</a>' in page
    assert f"boot-test-{source.pk}" in page
    download = product_manager.get(f"/builds/{hit.pk}/download/console-log/")
    assert download.status_code == 200
    assert "Cancel boot test" not in page
    listing = product_manager.get("/builds/").content.decode()
    assert listing.count('data-testid="boot-test-badge">boot test passed</span>') == 2


def test_the_page_shows_a_running_boot_test_and_polls_it(product_manager: Client) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    page = _page(product_manager, build)
    assert 'data-testid="boot-test-state">Boot test waiting</span>' in page
    assert f'hx-get="/builds/{build.pk}/boot-test/"' in page
    assert boot_test_claim(build_id=build.pk, task_id="t")

    polled = product_manager.get(f"/builds/{build.pk}/boot-test/", HTTP_HX_REQUEST="true")

    assert polled.status_code == 200
    text = polled.content.decode()
    assert "Boot test running" in text and "Running for" in text
    assert "Cancel boot test" in text
    assert f'hx-get="/builds/{build.pk}/boot-test/"' in text
    claimed_boot_test_run(build.pk)
    done = product_manager.get(f"/builds/{build.pk}/boot-test/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # htmx stops polling
    assert "Boot test passed" in done.content.decode()
    assert "hx-get" not in done.content.decode()
    # Opened on its own, it is the build page.
    plain = product_manager.get(f"/builds/{build.pk}/boot-test/")
    assert plain.status_code == 302 and plain.url == f"/builds/{build.pk}/#boot-test"


def test_a_product_manager_cancels_a_boot_test(product_manager: Client) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    assert boot_test_claim(build_id=build.pk, task_id="t")

    response = product_manager.post(f"/builds/{build.pk}/boot-test/cancel/", follow=True)

    assert response.status_code == 200
    build = _fresh(build)
    assert build.boot_test_state == BootTestState.CANCELLED
    assert build.boot_test_error == "Cancelled by pam."
    assert not boot_test_heartbeat(build_id=build.pk)  # the worker's next beat says stop
    page = response.content.decode()
    assert "Boot test cancelled" in page and "Cancelled by pam." in page
    assert "Cancel boot test" not in page
    again = product_manager.post(f"/builds/{build.pk}/boot-test/cancel/", follow=True)
    assert "had already finished" in again.content.decode()


@pytest.mark.parametrize("persona", ["technician", "outsider", "anonymous"])
def test_who_may_not_cancel_builds_may_not_cancel_a_boot_test(persona: str, request) -> None:
    client: Client = request.getfixturevalue(persona)
    build = BuildFactory(state=Build.State.SUCCEEDED)
    build_release(build=build)

    response = client.post(f"/builds/{build.pk}/boot-test/cancel/")

    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response.url.startswith("/accounts/login/")
    assert _fresh(build).boot_test_state == BootTestState.PENDING


def test_a_technician_sees_the_result_without_a_cancel_button(technician: Client) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    # Released by an admin's override while its boot test waits (the gate is tested elsewhere).
    Build.objects.filter(pk=build.pk).update(released=True)

    page = _page(technician, build)

    assert "Boot test waiting" in page
    assert "Cancel boot test" not in page


def test_the_reaper_fails_lost_boot_tests_and_resends_pending_ones(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.GENPACK_WORKER_LOST_SECONDS = 60
    settings.GENPACK_REQUEUE_AFTER_SECONDS = 300
    lost = BuildFactory(state=Build.State.SUCCEEDED)
    waiting = BuildFactory(state=Build.State.SUCCEEDED)
    fresh = BuildFactory(state=Build.State.SUCCEEDED)
    assert boot_test_claim(build_id=lost.pk, task_id="t")
    long_ago = timezone.now() - timedelta(seconds=400)
    Build.objects.filter(pk__in=[lost.pk, waiting.pk]).update(boot_test_heartbeat_at=long_ago)

    with django_capture_on_commit_callbacks() as sent:
        reaped = boot_tests_reap()

    assert reaped == {"boot_tests_lost": [lost.pk], "boot_tests_resent": [waiting.pk]}
    assert len(sent) == 1
    lost = _fresh(lost)
    assert lost.boot_test_state == BootTestState.FAILED
    assert lost.boot_test_error == WORKER_LOST
    assert "stopped responding" in WORKER_LOST
    assert _fresh(waiting).boot_test_state == BootTestState.PENDING
    assert _fresh(waiting).boot_test_heartbeat_at > long_ago
    assert _fresh(fresh).boot_test_state == BootTestState.PENDING
    assert boot_tests_reap() == {"boot_tests_lost": [], "boot_tests_resent": []}


def test_a_worker_keeps_the_boottest_queue_whatever_it_can_build() -> None:
    queues = Queues()
    queues.select(["celery", "amd64", "arm64", "boottest"])

    kept = queues_for_this_host(queues, ["amd64"])

    assert kept == ["amd64", "boottest", "celery"]


@pytest.mark.django_db(transaction=True)
def test_the_boot_test_message_carries_the_profiles_time_limits(
    kvm, redis_celery, settings
) -> None:
    """Sent for real to the test Redis (no worker reads it here): on the boottest queue,
    with the profile's timeout plus the margin as Celery's soft limit."""
    settings.GENPACK_BOOT_TEST_MARGIN_SECONDS = 120
    HardwareProfile.objects.filter(pk=kvm.pk).update(boot_test_timeout_seconds=300)
    build = BuildFactory(state=Build.State.SUCCEEDED)
    assert boot_test_time_limits(build) == (420, 504)

    raw = subprocess.run(
        ["redis-cli", "-u", TEST_REDIS_URL, "lrange", "boottest", "0", "-1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    messages = [json.loads(line) for line in raw if line.strip()]
    [message] = [m for m in messages if m["headers"]["task"] == "builds.boot_test"]
    assert json.loads(message["headers"]["argsrepr"]) == [build.pk]
    assert message["headers"]["timelimit"] == [504, 420]  # [hard, soft]


def test_a_boot_test_ended_by_the_site_says_it_says_nothing_about_the_image(
    product_manager: Client,
) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    assert boot_test_claim(build_id=build.pk, task_id="t")
    assert boot_test_fail(build_id=build.pk, error=WORKER_LOST)

    page = _page(product_manager, build)

    assert 'data-testid="boot-test-state">Boot test failed</span>' in page
    assert "this says nothing about the image" in page
    assert "stopped responding" in page
    assert 'data-testid="console-log"' not in page


def test_a_build_made_before_boot_tests_says_so(product_manager: Client) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    Build.objects.filter(pk=build.pk).update(boot_test_state="", boot_test_heartbeat_at=None)

    page = _page(product_manager, build)

    assert "Not boot tested: this build was made before boot tests existed." in page
    assert f'hx-get="/builds/{build.pk}/boot-test/"' not in page
    assert 'data-testid="boot-test-badge"' not in product_manager.get("/builds/").content.decode()


def test_a_runaway_console_keeps_its_end_where_the_boot_failed(settings, tmp_path: Path) -> None:
    settings.GENPACK_CONSOLE_LOG_MAX_BYTES = 4096
    build = BuildFactory(state=Build.State.SUCCEEDED)
    assert boot_test_claim(build_id=build.pk, task_id="t")
    console = tmp_path / "console.log"
    console.write_text("".join(f"[{n:6}] a noisy driver\n" for n in range(10_000)) + PANIC + "\n")
    result = BootTestResult(
        passed=False, reason="the kernel panicked", login_seconds=None, console_log=console
    )

    assert boot_test_record(build_id=build.pk, result=result, secrets=[])

    artifact = _fresh(build).artifacts.get(kind=Artifact.Kind.CONSOLE_LOG)
    text = (paths.artifacts_root() / artifact.path).read_text()
    assert artifact.size <= 4096 + 100
    assert text.startswith("[the first ") and "bytes of the console output cut]\n[" in text
    assert text.rstrip().endswith(PANIC)
    assert not boot_test_record(build_id=build.pk, result=result, secrets=[])  # recorded once


def test_the_page_shows_where_the_boot_time_went(
    fake_boot_test: Path, product_manager: Client
) -> None:
    build = _boot_tested(BuildFactory(state=Build.State.SUCCEEDED))
    assert build.boot_test_phases == {
        "firmware and boot loader": 21.4,
        "kernel": 3.8,
        "initramfs": 9.9,
        "system until login": 40.2,
    }

    page = _page(product_manager, build)

    table = page.split('data-testid="boot-test-phases"', 1)[1].split("</table>", 1)[0]
    assert "Where the boot time went" in table
    rows = [row.split("</tr>")[0] for row in table.split("<tr>")[1:]]
    assert [row.split("</th>")[0].split(">")[-1] for row in rows] == [
        "Firmware and boot loader", "Kernel", "Initramfs", "System until login",
    ]  # fmt: skip
    assert "<td>3.8 s</td>" in rows[1] and "<td>40 s</td>" in rows[3]
    assert 'value="53"' in rows[3]  # 40.2 of 75.3 s


def test_the_page_shows_the_units_that_took_longest_to_start(
    fake_boot_test: Path, product_manager: Client
) -> None:
    build = _boot_tested(BuildFactory(state=Build.State.SUCCEEDED))
    assert build.boot_test_units[:2] == [
        ["genpack-agent.service", 9.87], ["systemd-udev-trigger.service", 4.2],
    ]  # fmt: skip

    page = _page(product_manager, build)

    table = page.split('data-testid="boot-test-units"', 1)[1].split("</table>", 1)[0]
    assert "systemd-analyze blame" in table
    assert "<td><code>genpack-agent.service</code></td><td>9.9 s</td>" in table
    assert "&lt;b&gt;x.service" in table and "<b>x" not in table  # a unit name is text


def test_units_that_are_not_unit_rows_never_reach_the_page() -> None:
    from builds.boot_tests import _units

    rows = [("a.service", 1.234), ("b", "2"), ("c", -1), ("d", True), ["e.mount", 2], "x", (1,)]
    assert _units(rows) == [["a.service", 1.23], ["e.mount", 2.0]]
    assert _units(None) == [] and _units([("u", 1)] * 50) == [["u", 1.0]] * 20


def test_phases_that_are_not_numbers_never_reach_the_page() -> None:
    from builds.boot_tests import _phases

    assert _phases({"kernel": 3.84, "<b>x</b>": "12", "bad": -1, "flag": True}) == {"kernel": 3.8}
    assert _phases(None) == {}
