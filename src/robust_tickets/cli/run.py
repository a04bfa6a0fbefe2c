"""`robust-tickets run`: train, prune and evaluate one experiment (all its trials), resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robust_tickets.cli.options import add_config_flags, resolve_config
from robust_tickets.cli.paths import output_path, path_text
from robust_tickets.errors import UserError

ORDER = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run one experiment (iterative pruning with adversarial or natural training)",
        description="Run one experiment. Rerunning the same command resumes it; a finished "
        "experiment is not redone unless --force. Short runs: each evaluation covers the full "
        "validation and test sets (10,000 images each), which dominates a run of a few hundred "
        "iterations; --valid-size 1000 --test-size 1000 (or a larger --eval-every) make it "
        "fast.",
    )
    add_config_flags(parser)
    runopts = parser.add_argument_group("running")
    runopts.add_argument("--trials", type=int, default=None, help="number of trials (default 1)")
    runopts.add_argument("--first-trial", type=int, default=0, help="index of the first trial")
    runopts.add_argument(
        "--output",
        "-o",
        type=output_path,
        default=None,
        help="results directory (default: results)",
    )
    runopts.add_argument(
        "--force",
        action="store_true",
        help="redo finished trials (old results are moved to .replaced/)",
    )
    runopts.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    runopts.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default cpu)")
    runopts.add_argument(
        "--data-dir",
        type=path_text,
        default=None,
        help="directory with the dataset files (else $ROBUST_TICKETS_DATA, the "
        "user cache, system directories)",
    )
    runopts.add_argument(
        "--no-fetch",
        dest="fetch",
        action="store_false",
        help="fail if the dataset is missing instead of fetching it",
    )
    runopts.add_argument(
        "--no-borrow",
        "--no-borrow-level0",
        dest="borrow_level0",
        action="store_false",
        help="train every level here, never copying one from a sibling experiment in the same "
        "--output that finished it: a level 0 with the same settings and data, or a level of "
        "the same chain in a run with fewer or more levels (docs/results-layout.md)",
    )
    runopts.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per process (default: cores / jobs)",
    )
    runopts.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="worker processes sharing out the trials' levels, this one included "
        "(default: as many as there are trials to run and CPU cores)",
    )
    parser.set_defaults(handler=handle)


def early_workers(argv: list[str]) -> int:
    """Worker processes worth starting before torch is imported (see engine/prestart.py):
    a guess from the command line alone; workers the run turns out not to need are released."""
    from robust_tickets.device import available_cores

    peek = argparse.ArgumentParser(add_help=False)
    for flag in ("--trials", "--jobs", "-j", "--preset", "--config", "--device"):
        peek.add_argument(flag)
    peek.add_argument("-h", "--help", action="store_true")
    try:
        known, _ = peek.parse_known_args(argv)
        jobs = int(known.jobs or known.j) if (known.jobs or known.j) else None
        trials = int(known.trials) if known.trials else None
    except (SystemExit, ValueError):  # the real parser will say what is wrong
        return 0
    if known.help or known.device not in (None, "cpu"):
        return 0
    if trials is None and known.preset is None and known.config is None:
        trials = 1  # the default
    wanted = jobs or trials or available_cores()  # a preset or config file may set trials
    return max(0, min(wanted, available_cores()) - 1)


def handle(args: argparse.Namespace) -> int:
    from robust_tickets import limits
    from robust_tickets.cli.memory import is_out_of_memory, remove_unfinished_run
    from robust_tickets.cli.paths import check_output_dir
    from robust_tickets.experiment import RunOptions, run_experiment
    from robust_tickets.store import experiment_dir

    config, file_options = resolve_config(args)

    def pick(name: str, default):
        value = getattr(args, name)
        return value if value is not None else file_options.get(name, default)

    for key in ("output", "data_dir"):  # flags are checked by the parser, files here
        if str(pick(key, "-")).strip() == "":
            raise UserError(f"{key} in {args.config} is empty: give a path, or leave it out")
    trials = int(pick("trials", 1))
    threads = pick("threads", None)
    limits.count("--trials", trials, 1, limits.MAX_TRIALS)
    limits.count("--first-trial", args.first_trial, 0, limits.MAX_TRIALS)
    if threads is not None:
        limits.count("--threads", int(threads), 1, limits.MAX_PROCESSES)
    jobs = pick("jobs", None)
    explicit_jobs = jobs is not None
    if jobs is not None:
        limits.count("--jobs", int(jobs), 1, limits.MAX_PROCESSES)
    if jobs is None:
        from robust_tickets.device import available_cores

        jobs = min(trials, available_cores())
    options = RunOptions(
        trials=trials,
        first_trial=args.first_trial,
        output=Path(pick("output", "results")),
        force=args.force,
        quiet=args.quiet,
        device=str(pick("device", "cpu")),
        data_dir=pick("data_dir", None),
        threads=int(threads) if threads is not None else None,
        fetch=args.fetch,
        jobs=int(jobs),
        borrow_level0=args.borrow_level0,
        claim=True,  # never beside a sweep or another run on the same trial
    )
    check_output_dir(options.output, "--output")
    if explicit_jobs and options.jobs > 1 and trials > 1:
        from robust_tickets.device import resolve_device

        if resolve_device(options.device).type != "cpu":  # said, not silently ignored
            print(
                f"run: --jobs {options.jobs} pools CPU worker processes; on {options.device} the "
                "trials run one after another in this process (several processes sharing one "
                "GPU: robust-tickets sweep --jobs N --device cuda)",
                file=sys.stderr,
            )
    output_existed = options.output.exists()
    experiment = experiment_dir(options.output, config).path
    existed = experiment.exists()
    try:
        exp, ran = run_experiment(config, options)
    except (MemoryError, RuntimeError) as exc:  # the one line is main's; the clean-up is here
        if is_out_of_memory(exc) and not existed:
            remove_unfinished_run(
                options.output, experiment, options.trial_ids(), output_existed, config.name()
            )
        raise
    if not ran:
        print(f"already complete, nothing to do: {exp.path} (use --force to redo)")
    else:
        print(f"results: {exp.path} (trials {', '.join(map(str, ran))})", file=sys.stdout)
    return 0
