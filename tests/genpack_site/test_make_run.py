"""`make run` on the embedded defaults: SQLite and a broker that needs no server."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.harness import ROOT, free_port, stop_process, wait_until

SERVER_SETTINGS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def _login_page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


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
        check = subprocess.run(
            [sys.executable, "manage.py", "check_worker", "--timeout", "90"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "A worker ran task" in check.stdout
    finally:
        output = stop_process(run)
    assert "First admin created" in output
    assert (tmp_path / "db.sqlite3").exists()
    assert (tmp_path / "celery-broker.sqlite3").exists()
