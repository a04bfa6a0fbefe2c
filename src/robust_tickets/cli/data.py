"""`robust-tickets data list|fetch`: which datasets are here, and getting them."""

from __future__ import annotations

import argparse

from robust_tickets.errors import UserError

ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="list or fetch datasets")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every registered dataset and where it is")
    listing.add_argument("--data-dir", default=None)
    listing.set_defaults(handler=handle_list)
    fetching = actions.add_parser("fetch", help="get a dataset and verify its checksums")
    fetching.add_argument("names", nargs="*", metavar="NAME")
    fetching.add_argument("--all", action="store_true", help="every registered dataset")
    fetching.add_argument("--data-dir", default=None)
    fetching.add_argument(
        "--quiet-if-present",
        action="store_true",
        help="print nothing when the dataset is already here",
    )
    fetching.set_defaults(handler=handle_fetch)


def handle_list(args: argparse.Namespace) -> int:
    from robust_tickets.data import DATASETS
    from robust_tickets.data.locate import locate

    for name in DATASETS.names():
        spec = DATASETS.get(name)
        where = locate(spec, args.data_dir)
        status = f"present  {where}" if where else f"missing  get it with {spec.how_to_get}"
        print(f"{name:15s} {status}")
    return 0


def handle_fetch(args: argparse.Namespace) -> int:
    from robust_tickets.data import DATASETS
    from robust_tickets.data.fetch import fetch

    names = DATASETS.names() if args.all else args.names
    if not names:
        raise UserError("name a dataset to fetch (or --all): see `robust-tickets data list`")
    for name in names:
        where, source = fetch(name, args.data_dir)
        if not (args.quiet_if_present and source == "already present"):
            print(f"{DATASETS.canonical(name)}: {where} ({source}, checksums verified)")
    return 0
