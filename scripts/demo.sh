#!/usr/bin/env bash
# Sets up .venv, starts the local AI Actions sandbox, and opens JupyterLab on tutorial 01;
# it prints the address of tutorial 01 in JupyterLab and in Jupyter Notebook 7.
# Extra arguments go to JupyterLab (for example --port 9999).
# Ctrl+C, or SIGINT or SIGTERM to this process or its group, from a terminal or not, stops
# the kernels, JupyterLab and the sandbox, and removes their files.
# ZAPIER_NB_DEMO_SETUP=0 skips the install step, for a .venv that is already set up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ZAPIER_NB_DEMO_SETUP:-1}" != 0 ]; then
  bash scripts/setup.sh lab
fi
export PATH="$PWD/.venv/bin:$PATH"
export ZAPIER_NB_AUTOPILOT="${ZAPIER_NB_AUTOPILOT:-0}"
export ZAPIER_NB_STATE_DIR="${ZAPIER_NB_STATE_DIR:-$PWD/.venv/zapier_nb}"
export ZAPIER_NB_DEMO_NOTEBOOK=01-quick-start-api-key.ipynb
# No "get notified about Jupyter news?" prompt over the tutorials: a default of this
# .venv's JupyterLab only, which the user's own settings still override.
overrides=.venv/share/jupyter/lab/settings/overrides.json
if [ ! -e "$overrides" ]; then
  mkdir -p "$(dirname "$overrides")"
  echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}' >"$overrides"
fi
root=()
[ "$(id -u)" = 0 ] && root=(--allow-root)
# answer_yes: a server that does get a SIGINT at a terminal stops at once instead of
# asking "Shutdown this Jupyter server?".
exec binder/start jupyter lab --no-browser --ip=127.0.0.1 \
  --ServerApp.root_dir="$PWD/notebooks" --ServerApp.answer_yes=True \
  --LabApp.default_url="/lab/tree/$ZAPIER_NB_DEMO_NOTEBOOK" "${root[@]}" "$@"
