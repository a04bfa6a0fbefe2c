#!/usr/bin/env bash
# Creates .venv, installs robust_tickets and its dependencies, and makes sure Fashion-MNIST is
# available (in CI every dataset). Safe to run again: it only does what is missing. Run by
# main.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PYTHON" -m venv .venv
fi
PY=.venv/bin/python
stamp=.venv/.robust_tickets-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing dependencies"
  "$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # torch first, pinned, so that pip takes the local CPU build instead of a multi-GB CUDA one.
  # Elsewhere any torch the package's range admits will do.
  if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    "$PY" -m pip install -q "torch==2.13.0" 2>/dev/null || "$PY" -m pip install -q "torch>=2.4,<3"
  fi
  # Everything `evaluate` needs (AutoAttack: pyautoattack) is a declared dependency. torchattacks
  # (optional cross-checks) is not installed: see docs/evaluation-autoattack.md.
  "$PY" -m pip install -q -e ".[test]"
  touch "$stamp"
fi

# Data: what the main job needs, Fashion-MNIST (checksums are verified on every load); only
# what is missing is fetched. MNIST and CIFAR-10 (139 MB) are fetched on first use by `run`,
# `evaluate` and `sweep` (or now: `robust-tickets data fetch NAME`). In CI (CI set), where the
# test suite must find every dataset it reads for real, all of them.
if [ -n "${CI:-}" ]; then
  "$PY" -m robust_tickets data fetch --all --quiet-if-present
else
  "$PY" -m robust_tickets data fetch fashion_mnist --quiet-if-present
fi
