#!/usr/bin/env bash
# Sets up .venv, starts the local AI Actions sandbox, and opens JupyterLab on the tutorials.
# Extra arguments go to JupyterLab (for example --port 9999).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh lab
export PATH="$PWD/.venv/bin:$PATH"
export ZAPIER_NB_AUTOPILOT="${ZAPIER_NB_AUTOPILOT:-0}"
export ZAPIER_NB_STATE_DIR="${ZAPIER_NB_STATE_DIR:-$PWD/.venv/zapier_nb}"
root=()
[ "$(id -u)" = 0 ] && root=(--allow-root)
exec binder/start jupyter lab --no-browser --ip=127.0.0.1 \
  --ServerApp.root_dir="$PWD/notebooks" "${root[@]}" "$@"
