"""Progress reporting for long runs: a tqdm bar, or nothing when quiet."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


class Progress:
    """Counts training iterations over a whole run and shows the latest evaluation."""

    def __init__(self, total: int, *, quiet: bool = False, desc: str = "training") -> None:
        self.bar = (
            None
            if quiet
            else tqdm(
                total=total,
                desc=desc,
                unit="it",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                smoothing=0.05,
            )
        )

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
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
