#!/usr/bin/env bash
# Prints a Python >= 3.12 interpreter (Django 6 needs it; Debian 12 ships 3.11).
# Looks on PATH first, then in pyenv's versions, so a plain Debian 12 machine with pyenv works.
set -euo pipefail
for candidate in python3.12 python3.13 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        command -v "$candidate"
        exit 0
    fi
done
echo "error: genpack-site needs Python 3.12 or newer (python3.12 on PATH or under pyenv)." >&2
exit 1
