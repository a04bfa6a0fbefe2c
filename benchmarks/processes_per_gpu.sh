#!/usr/bin/env bash
# Does a GPU train more networks per second with several `robust-tickets run` processes at once?
# At batch 60 a small network's step is kernel launches more than arithmetic, so one process may
# leave the GPU idle. For each P in $PS: P processes of one dense level, $S steps each, started
# together; each level's own clock (`seconds_this_session` in done.json, one evaluation of the
# validation and test images included) gives ms per step per process and, over P, the aggregate.
# One JSON line per P goes to stdout and to $OUT/processes-per-gpu.jsonl.
#
#   MODEL=lenet5 PS="1 8" S=300 bash benchmarks/processes_per_gpu.sh          # PGD-40 at eps 0.3
#   MODEL=dense-300-100 PS="1 8" S=2000 bash benchmarks/processes_per_gpu.sh  # PGD-10 at eps 0.1
#
# Settings: MODEL, PS, S, DEV (cuda), DATASET (fashion_mnist; the study's MNIST has the same
# 28x28 shape and step cost), DATA_DIR (--data-dir, optional), PT (seconds a process may take,
# 100), EVAL_N (validation and test images, 200), PY (python3), OUT ($PWD/benchmarks/results), WORK (scratch stores, /tmp).
set -u
MODEL=${MODEL:-lenet5}; PS=${PS:-1 8}; S=${S:-300}; DEV=${DEV:-cuda}; PY=${PY:-python3}
DATASET=${DATASET:-fashion_mnist}; PT=${PT:-100}; WORK=${WORK:-/tmp}; EVAL_N=${EVAL_N:-200}
OUT=${OUT:-$PWD/benchmarks/results}; mkdir -p "$OUT"
if [ "$MODEL" = lenet5 ] || [ "$MODEL" = mnist-cnn ]; then
  ATTACK="--eps 0.3 --step-size 0.01 --steps 40"   # the conv pilot's training attack
else
  ATTACK="--eps 0.1 --step-size 0.025 --steps 10"  # the MLP study's
fi
DATA=(); [ -n "${DATA_DIR:-}" ] && DATA=(--data-dir "$DATA_DIR")
for P in $PS; do
  rm -rf "$WORK/ppg-$MODEL-$P-"*   # a finished store would be skipped, not timed
  ts=$(date +%s.%N)
  for i in $(seq 1 "$P"); do
    timeout "$PT" $PY -m robust_tickets run --dataset "$DATASET" "${DATA[@]}" --model "$MODEL" \
      --attack pgd $ATTACK --attack-labels true --adv-train --strategy dense --train-iters "$S" \
      --eval-every "$S" --valid-size "$EVAL_N" --test-size "$EVAL_N" --device "$DEV" --quiet \
      -o "$WORK/ppg-$MODEL-$P-$i" > "$WORK/ppg-$MODEL-$P-$i.log" 2>&1 &
  done
  wait
  te=$(date +%s.%N)
  $PY - "$MODEL" "$P" "$S" "$ts" "$te" "$WORK" <<'EOF' | tee -a "$OUT/processes-per-gpu.jsonl"
import glob, json, sys
model, P, S, ts, te, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
done = sorted(glob.glob(f"{work}/ppg-{model}-{P}-*/*/trial_0/level_00/done.json"))
secs = [json.load(open(f))["seconds_this_session"] for f in done]
row = {"model": model, "processes": P, "steps_each": S, "done": len(secs), "level_seconds": secs,
       "wall_seconds": round(te - ts, 1)}
if secs:
    row["ms_per_step_each_max"] = round(1000 * max(secs) / S, 1)
    row["aggregate_ms_per_step"] = round(1000 * max(secs) / (S * len(secs)), 2)
print(json.dumps(row))
EOF
done
