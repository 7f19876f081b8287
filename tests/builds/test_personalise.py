"""Per-device copies: at most GENPACK_MAX_PERSONALISING at once, only with disk room."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from django.test import Client

from builds import paths
from builds.models import Build
from builds.personalise import artifact_personalised, personal_checksum_path
from builds.services import ProducedFile, build_claim, build_enqueue, build_publish
from tests.builds.conftest import make_blueprint
from tests.images import small_disk_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

DEVICE = {"network": "dhcp", "hostname": "dev-07"}

# Another process (a second gunicorn worker) holding the slot lock files until told to stop.
HOLD_SLOTS = """
import fcntl, sys
from pathlib import Path
held = []
for name in sys.argv[2:]:
    path = Path(sys.argv[1]) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.append(handle)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def image_build(kvm) -> Build:
    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    image = small_disk_image(staging, "kiosk.img")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    produced = ProducedFile("disk-raw", "kiosk.img", image.stat().st_size, digest)
    assert build_publish(build_id=build.pk, staging=staging, files=[produced])
    return build


def _copies() -> list:
    directory = paths.personal_dir()
    return list(directory.glob("*.img")) if directory.exists() else []


def test_a_third_copy_while_two_are_being_streamed_is_refused_as_busy(
    product_manager: Client, image_build: Build, settings
) -> None:
    settings.GENPACK_MAX_PERSONALISING = 2
    url = f"/builds/{image_build.pk}/personalise/"
    streaming = [product_manager.post(url, DEVICE) for _ in range(2)]
    assert all(response.status_code == 200 for response in streaming)
    busy = product_manager.post(url, DEVICE, follow=True)
    assert "busy preparing other personalised images" in busy.content.decode()
    assert len(_copies()) == 2
    for response in streaming:
        b"".join(response.streaming_content)  # the client closes the response at the end
    assert _copies() == []
    assert product_manager.post(url, DEVICE).status_code == 200  # slots are free again


def test_the_limit_holds_across_processes(
    product_manager: Client, image_build: Build, settings
) -> None:
    settings.GENPACK_MAX_PERSONALISING = 2
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_SLOTS,
            str(paths.personal_slots_dir()),
            "0.lock",
            "1.lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = product_manager.post(f"/builds/{image_build.pk}/personalise/", DEVICE, follow=True)
        assert "busy preparing other personalised images" in busy.content.decode()
    finally:
        holder.communicate("", timeout=10)  # ends it: the kernel drops its locks
    assert product_manager.post(f"/builds/{image_build.pk}/personalise/", DEVICE).status_code == 200


def test_no_room_for_the_copy_is_refused_with_a_message_and_leaves_nothing(
    product_manager: Client, image_build: Build, settings
) -> None:
    settings.GENPACK_PERSONALISE_MARGIN_BYTES = 10**18
    url = f"/builds/{image_build.pk}/personalise/"
    refused = product_manager.post(url, DEVICE, follow=True)
    assert refused.status_code == 200
    assert "not enough disk space on the server" in refused.content.decode()
    assert _copies() == []
    settings.GENPACK_PERSONALISE_MARGIN_BYTES = 0
    settings.GENPACK_MAX_PERSONALISING = 1
    assert product_manager.post(url, DEVICE).status_code == 200  # the slot was given back


TOKEN = "0123456789abcdef" * 2


def test_the_checksum_of_a_personalised_copy_is_there_once_it_has_been_sent_whole(
    product_manager: Client, image_build: Build
) -> None:
    page = product_manager.get(f"/builds/{image_build.pk}/personalise/").content.decode()
    assert 'name="download_token"' in page and "/static/js/personal-checksum" in page
    checksum_url = f"/builds/{image_build.pk}/personalise/{TOKEN}.sha256"
    response = product_manager.post(
        f"/builds/{image_build.pk}/personalise/", {**DEVICE, "download_token": TOKEN}
    )
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    sent = next(chunks)
    assert product_manager.get(checksum_url).status_code == 404  # not sent whole yet
    sent += b"".join(chunks)
    checksum = product_manager.get(checksum_url)
    assert checksum.status_code == 200
    assert checksum.content.decode() == f"{hashlib.sha256(sent).hexdigest()}  kiosk-dev-07.img\n"
    assert "kiosk-dev-07.img.sha256" in checksum["Content-Disposition"]
    published = (paths.artifacts_root() / image_build.artifacts.get().path).read_bytes()
    assert hashlib.sha256(published).hexdigest() not in checksum.content.decode()


def test_a_new_download_with_the_same_token_removes_the_old_checksum_first(
    product_manager: Client, image_build: Build
) -> None:
    url = f"/builds/{image_build.pk}/personalise/"
    checksum_url = f"{url}{TOKEN}.sha256"
    b"".join(product_manager.post(url, {**DEVICE, "download_token": TOKEN}).streaming_content)
    assert product_manager.get(checksum_url).status_code == 200
    again = product_manager.post(url, {**DEVICE, "hostname": "dev-08", "download_token": TOKEN})
    assert product_manager.get(checksum_url).status_code == 404  # never the other device's
    b"".join(again.streaming_content)
    assert product_manager.get(checksum_url).content.decode().endswith("  kiosk-dev-08.img\n")


def test_a_copy_the_client_broke_off_leaves_no_checksum(image_build: Build) -> None:
    checksum = personal_checksum_path(user_id=1, build_id=image_build.pk, token=TOKEN)
    copy = artifact_personalised(
        artifact=image_build.artifacts.get(),
        system_ini="hostname = dev-07\n",
        name="kiosk-dev-07.img",
        checksum_path=checksum,
    )
    chunks = iter(copy)
    next(chunks)
    chunks.close()  # the server stops sending when the client leaves
    copy.close()
    assert not checksum.exists() and _copies() == []


def test_a_personal_checksum_is_only_for_who_downloaded_it(
    product_manager: Client, admin_client_role: Client, image_build: Build
) -> None:
    url = f"/builds/{image_build.pk}/personalise/"
    b"".join(product_manager.post(url, {**DEVICE, "download_token": TOKEN}).streaming_content)
    assert product_manager.get(f"{url}{TOKEN}.sha256").status_code == 200
    assert admin_client_role.get(f"{url}{TOKEN}.sha256").status_code == 404
    assert product_manager.get(f"{url}not-a-token.sha256").status_code == 404


def test_a_download_without_a_token_still_works(
    product_manager: Client, image_build: Build
) -> None:
    response = product_manager.post(
        f"/builds/{image_build.pk}/personalise/", {**DEVICE, "download_token": "../../x"}
    )
    assert response.status_code == 200 and b"".join(response.streaming_content)
    assert not paths.personal_checksums_dir().exists()
