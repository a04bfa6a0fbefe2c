#!/usr/bin/env bash
# The main job: set up, run the `quick` experiment on Fashion-MNIST, then write its report
# (reports/quick/index.html). Extra arguments are passed to `robust-tickets run` (e.g. --quiet);
# RESULTS_DIR and REPORT_DIR change where results and the report go.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
results=${RESULTS_DIR:-results}
.venv/bin/robust-tickets run --preset quick --output "$results" "$@"
.venv/bin/robust-tickets report "$results" --out "${REPORT_DIR:-reports/quick}"
