"""`shuffle`: magnitude's mask permuted within each layer, over every position of the layer:
magnitude's per-layer density, random positions (not nested: the position control)."""

from __future__ import annotations

import torch

from robust_tickets.pruning.allocation import Masks
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext
from robust_tickets.pruning.criteria.magnitude import magnitude_masks


@CRITERIA.add
class Shuffle(Criterion):
    name = "shuffle"
    after_level0 = True  # runs when a pruned level starts, never during level 0

    def select(self, ctx: PruneContext) -> Masks:
        out = {}
        for name, mask in magnitude_masks(ctx).items():
            order = torch.randperm(mask.numel(), generator=ctx.generator)
            out[name] = mask.flatten()[order].view_as(mask)
        return out
