#!/usr/bin/env bash
# Set up (scripts/setup.sh), start a 2-host sandbox fleet on this machine, deploy the example
# app, deploy a second version under load, roll back, and report failed requests (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m bluegreen.testing.demo "$@"
