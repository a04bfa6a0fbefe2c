"""FAB-T with pyautoattack's L-inf projection against FAB-T with ours (evaluation.fab_projection).

    .venv/bin/python benchmarks/fab.py                          # 150 images, eps 0.05, 3 windows
    .venv/bin/python benchmarks/fab.py --n 1000 --windows 5 --threads 1

Two workloads, each timed in alternated windows (the machine may be shared), library then ours,
compared as medians (wall and CPU seconds of this process) and their ratio, ours / library,
and each window's ratio (CPU time drifts least on a shared machine):

- `fab-t`: the `fab-t` preset (AutoAttack's FAB-T, 9 targets, `--fab-steps`) through
  `robust_examples`, as `evaluate` runs it, on the first N MNIST test images against
  `dense-300-100` trained naturally for `--train-steps` Adam steps (seed 1; at eps 0.05 about
  60% of the images resist FAB-T, so most run all 9 targets). Also: on how many images the two
  disagree about robustness (0 expected; rounding could flip one whose least perturbation FAB
  finds lies within rounding of eps).
- `projection`: the projection alone, on the inputs FAB-T hands it in its first `--calls`
  iterations on the first `--projection-n` images (1,000: `evaluate`'s batch, 2 rows each),
  seconds per call.

A Markdown table goes to stdout; raw numbers (and the load average before and after) to
benchmarks/results/<date>-<host>-fab[-N].json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from pyautoattack import fab_base, fab_projections
from torch import nn

from robust_tickets.data import load_splits
from robust_tickets.evaluation import AttackContext, autoattack, presets
from robust_tickets.evaluation.fab_projection import project_linf
from robust_tickets.evaluation.robustness import robust_examples
from robust_tickets.models import create_model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from output import unused_path  # noqa: E402  (benchmarks/output.py, next to this file)

CHOICES = ("library", "ours")


def train(splits, steps: int, seed: int = 1) -> nn.Module:
    model = create_model("dense-300-100", (1, 28, 28), 10, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(splits.train), (100,), generator=generator)
        loss = F.cross_entropy(model(splits.train.x[index]), splits.train.y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def alternate(runs: dict[str, Callable[[], object]], windows: int) -> dict:
    """Each run once per window, in turn; medians of wall and CPU seconds; the last results."""
    times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in runs}
    results = {}
    for _ in range(windows):
        for name, fn in runs.items():
            wall, cpu, results[name] = timed(fn)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    medians = {k: {m: statistics.median(v[m]) for m in v} for k, v in times.items()}
    return {"windows": times, "median": medians, "results": results}


def fab_t_runs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int
) -> dict[str, Callable[[], torch.Tensor]]:
    """FAB-T through `robust_examples` with each projection: per-image robustness."""
    fn = presets({"fab_steps": steps})["fab-t"].build(model, eps, AttackContext(10))

    def run(choice: str) -> Callable[[], torch.Tensor]:
        def go() -> torch.Tensor:
            os.environ[autoattack.FAB_PROJECTION] = choice
            return robust_examples(model, x, y, eps, fn, lambda start: 7 + start)

        return go

    return {choice: run(choice) for choice in CHOICES}


class _Enough(Exception):
    pass


def recorded_calls(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, count: int):
    """The (t, w, b) of FAB-T's first `count` projections on these images (then it stops)."""
    calls: list[tuple[torch.Tensor, ...]] = []
    library = fab_projections.projection_linf

    def record(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        calls.append((t.clone(), w.clone(), b.clone()))
        if len(calls) == count:
            raise _Enough
        return library(t, w, b)

    fn = presets()["fab-t"].build(model, eps, AttackContext(10))
    fab_base.projection_linf = record
    os.environ[autoattack.FAB_PROJECTION] = "library"  # the hook leaves the recorder in place
    try:
        fn(x, y, 7)
    except _Enough:
        pass
    finally:
        fab_base.projection_linf = library
        os.environ.pop(autoattack.FAB_PROJECTION)
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150, help="MNIST test images")
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--fab-steps", type=int, default=100)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--windows", type=int, default=3, help="alternated windows per mode")
    parser.add_argument("--calls", type=int, default=10, help="projections recorded and timed")
    parser.add_argument(
        "--projection-n", type=int, default=1000, help="images of the recorded projections"
    )
    parser.add_argument("--threads", type=int, default=None, help="default: torch's own")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    splits = load_splits("mnist")
    model = train(splits, args.train_steps)
    x, y = splits.test.x[: args.n], splits.test.y[: args.n]

    m = args.projection_n
    calls = recorded_calls(model, splits.test.x[:m], splits.test.y[:m], args.eps, args.calls)

    def project_all(fn: Callable) -> Callable[[], None]:
        return lambda: [fn(*call) for call in calls]

    library, ours = project_all(fab_projections.projection_linf), project_all(project_linf)
    projection = alternate({"library": library, "ours": ours}, args.windows)
    try:
        attack = alternate(fab_t_runs(model, x, y, args.eps, args.fab_steps), args.windows)
    finally:
        os.environ.pop(autoattack.FAB_PROJECTION, None)
    robust = attack.pop("results")
    projection.pop("results")
    disagree = int((robust["library"] != robust["ours"]).sum())
    rows = []
    workloads = (("fab-t", attack, 1), ("projection, per call", projection, len(calls)))
    for name, measured, per in workloads:
        lib, ours = measured["median"]["library"], measured["median"]["ours"]
        rows.append(
            {
                "workload": name,
                "library_wall_s": lib["wall"] / per,
                "ours_wall_s": ours["wall"] / per,
                "library_cpu_s": lib["cpu"] / per,
                "ours_cpu_s": ours["cpu"] / per,
                "ratio_wall": ours["wall"] / lib["wall"],
                "ratio_cpu": ours["cpu"] / lib["cpu"],
                "pair_ratios_cpu": [
                    o / li
                    for o, li in zip(
                        measured["windows"]["ours"]["cpu"],
                        measured["windows"]["library"]["cpu"],
                        strict=True,
                    )
                ],
                "windows": measured["windows"],
            }
        )
    meta = {
        "date": datetime.date.today().isoformat(),
        "host": platform.node(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "impl": autoattack.implementation(),
        "n": args.n,
        "eps": args.eps,
        "fab_steps": args.fab_steps,
        "train_steps": args.train_steps,
        "windows": args.windows,
        "projection_n": args.projection_n,
        "projection_rows": [len(c[0]) for c in calls],
        "clean": int(robust_examples(model, x, y, 0.0, None, lambda s: 0).sum()),
        "robust": {k: int(v.sum()) for k, v in robust.items()},
        "images_disagreeing": disagree,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    path = args.json or unused_path(f"{meta['date']}-{platform.node()}-fab")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(
        f"{meta['machine']}; torch {meta['torch']}; {meta['impl']}; {meta['date']}; medians of "
        f"{args.windows} alternated windows; load average {load_before[0]:.1f} before, "
        f"{meta['load_after'][0]:.1f} after.\n"
        f"FAB-T ({args.fab_steps} steps, 9 targets) at eps {args.eps} on the first {args.n} "
        f"MNIST test images, dense-300-100 after {args.train_steps} natural steps: clean "
        f"{meta['clean']}, robust {meta['robust']['library']} (library) and "
        f"{meta['robust']['ours']} (ours), {disagree} images disagreeing.\n"
    )
    print(
        "| workload | library: wall / CPU s | ours: wall / CPU s | ours / library: wall, CPU "
        "| each pair, CPU |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workload']} | {r['library_wall_s']:.3f} / {r['library_cpu_s']:.3f} | "
            f"{r['ours_wall_s']:.3f} / {r['ours_cpu_s']:.3f} | {r['ratio_wall']:.2f}, "
            f"{r['ratio_cpu']:.2f} | {', '.join(f'{x:.2f}' for x in r['pair_ratios_cpu'])} |"
        )
    print(f"\nraw numbers: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
