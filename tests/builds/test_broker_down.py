"""A build started while the message broker is down: a clear message, no 500, no dead row."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group

from builds.models import Build
from genpack_site import roles
from tests.builds.conftest import make_blueprint
from tests.factories import UserFactory
from tests.harness import ROOT

# Runs in a separate process so that its Celery app really talks to the dead broker.
CLICKS = """
import json, os, sys, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "genpack_site.settings"
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
client.force_login(get_user_model().objects.get(username=sys.argv[1]))
clicks = []
for _ in range(2):
    started = time.monotonic()
    response = client.post(f"/builds/start/{sys.argv[2]}/", follow=True)
    clicks.append({
        "status": response.status_code,
        "seconds": time.monotonic() - started,
        "messages": [str(m) for m in response.context["messages"]] if response.context else [],
    })
print(json.dumps(clicks))
"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@pytest.mark.usefixtures("seeded", "build_host")
def test_starting_a_build_with_the_broker_down_says_the_queue_is_unavailable(
    worker_env: dict[str, str],
) -> None:
    pam = UserFactory(username="pam", groups=[Group.objects.get(name=roles.PRODUCT_MANAGER)])
    make_blueprint("kiosk")
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    env = dict(worker_env, CELERY_BROKER_URL=dead, CELERY_RESULT_BACKEND=dead)
    run = subprocess.run(
        [sys.executable, "-c", CLICKS, pam.username, "kiosk"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    clicks = json.loads(run.stdout.strip().splitlines()[-1])
    for click in clicks:
        assert click["status"] == 200  # no 500: redirected to a page with the message
        assert any("build queue is unavailable" in m for m in click["messages"]), click
        assert click["seconds"] < 15  # bounded connect and retry, not a long hang
    builds = list(Build.objects.all())
    # Each click tried afresh (no click joined a dead queued build), and no row stays queued.
    assert len(builds) == 2
    assert {build.state for build in builds} == {Build.State.FAILED}
    assert all("build queue is unavailable" in build.error for build in builds)
