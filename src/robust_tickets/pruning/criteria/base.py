"""What every pruning criterion gets and is: `PruneContext` and `Criterion`.

A criterion selects the new masks from a `PruneContext` (keyed by parameter name, exactly `keep`
surviving weights per layer, or in total under `global` allocation). It sees the trained
network's named tensors, the current masks, the keep counts, the allocation, a seeded generator
and, for data-driven criteria, the trained model, a way to draw training batches and the run's
training loss, so criteria are added without touching the runner. Its own settings are its
`Params` (`self.params`), part of a run's identity only when it is chosen. Whatever else than
the masks a criterion hands to the level's start goes in `PruneContext.adapted`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from robust_tickets.components import Component, ComponentRegistry
from robust_tickets.models.ticket import prunable
from robust_tickets.pruning.allocation import Allocation, Masks, Scores


@dataclass(frozen=True)
class PruneContext:
    tensors: dict[str, torch.Tensor]  # the trained network's whole state, by name
    masks: Masks  # the current masks (1 = still there)
    keep: dict[str, int]  # weights each layer keeps (summed, under global allocation)
    allocation: Allocation  # the run's allocation: layerwise or global
    generator: torch.Generator  # seeded per trial and level
    model: nn.Module  # the trained network, masked, in eval mode
    batches: Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor]]]  # n training batches
    # the run's training loss of `model` on a batch (adversarial when the run trains so)
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    # filled by the criterion: state entries other than the prunable weights that it adapted
    # while choosing (HYDRA's batch norm under `hydra_train_bn`); a strategy that continues from
    # the trained network starts from them (`LevelStart.trained`), the others ignore them
    adapted: dict[str, torch.Tensor] = field(default_factory=dict)

    def keep_top(self, scores: Scores) -> Masks:
        """Masks keeping the best-scored surviving weights under this context's allocation."""
        return self.allocation.keep_top(scores, self.masks, self.keep)


class Criterion(Component):
    """Which weights a level keeps; subclasses set `name` and implement `select`."""

    needs_data: ClassVar[bool] = False  # draws training batches (`ctx.batches`)

    def select(self, ctx: PruneContext) -> Masks:
        raise NotImplementedError

    def steps(self) -> int:
        """Training-loss gradients it takes per pruning, each about a training step (for the
        sweep's time estimates)."""
        return 0

    def __call__(self, ctx: PruneContext) -> Masks:
        return self.select(ctx)


CRITERIA: ComponentRegistry[Criterion] = ComponentRegistry("pruning criterion")


def loss_grads(ctx: PruneContext, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradient of the run's loss on (x, y) with respect to each prunable weight."""
    params = prunable(ctx.model)
    grads = torch.autograd.grad(ctx.loss(x, y), list(params.values()))
    return dict(zip(params, grads, strict=True))
