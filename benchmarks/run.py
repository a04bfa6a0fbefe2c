"""Time `robust-tickets run` against the plain-PyTorch baseline on the issue's workloads.

    .venv/bin/python benchmarks/run.py                 # W1 and W2, 3 alternated repetitions
    .venv/bin/python benchmarks/run.py --reps 5 --workloads W2

Each repetition runs the engine (a fresh output directory, as a subprocess, end to end: Python
start-up, data loading, training, evaluation, checkpoints) and the baseline
(benchmarks/baseline.py, also a subprocess), alternating which goes first. Reported: median
wall time of each, their ratio, each child's peak RSS (from `os.wait4`), both implementations'
final-level test accuracies (natural and adversarial, per trial), the load average around each
run (the machine may be shared), and the training phase's achieved GFLOP/s against the measured
matrix-multiply peak. A Markdown table goes to stdout; the raw numbers to
benchmarks/results/<date>-<host>[-N].json (a new file each run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import flops  # noqa: E402  (benchmarks/flops.py, next to this file)
from output import unused_path  # noqa: E402

WORKLOADS = {
    "W1": {"attack": "fgsm", "trials": 3, "levels": 2, "iters": 2000, "eval_every": 1000},
    "W2": {"attack": "pgd", "trials": 1, "levels": 2, "iters": 1000, "eval_every": 1000},
}


def engine_command(w: dict, out: Path, threads: int | None, device: str) -> list[str]:
    cmd = [sys.executable, "-m", "robust_tickets", "run", "--dataset", "fashion_mnist"]
    cmd += ["--strategy", "reset", "--adv-train", "--attack", w["attack"]]
    cmd += ["--trials", str(w["trials"]), "--prune-iters", str(w["levels"] - 1)]
    cmd += ["--train-iters", str(w["iters"]), "--eval-every", str(w["eval_every"])]
    cmd += ["--quiet", "-o", str(out), "--device", device]
    return cmd + (["--threads", str(threads)] if threads else [])


def baseline_command(w: dict, out: Path, threads: int | None, device: str) -> list[str]:
    cmd = [sys.executable, str(HERE / "baseline.py"), "--attack", w["attack"]]
    cmd += ["--trials", str(w["trials"]), "--levels", str(w["levels"])]
    cmd += ["--iters", str(w["iters"]), "--eval-every", str(w["eval_every"])]
    cmd += ["--json", str(out / "baseline.json"), "--device", device]
    return cmd + (["--threads", str(threads)] if threads else [])


def timed(cmd: list[str]) -> dict:
    """Wall and CPU seconds and peak RSS of one child process (fails loudly if it fails)."""
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read()}")
    return {
        "seconds": seconds,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def engine_accuracies(out: Path, levels: int) -> list[dict]:
    from robust_tickets.results import iter_rows

    rows = [
        r
        for r in iter_rows(out)
        if r["split"] == "test" and r["level"] == levels - 1 and r["iteration"] == r["train_iters"]
    ]
    return [
        {"trial": r["trial"], "test_acc": r["acc"], "test_adv_acc": r["adv_acc"]}
        for r in sorted(rows, key=lambda r: r["trial"])
    ]


def run_pair(name: str, rep: int, args) -> dict:
    w = dict(WORKLOADS[name])
    if args.scale != 1:  # for smoke tests of this script only: not the workload
        w["iters"] = w["eval_every"] = max(1, round(w["iters"] * args.scale))
    result = {}
    order = ("engine", "baseline") if rep % 2 == 0 else ("baseline", "engine")
    for who in order:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-{who}-") as tmp:
            out = Path(tmp)
            if who == "engine":
                r = timed(engine_command(w, out, args.engine_threads, args.device))
                r["final"] = engine_accuracies(out, w["levels"])
            else:
                r = timed(baseline_command(w, out, args.baseline_threads, args.device))
                r["final"] = json.loads((out / "baseline.json").read_text())["final"]
        result[who] = r
        print(f"  {name} rep {rep} {who}: {r['seconds']:.1f} s", file=sys.stderr)
    return result


def summarise(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for name, reps in runs.items():
        s = {}
        for who in ("engine", "baseline"):
            secs = [r[who]["seconds"] for r in reps]
            accs = [f for r in reps for f in r[who]["final"]]
            s[who] = {
                "median_s": statistics.median(secs),
                "min_s": min(secs),
                "max_s": max(secs),
                "peak_rss_mib": max(r[who]["peak_rss_mib"] for r in reps),
                "test_acc": statistics.mean(a["test_acc"] for a in accs),
                "test_acc_sd": statistics.pstdev(a["test_acc"] for a in accs),
                "test_adv_acc": statistics.mean(a["test_adv_acc"] for a in accs),
                "test_adv_acc_sd": statistics.pstdev(a["test_adv_acc"] for a in accs),
            }
        s["ratio"] = s["engine"]["median_s"] / s["baseline"]["median_s"]
        # each repetition's engine and baseline ran back to back: their ratio is the least
        # affected by the machine's speed drifting between repetitions
        s["pair_ratios"] = [r["engine"]["seconds"] / r["baseline"]["seconds"] for r in reps]
        loads = [r[w]["load_before"] for r in reps for w in ("engine", "baseline")]
        s["load_range"] = (min(loads), max(loads))
        out[name] = s
    return out


def markdown(summary: dict, throughput: dict | None, meta: dict) -> str:
    lines = [
        f"Machine: {meta['machine']}; torch {meta['torch']}; {meta['date']}; "
        f"{meta['reps']} alternated repetitions (median).",
        "",
        "| workload | engine (s) | baseline (s) | engine / baseline | speed-up | each pair | "
        "peak RSS engine / baseline (MiB) | test acc engine / baseline | adv acc engine / "
        "baseline | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        e, b = s["engine"], s["baseline"]
        lines.append(
            f"| {name} | {e['median_s']:.1f} ({e['min_s']:.0f}-{e['max_s']:.0f}) "
            f"| {b['median_s']:.1f} ({b['min_s']:.0f}-{b['max_s']:.0f}) | {s['ratio']:.2f} "
            f"| {1 / s['ratio']:.1f}x | {', '.join(f'{x:.2f}' for x in s['pair_ratios'])} "
            f"| {e['peak_rss_mib']:.0f} / {b['peak_rss_mib']:.0f} "
            f"| {e['test_acc']:.4f}±{e['test_acc_sd']:.4f} / {b['test_acc']:.4f}±"
            f"{b['test_acc_sd']:.4f} | {e['test_adv_acc']:.4f}±{e['test_adv_acc_sd']:.4f} / "
            f"{b['test_adv_acc']:.4f}±{b['test_adv_acc_sd']:.4f} "
            f"| {s['load_range'][0]:.1f}-{s['load_range'][1]:.1f} |"
        )
    if throughput:
        lines += ["", flops.markdown(throughput)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="alternated repetitions per workload")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--engine-threads", type=int, default=None, help="--threads for the run")
    parser.add_argument("--baseline-threads", type=int, default=None, help="default: torch's")
    parser.add_argument("--no-flops", action="store_true", help="skip the GFLOP/s measurement")
    parser.add_argument("--json", type=Path, default=None, help="where to write the raw numbers")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N, for both")
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"({_cpu_name()})",
        "torch": torch.__version__,
        "reps": args.reps,
        "engine_threads": args.engine_threads,
        "baseline_threads": args.baseline_threads,
        "torch_default_threads": torch.get_num_threads(),
        "scale": args.scale,
        "device": args.device,
    }
    path = args.json or unused_path(f"{meta['date']}-{platform.node()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {name: [] for name in args.workloads}
    report: dict = {"meta": meta, "runs": runs}
    for rep in range(args.reps):
        for name in args.workloads:
            runs[name].append(run_pair(name, rep, args))
            path.write_text(json.dumps(report, indent=1))  # keep what finished if interrupted
    report["summary"] = summary = summarise(runs)
    report["throughput"] = throughput = (
        None if args.no_flops else flops.measure(args.engine_threads)
    )
    path.write_text(json.dumps(report, indent=1))
    print(markdown(summary, throughput, meta))
    print(f"\nraw numbers: {path}", file=sys.stderr)
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
