"""Per-device copies: at most GENPACK_MAX_PERSONALISING at once, only with disk room."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from django.test import Client

from builds import paths
from builds.models import Build
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
