"""Pruning criteria, one per module of this package, each registered in `CRITERIA` by its
module; every module here is imported, so adding a criterion is adding its file.

- `magnitude` (the paper's): keep the largest |w|.
- `random`: a uniformly random subset of the survivors, with magnitude's per-layer counts.
- `shuffle`: magnitude's mask permuted within each layer (the position control).
- `snip`: connection sensitivity |w * dL/dw| over a few training batches (Lee et al. 2019).
- `hydra`: HYDRA's pruning phase, trained importance scores (Sehwag et al. 2020).
"""

import importlib
import pkgutil

from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext

# The prefix spelled out (not __name__): tests/test_layers.py reads it as importing each module.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"robust_tickets.pruning.criteria.{_module.name}")

__all__ = ["CRITERIA", "Criterion", "PruneContext"]
