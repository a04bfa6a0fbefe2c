"""Pruning: mask computation (methods) kept apart from what happens to the weights (strategies)."""

from robust_tickets.pruning.magnitude import PRUNE_METHODS, keep_counts, layer_rates
from robust_tickets.pruning.strategies import STRATEGIES, LevelStart, Strategy

__all__ = ["PRUNE_METHODS", "STRATEGIES", "LevelStart", "Strategy", "keep_counts", "layer_rates"]
