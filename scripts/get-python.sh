#!/usr/bin/env bash
# Gets a Python >= 3.12 where scripts/python.sh finds none, the way each supported system
# does it:
#   Debian 13, Ubuntu 24.04: the system's python3 (3.13, 3.12) with python3-venv, from apt;
#   Debian 12 (3.11):        uv from PyPI through pipx (apt's), then `uv python install 3.12`.
# Idempotent: does nothing when a Python is there. When neither way works (no network, no
# root), scripts/python.sh says what to install and this exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

found() { scripts/python.sh --quiet >/dev/null; }
found && exit 0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}
apt_install() {
    echo "==> apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Debian 13, Ubuntu 24.04: the system's own Python is new enough.
if command -v apt-get >/dev/null 2>&1; then
    as_root apt-get update -qq || true
    candidate=$(apt-cache policy python3 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    if dpkg --compare-versions "${candidate:-0}" ge 3.12 2>/dev/null; then
        apt_install python3 python3-venv || true
        found && exit 0
    fi
fi

# Debian 12: a Python from uv (python-build-standalone), uv itself from PyPI.
uv=$(command -v uv 2>/dev/null || true)
bin_dir="${PIPX_BIN_DIR:-$HOME/.local/bin}"
if [ -z "$uv" ] && [ -x "$bin_dir/uv" ]; then
    uv="$bin_dir/uv"
fi
if [ -z "$uv" ]; then
    if ! command -v pipx >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        apt_install pipx || true
    fi
    if command -v pipx >/dev/null 2>&1; then
        echo "==> pipx install uv"
        if output=$(pipx install uv 2>&1); then
            uv="$bin_dir/uv"
        else
            echo "$output" >&2
        fi
    fi
fi
if [ -n "$uv" ] && [ -x "$uv" ]; then
    echo "==> uv python install 3.12"
    if "$uv" python install 3.12; then
        found && exit 0
    fi
    echo "uv could not install Python 3.12 (it downloads it from GitHub)." >&2
fi

scripts/python.sh >/dev/null  # says what to install, and fails
