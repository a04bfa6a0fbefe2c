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
*)
  select=()
  # the report's browser test needs a real headless Chromium (Debian's); it skips without one
  if ! command -v chromium >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 ||
      echo "[test] chromium could not be installed: the report's browser test will skip"
  fi
  ;;
esac
.venv/bin/python -m pytest -q "${select[@]}" "$@"
