from __future__ import annotations

import os
import secrets
import subprocess
import sys

from tests.harness import ROOT

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "images.example.com",
    "GENPACK_HTTPS": "1",
    "GENPACK_BEHIND_PROXY": "1",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
}


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_with_production_settings() -> None:
    result = _check_deploy(PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_warns_without_https() -> None:
    """Proves the check above can fail: the same settings minus HTTPS are flagged."""
    result = _check_deploy({**PRODUCTION_ENV, "GENPACK_HTTPS": "0"})
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr
