"""`robust-tickets evaluate DIR...`: strong attacks, eps curves and masking checks on saved
tickets, written beside each level (``robustness/``) and read back by `results --eval`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from robust_tickets.cli.options import comma_list
from robust_tickets.cli.paths import check_output_dir, path_text
from robust_tickets.config import number
from robust_tickets.errors import UserError

if TYPE_CHECKING:  # torch is imported only when the command runs, not for --help
    from robust_tickets.evaluation.runner import EvalOptions
    from robust_tickets.store import ExperimentDir

ORDER = 60


# The evaluation package imports torch, and `--help` must not: the evaluation attacks' settings
# (flat name -> default and help, as their presets' `Params` declare them) and the runner's
# defaults are repeated here, checked equal by tests/test_help.py.
DEFAULT_ATTACKS = ("fgsm", "pgd", "pgd-restarts", "autoattack")
ATTACK_SETTINGS = {
    "pgd_steps": (40, "PGD steps of `pgd-restarts` and `transfer`"),
    "pgd_restarts": (5, "random starts of `pgd-restarts` and `transfer`"),
    "apgd_steps": (100, "steps of APGD-CE, APGD-DLR and APGD-T"),
    "fab_steps": (100, "steps of FAB-T"),
    "square_queries": (5000, "queries of Square"),
}
BATCH_SIZE = 1000  # evaluation.runner.DEFAULT_BATCH: run-wide, not an attack's


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="attack saved tickets with strong attacks; robustness curves; masking checks",
        description="Evaluate the final networks of finished levels on the test set with strong "
        "attacks at several eps, run gradient-masking checks, and store the results beside "
        "each level (never touching training results). Rerunning resumes; what is already "
        "evaluated with the same settings is skipped.",
    )
    parser.add_argument("dirs", nargs="*", type=Path, metavar="DIR")
    parser.add_argument(
        "--attacks",
        type=comma_list(str),
        default=DEFAULT_ATTACKS,
        help=f"comma-separated evaluation attacks (default: {','.join(DEFAULT_ATTACKS)}; "
        "see --list-attacks)",
    )
    parser.add_argument(
        "--eps",
        type=comma_list(number, "numbers (0.1) or fractions (8/255)"),
        default=None,
        help="comma-separated L-inf radii, numbers or fractions such as 8/255 (default: "
        "0,0.05,...,0.4; on CIFAR-10 0,2/255,...,12/255,16/255)",
    )
    parser.add_argument(
        "--levels", type=comma_list(int), default=None, help="levels (default: all)"
    )
    parser.add_argument(
        "--trials", type=comma_list(int), default=None, help="trials (default: all)"
    )
    parser.add_argument(
        "--n-examples", type=int, default=None, help="first N test examples (default: all)"
    )
    parser.add_argument(
        "--no-checks", dest="checks", action="store_false", help="skip the masking checks"
    )
    parser.add_argument(
        "--check-eps", type=number, default=None, help="eps of the checks (default: training eps)"
    )
    strength = parser.add_argument_group("attack strength")
    for name, (default, text) in ATTACK_SETTINGS.items():  # each sets the presets owning it
        strength.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=default,
            help=f"{text} (default: {default})",
        )
    strength.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        help=f"test images attacked at once; lower it if memory runs out (default: {BATCH_SIZE})",
    )
    parser.add_argument(
        "--robustbench-entry",
        type=path_text,
        default=None,
        metavar="DIR",
        help="write each evaluated level's RobustBench model-info entry (JSON) into DIR; needs "
        "autoattack at the training eps; an entry not measured as the leaderboard measures (a "
        "subset of the test set, a lighter AutoAttack) says so (protocol.robustbench false)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument(
        "--data-dir", type=path_text, default=None, help="directory with the dataset files"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="levels evaluated at once, each in its own process (default: 1); with --jobs N, "
        "--threads is per process (default 1)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument(
        "--list-attacks", action="store_true", help="list the evaluation attacks and exit"
    )
    parser.set_defaults(handler=handle)


def _with_datasets(experiments: list, data_dir: str | None) -> list:
    """`experiments`, once every dataset they were trained on is here: a missing one (results
    copied from another machine) is fetched on first use, as `run` does."""
    from robust_tickets.data.fetch import ensure_dataset

    for dataset in sorted({exp.config().data.dataset for exp in experiments}):
        ensure_dataset(dataset, data_dir)
    return experiments


def options_from(args: argparse.Namespace) -> EvalOptions:
    """The evaluation `args` ask for: the strength flags become the attack settings (by flat
    name) that the presets owning them are built with."""
    from robust_tickets import limits
    from robust_tickets.evaluation.runner import EvalOptions

    attack_settings = {k: getattr(args, k) for k in ATTACK_SETTINGS}
    for name, value in attack_settings.items():
        high = limits.MAX_QUERIES if name == "square_queries" else limits.MAX_STEPS
        limits.count(f"--{name.replace('_', '-')}", value, 1, high)
    limits.count("--batch-size", args.batch_size, 1, limits.MAX_BATCH)
    if args.n_examples is not None:
        limits.count("--n-examples", args.n_examples, 1, limits.MAX_EXAMPLES)
    return EvalOptions(
        attacks=args.attacks,
        eps=args.eps,
        trials=args.trials,
        levels=args.levels,
        n_examples=args.n_examples,
        checks=args.checks,
        check_eps=args.check_eps,
        attack_settings=attack_settings,
        batch_size=args.batch_size,
        device=args.device,
        data_dir=args.data_dir,
        quiet=args.quiet,
    )


def handle(args: argparse.Namespace) -> int:
    from robust_tickets import limits
    from robust_tickets.evaluation.attacks import EVAL_ATTACKS
    from robust_tickets.evaluation.parallel import evaluate_parallel
    from robust_tickets.evaluation.runner import (
        announce,
        check_selection,
        claimed_levels,
        evaluate_experiment,
        find_experiment_dirs,
        verify_experiment,
    )
    from robust_tickets.evaluation.summary import format_results

    if args.list_attacks:
        for name in EVAL_ATTACKS.names():
            spec = EVAL_ATTACKS.get(name)
            print(f"{name:14s} {spec.kind:10s} {spec.description}")
        return 0
    if not args.dirs:
        raise UserError("give at least one results directory (DIR)")
    options = options_from(args)
    limits.count("--jobs", args.jobs, 1, limits.MAX_PROCESSES)
    if args.threads is not None:
        limits.count("--threads", args.threads, 1, limits.MAX_PROCESSES)
        import torch

        torch.set_num_threads(args.threads)
    if not options.attacks:
        raise UserError("--attacks is empty: name at least one (see --list-attacks)")
    for name in options.attacks:
        EVAL_ATTACKS.canonical(name)
    experiments = _with_datasets(find_experiment_dirs(args.dirs), args.data_dir)
    check_selection(experiments, options)
    entries_dir = None
    if args.robustbench_entry is not None:
        entries_dir = Path(args.robustbench_entry)
        check_output_dir(entries_dir, "--robustbench-entry")
        _check_robustbench(experiments, options)
    # damage anywhere stops the command before it writes anything
    work = [(exp, verify_experiment(exp, options)) for exp in experiments]
    started = time.perf_counter()
    # another `evaluate` on one of these levels: stop before writing (it would lose rows)
    with claimed_levels([plan for _, plans in work for plan in plans]):
        # what will run and for how long, before it does
        for line in announce(work, options, args.jobs):
            print(line, flush=True)  # stdout: stderr stays for errors (one line)
        if args.jobs > 1:
            evaluate_parallel(work, options, args.jobs, args.threads or 1)
        for exp, planned in work:
            plans = planned if args.jobs > 1 else evaluate_experiment(exp, options)
            results = [p.result for p in plans if p.result is not None]
            order = tuple(EVAL_ATTACKS.canonical(a) for a in options.attacks)
            print(
                format_results(exp.path.resolve(), results, _check_eps(exp, options), order=order)
            )
            if entries_dir is not None:
                for line in _write_entries(entries_dir, exp, plans):
                    print(line, flush=True)
    print(f"evaluate took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


def _check_robustbench(experiments: list[ExperimentDir], options: EvalOptions) -> None:
    """A RobustBench entry is AutoAttack at the training eps: both must be asked for."""
    from robust_tickets.evaluation.attacks import EVAL_ATTACKS
    from robust_tickets.evaluation.runner import default_eps

    if "autoattack" not in {EVAL_ATTACKS.canonical(a) for a in options.attacks}:
        raise UserError("--robustbench-entry needs autoattack: add it to --attacks")
    for exp in experiments:
        config = exp.config()
        radii = options.eps if options.eps is not None else default_eps(config)
        if f"{config.attack.eps:g}" not in {f"{e:g}" for e in radii}:
            raise UserError(
                f"--robustbench-entry needs autoattack at {exp.path.name}'s training eps "
                f"{config.attack.eps:g}: add it to --eps"
            )


def _write_entries(folder: Path, exp: ExperimentDir, plans: list) -> list[str]:
    """Each plan's RobustBench entry as FOLDER/<experiment>-trial_<t>-level_<ll>.json."""
    from robust_tickets.store import write_json

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for plan in plans:
        if plan.robustbench is None:
            continue
        path = folder / f"{exp.path.name}-trial_{plan.trial}-level_{plan.level:02d}.json"
        write_json(path, plan.robustbench)
        protocol = plan.robustbench["protocol"]
        why = "" if protocol["robustbench"] else f" (not its protocol: {protocol['problems'][0]})"
        lines.append(f"RobustBench entry {path}{why}")
    return lines


def _check_eps(exp: ExperimentDir, options: EvalOptions) -> float | None:
    if not options.checks:
        return None
    return options.check_eps if options.check_eps is not None else exp.config().attack.eps
