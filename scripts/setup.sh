#!/usr/bin/env bash
# Creates .venv (once) and installs zapier_nb with the given extras into it.
# Usage: scripts/setup.sh [EXTRAS]    e.g. scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-sandbox}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
