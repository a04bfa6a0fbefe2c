#!/usr/bin/env bash
# The main job: set up, then run the `quick` experiment on Fashion-MNIST. Extra arguments are
# passed to `robust-tickets run` (e.g. --output DIR, --quiet).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/robust-tickets run --preset quick --output results "$@"
