#!/usr/bin/env bash
# The test suite: set up, lint, then pytest. Extra arguments are passed to pytest.
#
# Tests marked `slow` (long end-to-end runs on the real datasets: pooled and parallel trials,
# Ray, killed and resumed sweeps) are left out here and run in CI (CI set, as .ci/run's CI
# sets it). To run them too: `CI=true bash scripts/test.sh` or `bash scripts/test.sh -m ""`;
# only them: `bash scripts/test.sh -m slow` (a later -m replaces the one given here).
# pytest's exit code is the script's: 5 (no test selected) is a failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
select=(-m "not slow")
case "${CI:-}" in
"" | 0 | false | False | FALSE) ;;
*) select=() ;;
esac
.venv/bin/python -m pytest -q "${select[@]}" "$@"
