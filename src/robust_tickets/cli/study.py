"""`robust-tickets study STORE... --out DIR`: worst-case robust accuracy per setting, method and
sparsity, with 95% intervals and paired tests, from what `evaluate` stored."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robust_tickets.cli.options import comma_list
from robust_tickets.cli.paths import output_path
from robust_tickets.config import number

ORDER = 65

# repeated from report.study (which imports torch; --help must not)
DEFAULT_ATTACKS = "apgd-ce,apgd-t,fab-t,square"
LEVEL0 = "level0"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "study",
        help="worst-case robust accuracy per method and sparsity, intervals and paired tests",
        description="Read every evaluated level under STORE... (its robustness/ per-image "
        "results), take each test image's worst case over --attacks, and write per setting, "
        "method and sparsity the accuracy with 95% intervals (Wilson per seed, t across "
        "seeds), paired tests (exact McNemar on the same images, paired t across seeds, Holm "
        "within each family), a Markdown table, one figure per setting and the packed "
        "per-image file every number can be recomputed from (--from-per-image).",
    )
    parser.add_argument("stores", nargs="*", type=Path, metavar="STORE")
    parser.add_argument(
        "--out", "-o", type=output_path, required=True, metavar="DIR", help="output directory"
    )
    parser.add_argument(
        "--eps",
        type=number,
        default=None,
        help="the radius whose results are read (default: each experiment's training eps)",
    )
    parser.add_argument(
        "--attacks",
        default=DEFAULT_ATTACKS,
        help=f"the attacks of the worst case, the same for every network (default {DEFAULT_ATTACKS}"
        ": AutoAttack's standard set)",
    )
    parser.add_argument(
        "--n",
        type=_positive_int,
        default=None,
        metavar="N",
        help="the first N test images (default: the most every network has every attack on)",
    )
    parser.add_argument(
        "--dense",
        default=LEVEL0,
        metavar="METHOD",
        help="the dense reference of the tests and the figures' band: `level0` (default: level "
        "0 of each ticket's own trial) or a method's name (e.g. `dense`, a run that never prunes)",
    )
    parser.add_argument(
        "--trials",
        type=comma_list(int, "trial numbers"),
        default=None,
        metavar="T,T",
        help="only these trials (default: every trial evaluated), e.g. while later seeds are "
        "still training or being evaluated",
    )
    parser.add_argument(
        "--exclude-incomplete",
        action="store_true",
        help="leave out (and list) networks lacking an attack instead of stopping",
    )
    parser.add_argument(
        "--from-per-image",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="recompute everything from a per_image.npz this command wrote, without a store; "
        "repeat it, or add STOREs, to merge studies of the same attacks and images (a network "
        "in two of them must have the same results)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from robust_tickets.cli.paths import check_output_dir
    from robust_tickets.errors import UserError

    if args.from_per_image:
        fixed = ["--n"] if args.n is not None else []
        fixed += ["--attacks"] if args.attacks != DEFAULT_ATTACKS else []
        if fixed:
            raise UserError(
                f"{', '.join(fixed)}: fixed by the per-image file; leave them out with "
                "--from-per-image"
            )
        store_only = [
            f for f, v in (("--eps", args.eps), ("--trials", args.trials)) if v is not None
        ]
        store_only += ["--exclude-incomplete"] if args.exclude_incomplete else []
        if store_only and not args.stores:
            raise UserError(
                f"{', '.join(store_only)}: these choose what is read from a STORE; a per-image "
                "file has them fixed"
            )
    elif not args.stores:
        raise UserError("give at least one STORE (a results directory) or --from-per-image")
    check_output_dir(args.out, "--out")
    from robust_tickets.report.study import run_study

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    written = run_study(
        args.out,
        args.stores,
        from_per_image=args.from_per_image,
        attacks=args.attacks,
        eps=args.eps,
        n=args.n,
        dense=args.dense,
        exclude_incomplete=args.exclude_incomplete,
        trials=args.trials,
        say=say,
    )
    for path in written:
        print(path)
    return 0
