"""`random`: a uniformly random subset of each layer's survivors, with the per-layer counts the
schedule gives (under `global`, the counts magnitude's global ranking gives). Nested in the
current masks, so pruned weights never come back."""

from __future__ import annotations

import torch

from robust_tickets.pruning.allocation import Masks, layerwise
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext
from robust_tickets.pruning.criteria.magnitude import layer_counts


@CRITERIA.add
class Random(Criterion):
    name = "random"
    after_level0 = True  # runs when a pruned level starts, never during level 0

    def select(self, ctx: PruneContext) -> Masks:
        scores = {n: torch.rand(m.shape, generator=ctx.generator) for n, m in ctx.masks.items()}
        return layerwise(scores, ctx.masks, layer_counts(ctx))
