"""Pruning: the criterion (which weights matter), the allocation (per layer or global) and the
strategy (what the survivors start from) are three separate choices, each a component owning
its settings (`robust_tickets.components`)."""

from robust_tickets.pruning.allocation import PRUNE_METHODS, Allocation, keep_counts, layer_rates
from robust_tickets.pruning.criteria import CRITERIA, Criterion, PruneContext
from robust_tickets.pruning.strategies import STRATEGIES, LevelStart, Strategy

__all__ = [
    "CRITERIA",
    "PRUNE_METHODS",
    "STRATEGIES",
    "Allocation",
    "Criterion",
    "LevelStart",
    "PruneContext",
    "Strategy",
    "keep_counts",
    "layer_rates",
]
