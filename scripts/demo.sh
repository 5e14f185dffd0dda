#!/usr/bin/env bash
# Sets up .venv, starts the local AI Actions sandbox, and opens JupyterLab on tutorial 01.
# Extra arguments go to JupyterLab (for example --port 9999). One Ctrl+C stops both.
# ZAPIER_NB_DEMO_SETUP=0 skips the install step, for a .venv that is already set up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ZAPIER_NB_DEMO_SETUP:-1}" != 0 ]; then
  bash scripts/setup.sh lab
fi
export PATH="$PWD/.venv/bin:$PATH"
export ZAPIER_NB_AUTOPILOT="${ZAPIER_NB_AUTOPILOT:-0}"
export ZAPIER_NB_STATE_DIR="${ZAPIER_NB_STATE_DIR:-$PWD/.venv/zapier_nb}"
root=()
[ "$(id -u)" = 0 ] && root=(--allow-root)
# answer_yes: Ctrl+C stops JupyterLab at once instead of asking "Shutdown this Jupyter
# server?", so it never runs on without the sandbox that the same Ctrl+C stopped.
exec binder/start jupyter lab --no-browser --ip=127.0.0.1 \
  --ServerApp.root_dir="$PWD/notebooks" --ServerApp.answer_yes=True \
  --LabApp.default_url=/lab/tree/01-quick-start-api-key.ipynb "${root[@]}" "$@"
