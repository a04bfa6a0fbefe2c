"""The datasets the project knows: their files, checksums, where they may already be, and the
sources to fetch them from (tried in order: see `fetch.py`). Each is one module of
`robust_tickets.data.datasets`, all imported here, so adding a dataset is adding its file."""

from __future__ import annotations

import robust_tickets.data.datasets  # noqa: F401  (registers every dataset)
from robust_tickets.data.spec import DATASETS

__all__ = ["DATASETS"]
