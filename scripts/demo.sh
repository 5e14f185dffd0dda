#!/usr/bin/env bash
# Sets up .venv and starts the local AI Actions sandbox in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh sandbox
exec .venv/bin/python -m zapier_nb.sandbox "$@"
