#!/usr/bin/env bash
# Create the virtualenv and install Tocsin with its dev extras (idempotent).
set -euo pipefail
py="${1:-python3}"
venv="${2:-.venv}"
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "Tocsin needs Python >= 3.11 (found: $("$py" --version 2>&1))" >&2
  exit 1
fi
if ! "$py" -m venv --help >/dev/null 2>&1 || ! "$py" -c 'import ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
  fi
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q -U pip
"$venv/bin/python" -m pip install -q -e '.[dev]'
