#!/usr/bin/env bash
# Sets up .venv with the test dependencies, then runs the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check zapier_nb tests
.venv/bin/ruff format --check zapier_nb tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
