"""`robust-tickets sweep GRID.yaml`: run a grid of experiments locally or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robust_tickets.cli.options import comma_list
from robust_tickets.cli.paths import output_path, path_text
from robust_tickets.errors import UserError

ORDER = 50


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sweep",
        help="run a grid of experiments (local worker processes or Ray), resumably",
        description="Expand GRID.yaml into (config, trial) jobs and run those not yet finished. "
        "Rerunning the same command resumes; two sweeps over one --output share the work. "
        "Exit code 1 if a job failed after its retries.",
    )
    parser.add_argument("grid", type=Path, metavar="GRID.yaml", help="grid file (see configs/)")
    parser.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local worker processes, or Ray tasks (needs robust_tickets[ray])",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="jobs at once (local default: CPU cores; "
        "ray default: what the cluster's CPUs/GPUs fit)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (`auto`: the one `ray start` made "
        "here); without it Ray uses $RAY_ADDRESS or a cluster on this machine, else starts one",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the jobs, their cost and status; run nothing"
    )
    parser.add_argument(
        "--no-estimate", action="store_true", help="--dry-run without timing the profiles"
    )
    parser.add_argument(
        "--output",
        "-o",
        type=output_path,
        default=Path("results"),
        help="results directory (default: results)",
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="extra attempts for a failing job (default 2)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per job (local default: cores // jobs; ray default: --cpus-per-job)",
    )
    parser.add_argument("--cpus-per-job", type=float, default=1.0, help="ray: CPUs per task")
    parser.add_argument("--gpus-per-job", type=float, default=0.0, help="ray: GPUs per task")
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:N (default cpu; ray with GPUs: cuda)"
    )
    parser.add_argument(
        "--data-dir", type=path_text, default=None, help="directory with the dataset files"
    )
    parser.add_argument(
        "--trials",
        type=comma_list(int, "trial numbers"),
        default=None,
        metavar="T,T",
        help="only these trials of the grid's jobs (default: all), e.g. one seed a session, "
        "each finished and evaluated before the next",
    )
    parser.add_argument(
        "--no-borrow",
        "--no-borrow-level0",
        dest="borrow_level0",
        action="store_false",
        help="every job trains all its levels, none copies a level 0 from a sibling job that "
        "finished it with the same settings and data, or a level of the same chain from a "
        "job with fewer or more levels (docs/sweeps.md)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="only the final summary")
    parser.set_defaults(handler=handle)


def _executor_options(args: argparse.Namespace) -> dict:
    if args.executor == "local":
        if args.address is not None:
            raise UserError("--address is for --executor ray: add --executor ray")
        if args.gpus_per_job or args.cpus_per_job != 1.0:
            raise UserError(
                "--cpus-per-job/--gpus-per-job are for --executor ray; locally use --threads"
            )
        return {"jobs": args.jobs, "threads": args.threads, "device": args.device}
    return {
        "address": args.address,
        "jobs": args.jobs,
        "cpus_per_job": args.cpus_per_job,
        "gpus_per_job": args.gpus_per_job,
        "threads": args.threads,
        "device": args.device,
    }


def handle(args: argparse.Namespace) -> int:
    from robust_tickets import limits
    from robust_tickets.cli.paths import check_output_dir
    from robust_tickets.sweep.executors import EXECUTORS
    from robust_tickets.sweep.grid import load_grid

    limits.count("--retries", args.retries, 0, 100)
    for flag in ("jobs", "threads"):
        if getattr(args, flag) is not None:
            limits.count(f"--{flag}", getattr(args, flag), 1, limits.MAX_PROCESSES)
    for flag in ("cpus_per_job", "gpus_per_job"):
        value = limits.finite(f"--{flag.replace('_', '-')}", getattr(args, flag))
        if value < 0:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 0, got {value:g}")
    options = _executor_options(args)
    jobs = load_grid(args.grid)
    if args.trials is not None:
        jobs = _only_trials(jobs, args.trials, args.grid)
    check_output_dir(args.output, "--output")
    if args.dry_run:
        return _dry_run(args, jobs)

    from robust_tickets.sweep.progress import LiveView, View, summary
    from robust_tickets.sweep.scheduler import run_sweep

    if args.executor == "local":  # fetch a missing dataset once, not in every worker at once
        from robust_tickets.data.fetch import ensure_dataset

        for dataset in sorted({job.config.data.dataset for job in jobs}):
            ensure_dataset(dataset, args.data_dir)
    executor = EXECUTORS.get(args.executor)(**options)
    view = View() if args.quiet else LiveView()
    result = run_sweep(
        jobs,
        executor,
        args.output,
        retries=args.retries,
        data_dir=args.data_dir,
        view=view,
        borrow_level0=args.borrow_level0,
    )
    print(summary(result, args.output))
    return 0 if result.ok else 1


def _only_trials(jobs: list, trials: list[int], grid: Path) -> list:
    kept = [job for job in jobs if job.trial in set(trials)]
    if not kept:
        have = ", ".join(map(str, sorted({job.trial for job in jobs})))
        asked = ", ".join(map(str, trials))
        raise UserError(f"--trials {asked}: {grid} has no job of those trials (its trials: {have})")
    return kept


def _dry_run(args: argparse.Namespace, jobs: list) -> int:
    from robust_tickets.sweep.estimate import Estimator
    from robust_tickets.sweep.plan import plan_lines

    if args.executor == "local":
        from robust_tickets.sweep.executors.local import LocalExecutor

        local = LocalExecutor(args.jobs, args.threads, args.device)  # starts nothing
        threads, slots, device = local.threads, local.slots, local.device
    else:
        threads = args.threads or max(1, int(args.cpus_per_job))
        slots, device = args.jobs, args.device or ("cuda" if args.gpus_per_job else "cpu")
    estimator = None if args.no_estimate else Estimator(threads, device)
    for line in plan_lines(jobs, args.output, estimator, slots, borrow=args.borrow_level0):
        print(line, file=sys.stdout)
    return 0
