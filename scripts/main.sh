#!/usr/bin/env bash
# The main job: set up, then the `finding` experiment (Fashion-MNIST, FGSM adversarial training,
# lottery tickets of the `reset` strategy down to the paper's 1.8% of the weights, 2 trials), a
# strong-attack check of its dense network and sparsest tickets on the first 200 test images, and
# the report (reports/finding/index.html). Extra arguments are passed to `robust-tickets run`
# (e.g. --quiet); RESULTS_DIR and REPORT_DIR change where results and the report go. Rerunning
# resumes or skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
results=${RESULTS_DIR:-results}
report=${REPORT_DIR:-reports/finding}
rt=.venv/bin/robust-tickets
start=$SECONDS
# `run` ends by printing the experiment's directory ("results: DIR (trials ...)" or "already
# complete, nothing to do: DIR (...)"); the evaluation is for that experiment only.
line=$($rt run --preset finding --output "$results" "$@" | tail -n 1)
echo "$line"
exp=$(sed -E 's/^[^:]*: (.*) \((trials|use --force).*$/\1/' <<<"$line")
[ -d "$exp" ] || { echo "main.sh: no experiment directory in: $line" >&2; exit 1; }
# Strong attacks (PGD with 5 restarts of 40 steps, APGD-CE) beside the training attack (FGSM) at
# the training eps, on the dense network (level 0) and the paper's 3.6% and 1.8% levels (15, 18).
# One process per trial with one thread each: on small batches two processes use two cores far
# better than one process with two threads.
pids=()
for dir in "$exp"/trial_*; do
  $rt evaluate "$exp" --trials "${dir##*trial_}" --threads 1 --attacks fgsm,pgd-restarts,apgd-ce \
    --eps 0.3 --levels 0,15,18 --n-examples 200 --no-checks --quiet &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done
$rt report "$exp" --out "$report"
echo "main job: $((SECONDS - start)) s after set-up"
