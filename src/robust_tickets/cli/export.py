"""`robust-tickets export RUN_DIR|LEVEL_DIR -o FILE`: a ticket as a plain state dict.

The file holds the network's whole state (every parameter and buffer) with the removed weights
zero, under the architecture's own parameter names and nothing of robust_tickets, so it loads
with ``load_state_dict(strict=True)`` into the unpruned network in plain PyTorch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robust_tickets.cli.paths import check_parents, output_path
from robust_tickets.errors import UserError

ORDER = 70


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write a ticket as a plain state dict (.pt or .safetensors) and print its sparsity",
        description="Write the final network of a finished level, removed weights zero, as a "
        "plain state dict that loads with load_state_dict into the unpruned architecture "
        "without robust_tickets; print the fraction of weights removed, overall and per layer.",
    )
    parser.add_argument("path", type=Path, metavar="RUN_DIR|LEVEL_DIR")
    parser.add_argument("--trial", type=int, default=None, help="trial of RUN_DIR (default 0)")
    parser.add_argument(
        "--level", type=int, default=None, help="level of RUN_DIR (default: its last finished)"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=output_path,
        required=True,
        metavar="FILE",
        help="where to write: FILE.pt (torch.save) or FILE.safetensors",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from robust_tickets.api import export_ticket

    if args.output.is_dir():
        raise UserError(f"-o {args.output} is a directory: give a file name")
    check_parents(args.output, "-o")
    removed = export_ticket(args.path, args.output, trial=args.trial, level=args.level)
    print(f"wrote {args.output}")
    print(f"sparsity {100 * removed.pop('overall'):.2f}% of prunable weights removed")
    width = max(map(len, removed), default=0)
    for name, fraction in removed.items():
        print(f"  {name:<{width}}  {100 * fraction:6.2f}% removed")
    return 0
