"""Pruning: the criterion (which weights matter), the allocation (per layer or global) and the
strategy (what the survivors start from) are three separate choices."""

from robust_tickets.pruning.allocation import PRUNE_METHODS, keep_counts, layer_rates
from robust_tickets.pruning.criteria import CRITERIA, PruneContext
from robust_tickets.pruning.strategies import STRATEGIES, LevelStart, Strategy

__all__ = [
    "CRITERIA",
    "PRUNE_METHODS",
    "STRATEGIES",
    "LevelStart",
    "PruneContext",
    "Strategy",
    "keep_counts",
    "layer_rates",
]
