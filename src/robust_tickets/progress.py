"""Progress reporting for long runs: a tqdm bar, or nothing when quiet."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

PERCENT_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"


class Progress:
    """Counts training iterations over a whole run and shows the latest evaluation."""

    def __init__(
        self, total: float, *, quiet: bool = False, desc: str = "training", unit: str = "it"
    ) -> None:
        # a bar counting estimated work (not whole items) shows percent and times, not counts
        counts = "" if unit == "it" else None
        self.bar = (
            None
            if quiet
            else tqdm(
                total=total,
                desc=desc,
                unit=unit,
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                smoothing=0.05,
                bar_format=None if counts is not None else PERCENT_FORMAT,
            )
        )

    def advance(self, n: float = 1) -> None:
        if self.bar is not None:
            if self.bar.total:  # float sums of estimated work may overshoot by a rounding
                n = min(n, self.bar.total - self.bar.n)
            self.bar.update(n)

    def show(self, **fields: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(fields, refresh=False)

    def write(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
