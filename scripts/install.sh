#!/usr/bin/env bash
# One idempotent set-up step for `make run` and `make test`:
#   scripts/install.sh run   -> build-host tools + the app's Python packages in .venv
#   scripts/install.sh test  -> the same + test tools (Chromium for browser tests, axe-core
#                               from npm, pytest...)
# Installs only what is missing, so a second run takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

apt_missing() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    echo "${missing[@]:-}"
}

apt_install() {
    local missing
    missing=$(apt_missing "$@")
    [ -z "$missing" ] && return 0
    echo "==> apt-get install $missing"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

# Tools the image build engine runs (mmdebstrap, mksquashfs, genimage, GRUB, QEMU...).
if [ -x scripts/install-build-host.sh ]; then
    scripts/install-build-host.sh
fi

if [ "$mode" = "test" ]; then
    # Browser tests drive Debian's Chromium through Playwright (no browser download here).
    apt_install chromium chromium-driver fonts-dejavu-core
    # The Wi-Fi configuration tests read what the agent writes back with the real client's
    # own parser (wpa_supplicant -dd) and compare keys with wpa_passphrase.
    apt_install wpasupplicant
    # The accessibility check injects axe-core (package.json, pinned in package-lock.json).
    if [ -f package.json ]; then
        command -v npm >/dev/null || apt_install nodejs npm
        npm_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
        if [ ! -f "$npm_stamp" ]; then
            echo "==> npm ci"
            npm ci --no-audit --no-fund --loglevel=error
            touch "$npm_stamp"
        fi
    fi
fi

scripts/get-python.sh  # Debian 12 has 3.11: uv's 3.12 then; nothing to do where one is
python=$(scripts/python.sh)
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $python"
    "$python" -m venv .venv
fi

extras=""
[ "$mode" = "test" ] && extras="[test]"
stamp=".venv/.installed-$mode-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "==> pip install .$extras"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$extras"
    touch "$stamp"
fi
