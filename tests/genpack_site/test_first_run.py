"""The first `make run` on a machine without Python 3.12: scripts/python.sh finds one where
users keep it (PATH, pyenv, uv) or says what to install, and only with a venv module."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.harness import ROOT, free_port

# The Python the tests run on is >= 3.12 (Django 6); the real binary, not the venv's link.
NEW_PYTHON = Path(os.path.realpath(sys.executable))
OLD_PYTHON = Path("/usr/bin/python3")  # Debian 12's 3.11


def _python_sh(tmp_path: Path, *, path_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """scripts/python.sh with nothing on PATH but `path_dir` and a HOME of its own."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "python.sh")],
        env={"PATH": str(path_dir), "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _bin(tmp_path: Path, **links: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    for name, target in links.items():
        (directory / name).symlink_to(target)
    return directory


def _old_python_only(tmp_path: Path) -> Path:
    if (
        not OLD_PYTHON.exists()
        or subprocess.run(
            [OLD_PYTHON, "-c", "import sys; sys.exit(sys.version_info >= (3, 12))"]
        ).returncode
    ):
        pytest.skip("needs the system's Python 3.11 at /usr/bin/python3 (Debian 12)")
    return _bin(tmp_path, python3=OLD_PYTHON)


def test_without_python_312_it_says_what_to_install_for_each_system(tmp_path: Path) -> None:
    run = _python_sh(tmp_path, path_dir=_old_python_only(tmp_path))
    assert run.returncode == 1
    assert run.stdout == ""
    message = run.stderr
    assert message.startswith("error: genpack-site needs Python 3.12 or newer")
    assert f"This machine has Python 3.11 ({tmp_path}/bin/python3)." in message
    assert "Debian 13, Ubuntu 24.04:  apt-get install python3 python3-venv" in message
    assert "apt-get install pipx && pipx install uv && ~/.local/bin/uv python install 3.12" in (
        message
    )
    assert "pyenv install 3.12" in message
    assert "command not found" not in message


def test_quiet_says_nothing(tmp_path: Path) -> None:
    bin_dir = _old_python_only(tmp_path)
    run = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "python.sh"), "--quiet"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert (run.returncode, run.stdout, run.stderr) == (1, "", "")


def test_python_312_on_path_is_found(tmp_path: Path) -> None:
    run = _python_sh(
        tmp_path, path_dir=_bin(tmp_path, python3=OLD_PYTHON, **{"python3.12": NEW_PYTHON})
    )
    assert (run.returncode, run.stdout) == (0, f"{tmp_path}/bin/python3.12\n")


def test_a_python_of_uv_is_found(tmp_path: Path) -> None:
    bin_dir = _old_python_only(tmp_path)
    uv_python = tmp_path / "share" / "uv" / "python" / "cpython-3.12.8-linux-x86_64-gnu" / "bin"
    uv_python.mkdir(parents=True)
    (uv_python / "python3").symlink_to(NEW_PYTHON)
    run = _python_sh(tmp_path, path_dir=bin_dir, XDG_DATA_HOME=str(tmp_path / "share"))
    assert (run.returncode, run.stdout) == (0, f"{uv_python}/python3\n")


def test_a_python_of_pyenv_is_found(tmp_path: Path) -> None:
    bin_dir = _old_python_only(tmp_path)
    pyenv_python = tmp_path / "pyenv" / "versions" / "3.12.7" / "bin"
    pyenv_python.mkdir(parents=True)
    (pyenv_python / "python").symlink_to(NEW_PYTHON)
    run = _python_sh(tmp_path, path_dir=bin_dir, PYENV_ROOT=str(tmp_path / "pyenv"))
    assert (run.returncode, run.stdout) == (0, f"{pyenv_python}/python\n")


def test_a_python_without_venv_is_passed_over_with_the_package_to_install(
    tmp_path: Path,
) -> None:
    # What Debian's and Ubuntu's python3.12 is without python3.12-venv: no ensurepip.
    no_ensurepip = tmp_path / "no-ensurepip"
    (no_ensurepip / "ensurepip").mkdir(parents=True)
    (no_ensurepip / "ensurepip" / "__init__.py").write_text("raise ImportError('stripped')\n")
    bin_dir = _old_python_only(tmp_path)
    wrapper = bin_dir / "python3.12"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={no_ensurepip} exec {NEW_PYTHON} "$@"\n')
    wrapper.chmod(0o755)
    run = _python_sh(tmp_path, path_dir=bin_dir)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert run.returncode == 1
    assert f"{wrapper} (Python {version}) is here but cannot make one" in run.stderr
    assert f"apt-get install python{version}-venv" in run.stderr


# --------------------------------------------------------------------------------------------
# `make run` is quiet and ends with the URL and the login
# --------------------------------------------------------------------------------------------


def _run_recipe() -> list[str]:
    lines = (ROOT / "Makefile").read_text().split("\nrun: install\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in lines.splitlines() if line.startswith("\t")]


def test_make_run_echoes_no_commands_and_its_setup_steps_are_quiet() -> None:
    recipe = _run_recipe()
    assert recipe and all(line.startswith("@") for line in recipe)
    for line in recipe:
        if "manage.py" in line:
            assert " -v0" in line, line
    assert recipe[-1].endswith("honcho start --no-prefix")


def test_the_procfile_prints_the_login_last_once_the_web_answers() -> None:
    procfile = dict(
        line.split(": ", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "--access-logfile" not in procfile["web"]
    assert "--quiet" in procfile["worker"]
    assert "manage.py ensure_admin --wait-for-web" in procfile["ready"]
    # honcho stops every process when one exits: `ready` stays once it has spoken.
    assert procfile["ready"].endswith("&& exec sleep infinity")


@pytest.mark.django_db
def test_seed_at_v0_says_nothing(seeded: None) -> None:
    out = io.StringIO()
    call_command("seed", verbosity=0, stdout=out)
    assert out.getvalue() == ""


@pytest.mark.django_db(transaction=True)
def test_the_login_comes_once_the_web_answers(live_server, seeded: None) -> None:
    out = io.StringIO()
    url = f"{live_server.url}/"
    call_command("ensure_admin", "--wait-for-web", "--url", url, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert lines[0] == f"genpack-site is running at {url}"
    assert lines[1] == "  First admin created."
    assert lines[2] == "    user:     admin"
    assert re.fullmatch(r"    password: \S{12,}", lines[3])
    assert lines[-1] == "  Ctrl-C stops the web server and the build worker."
    again = io.StringIO()
    call_command("ensure_admin", "--wait-for-web", "--url", url, stdout=again)
    assert "  Log in as admin (forgot the password?" in again.getvalue()
    assert "password:" not in again.getvalue()


@pytest.mark.django_db
def test_no_login_is_printed_when_the_web_never_answers(seeded: None) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    out = io.StringIO()
    with pytest.raises(CommandError, match="did not answer"):
        call_command(
            "ensure_admin", "--wait-for-web", "--url", url, "--wait-seconds", "0.5", stdout=out
        )
    assert out.getvalue() == ""
