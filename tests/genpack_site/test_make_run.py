"""`make run` on the embedded defaults: SQLite and a broker that needs no server."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from image_builder.hostarch import buildable_architectures
from tests.harness import ROOT, free_port, stop_process, wait_until

SERVER_SETTINGS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def _login_page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _build_hosts(database: Path) -> list[tuple[str, list[str], list[str]]]:
    """(name, architectures, queues) of each worker that announced itself (builds/hosts.py)."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT name, architectures, queues FROM builds_buildhost").fetchall()
    return [(name, json.loads(arches), json.loads(queues)) for name, arches, queues in rows]


def test_make_run_serves_login_and_its_worker_runs_a_task(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVER_SETTINGS}
    env.update(GENPACK_DATA_DIR=str(tmp_path), GENPACK_BIND=f"127.0.0.1:{port}")
    run = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/accounts/login/"
        assert wait_until(lambda: _login_page(url) is not None, timeout=240), "web never came up"
        assert 'name="password"' in _login_page(url)
        # The worker's first task is make run's package-index load from the real mirror (the
        # suite and its -updates and -security pockets, about a minute): the check waits its turn.
        check = subprocess.run(
            [sys.executable, "manage.py", "check_worker", "--timeout", "300"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=330,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "A worker ran task" in check.stdout
        # The Procfile asks for celery,amd64,arm64,boottest; the worker keeps the arch queues
        # its host can really build (arm64 only where qemu-user works), and the boot tests',
        # and says so in the database.
        assert wait_until(lambda: _build_hosts(tmp_path / "db.sqlite3"), timeout=30)
        [(_, architectures, queues)] = _build_hosts(tmp_path / "db.sqlite3")
        assert architectures == buildable_architectures()
        assert queues == sorted(["boottest", "celery", *architectures])
    finally:
        output = stop_process(run)
    assert "First admin created" in output
    # Quiet, ending with the URL and the login (then only honcho's own stop lines).
    started = output.index(f"genpack-site is running at http://127.0.0.1:{port}/")
    assert "    user:     admin" in output[started:]
    assert "Ctrl-C stops" in output[started:]
    for noise in ("Applying ", "Roles up to date", '"GET /accounts/login/', "celery@", "[INFO]"):
        assert noise not in output, noise
    assert (tmp_path / "db.sqlite3").exists()
    assert (tmp_path / "celery-broker.sqlite3").exists()
