#!/usr/bin/env bash
# Sets up .venv with the test dependencies (and, as root, Debian's Chromium for the
# browser tests), then runs the linters and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium for the browser tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation >/dev/null
fi
.venv/bin/ruff check zapier_nb tests benchmarks
.venv/bin/ruff format --check zapier_nb tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
