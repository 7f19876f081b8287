#!/usr/bin/env bash
# Prints a Python >= 3.12 that can make a virtual environment (Django 6 needs 3.12; Debian 12
# ships 3.11). Looks on PATH, then in pyenv's versions, then in the Pythons uv installed
# (`uv python install 3.12`, what scripts/get-python.sh does on a Debian 12 machine).
# Exits 1 saying what to install when there is none; `scripts/python.sh --quiet` says nothing.
set -euo pipefail
shopt -s nullglob

quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1

pyenv_versions="${PYENV_ROOT:-$HOME/.pyenv}/versions"
uv_pythons="${UV_PYTHON_INSTALL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/uv/python}"
candidates=(
    python3.12 python3.13 python3.14 python3
    "$pyenv_versions"/3.1[2-9]*/bin/python
    "$uv_pythons"/cpython-3.1[2-9]*/bin/python3
)

too_old=""  # the newest too-old Python seen, for the message
no_venv=""  # a new enough Python whose venv module cannot work (Debian's python3.X-venv)
no_venv_version=""
for candidate in "${candidates[@]}"; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    version=$("$path" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
        || continue
    if ! "$path" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        too_old="${too_old:-Python $version ($path)}"
        continue
    fi
    # Debian and Ubuntu keep ensurepip, which `python -m venv` needs, in python3.X-venv.
    if ! "$path" -c 'import ensurepip, venv' 2>/dev/null; then
        if [ -z "$no_venv" ]; then
            no_venv=$path
            no_venv_version=$version
        fi
        continue
    fi
    echo "$path"
    exit 0
done

[ "$quiet" = 1 ] && exit 1
{
    echo "error: genpack-site needs Python 3.12 or newer (python3.12 on PATH, under pyenv, or"
    echo "installed by uv) that can make a virtual environment."
    if [ -n "$no_venv" ]; then
        echo "  $no_venv (Python $no_venv_version) is here but cannot make one:" \
            "apt-get install python$no_venv_version-venv"
    elif [ -n "$too_old" ]; then
        echo "  This machine has $too_old."
    fi
    # Only shell builtins from here: PATH may hold nothing else (tests run it so).
    echo "  Install one for your system, then run \`make run\` again:"
    echo "    Debian 13, Ubuntu 24.04:  apt-get install python3 python3-venv"
    echo "    Debian 12 (Python 3.11):  apt-get install pipx && pipx install uv &&" \
        "~/.local/bin/uv python install 3.12"
    echo "                              (uv needs PyPI and GitHub; or: pyenv install 3.12)"
    echo "  \`make run\` tries these itself (scripts/get-python.sh) where apt and the network allow."
} >&2
exit 1
