#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test, end-to-end ones included (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/pytest -ra "$@"
