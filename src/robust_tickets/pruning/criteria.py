"""Pruning criteria: which weights a level keeps, given the trained network.

A criterion is a function of a `PruneContext` returning the new masks (keyed by parameter name,
exactly `keep` surviving weights per layer, or in total under `global` allocation). It sees the
trained network's named tensors, the current masks, the keep counts, a seeded generator and,
for data-driven criteria, the trained model, a way to draw training batches and the run's
training loss, so criteria are added here without touching the runner. `magnitude` is the
paper's: keep the largest |w|.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from robust_tickets.config import ExperimentConfig
from robust_tickets.pruning.allocation import PRUNE_METHODS, Masks, Scores
from robust_tickets.registry import Registry


@dataclass(frozen=True)
class PruneContext:
    tensors: dict[str, torch.Tensor]  # the trained network's whole state, by name
    masks: Masks  # the current masks (1 = still there)
    keep: dict[str, int]  # weights each layer keeps (summed, under global allocation)
    allocation: str  # a `PRUNE_METHODS` name: layerwise or global
    generator: torch.Generator  # seeded per trial and level
    model: nn.Module  # the trained network, masked, in eval mode
    batches: Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor]]]  # n training batches
    # the run's training loss of `model` on a batch (adversarial when the run trains so)
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    config: ExperimentConfig  # the run's config (a criterion's own settings live there)

    def keep_top(self, scores: Scores) -> Masks:
        """Masks keeping the best-scored surviving weights under this context's allocation."""
        return PRUNE_METHODS.get(self.allocation).keep_top(scores, self.masks, self.keep)


Criterion = Callable[[PruneContext], Masks]
CRITERIA: Registry[Criterion] = Registry("pruning criterion")


@CRITERIA.register("magnitude", aliases=("imp",))
def magnitude(ctx: PruneContext) -> Masks:
    """Keep the surviving weights of largest magnitude |w| (iterative magnitude pruning)."""
    return ctx.keep_top({name: ctx.tensors[name].abs() for name in ctx.masks})
