"""Reading the committed metrics CSVs, plain or gzipped (original/metrics.csv.gz: the
original-behaviour run's rows are over 5 MB as text)."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a `robust-tickets results --csv` file, `.csv` or `.csv.gz`."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        yield from csv.DictReader(handle)


NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}  # the datasets as pages name them
