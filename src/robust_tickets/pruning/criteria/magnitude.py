"""`magnitude` (the paper's): keep the surviving weights of largest |w|."""

from __future__ import annotations

from robust_tickets.pruning.allocation import Masks
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext


def magnitude_masks(ctx: PruneContext) -> Masks:
    """Keep the surviving weights of largest magnitude |w| (iterative magnitude pruning)."""
    return ctx.keep_top({name: ctx.tensors[name].abs() for name in ctx.masks})


def layer_counts(ctx: PruneContext) -> dict[str, int]:
    """Weights each layer keeps this level: the schedule's (layerwise), or what magnitude's
    global ranking leaves in each layer (global), so controls match magnitude layer by layer."""
    if ctx.allocation.per_layer:
        return dict(ctx.keep)
    return {name: int(mask.sum()) for name, mask in magnitude_masks(ctx).items()}


@CRITERIA.add
class Magnitude(Criterion):
    name = "magnitude"
    aliases = ("imp",)
    after_level0 = True  # runs when a pruned level starts, never during level 0

    def select(self, ctx: PruneContext) -> Masks:
        return magnitude_masks(ctx)
