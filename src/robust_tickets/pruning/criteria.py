"""Pruning criteria: which weights a level keeps, given the trained network.

A criterion selects the new masks from a `PruneContext` (keyed by parameter name, exactly `keep`
surviving weights per layer, or in total under `global` allocation). It sees the trained
network's named tensors, the current masks, the keep counts, a seeded generator and, for
data-driven criteria, the trained model, a way to draw training batches and the run's training
loss, so criteria are added here without touching the runner. Like attacks and strategies, a
criterion declares the config fields of its own (`uses`), which are then part of a run's
identity only when it is chosen, and whether it reads training data (`needs_data`).

- `magnitude` (the paper's): keep the largest |w|.
- `random`: a uniformly random subset of the survivors, with the per-layer counts the schedule
  gives (under `global`, the counts magnitude's global ranking gives). Nested in the current
  masks, so pruned weights never come back.
- `shuffle`: magnitude's mask permuted within each layer, over every position of the layer:
  magnitude's per-layer density, random positions (not nested: the position control).
- `snip`: connection sensitivity |w * dL/dw| summed over `snip_batches` training batches of
  the run's loss (adversarial when training is; Lee et al. 2019).
- `hydra`: HYDRA's pruning phase (Sehwag et al. 2020) -- see `hydra` below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from robust_tickets.config import ExperimentConfig
from robust_tickets.models.ticket import prunable
from robust_tickets.pruning.allocation import PRUNE_METHODS, Masks, Scores, layerwise
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


def _no_steps(config: ExperimentConfig) -> int:
    return 0


@dataclass(frozen=True)
class Criterion:
    select: Callable[[PruneContext], Masks]
    uses: tuple[str, ...] = ()  # config fields of its own
    needs_data: bool = False  # draws training batches (`ctx.batches`)
    # training-loss gradients it takes per pruning, each about a training step (for estimates)
    steps: Callable[[ExperimentConfig], int] = _no_steps

    def __call__(self, ctx: PruneContext) -> Masks:
        return self.select(ctx)


CRITERIA: Registry[Criterion] = Registry("pruning criterion")


def criterion(
    name: str,
    *,
    aliases: tuple[str, ...] = (),
    uses: tuple[str, ...] = (),
    needs_data: bool = False,
    steps: Callable[[ExperimentConfig], int] = _no_steps,
) -> Callable[[Callable[[PruneContext], Masks]], Callable[[PruneContext], Masks]]:
    """Register a selection function as the criterion `name`."""

    def decorator(fn: Callable[[PruneContext], Masks]) -> Callable[[PruneContext], Masks]:
        CRITERIA.register(name, aliases=aliases)(Criterion(fn, uses, needs_data, steps))
        return fn

    return decorator


@criterion("magnitude", aliases=("imp",))
def magnitude(ctx: PruneContext) -> Masks:
    """Keep the surviving weights of largest magnitude |w| (iterative magnitude pruning)."""
    return ctx.keep_top({name: ctx.tensors[name].abs() for name in ctx.masks})


def layer_counts(ctx: PruneContext) -> dict[str, int]:
    """Weights each layer keeps this level: the schedule's (layerwise), or what magnitude's
    global ranking leaves in each layer (global), so controls match magnitude layer by layer."""
    if ctx.allocation == "layerwise":
        return dict(ctx.keep)
    return {name: int(mask.sum()) for name, mask in magnitude(ctx).items()}


@criterion("random")
def random_subset(ctx: PruneContext) -> Masks:
    """A uniformly random subset of each layer's survivors, with magnitude's per-layer counts."""
    scores = {n: torch.rand(m.shape, generator=ctx.generator) for n, m in ctx.masks.items()}
    return layerwise(scores, ctx.masks, layer_counts(ctx))


@criterion("shuffle")
def shuffled_magnitude(ctx: PruneContext) -> Masks:
    """Magnitude's mask with its entries permuted within each layer (over all positions)."""
    out = {}
    for name, mask in magnitude(ctx).items():
        order = torch.randperm(mask.numel(), generator=ctx.generator)
        out[name] = mask.flatten()[order].view_as(mask)
    return out


def _grads(ctx: PruneContext, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradient of the run's loss on (x, y) with respect to each prunable weight."""
    params = prunable(ctx.model)
    grads = torch.autograd.grad(ctx.loss(x, y), list(params.values()))
    return dict(zip(params, grads, strict=True))


@criterion("snip", uses=("snip_batches",), needs_data=True, steps=lambda c: c.prune.snip_batches)
def snip(ctx: PruneContext) -> Masks:
    """Keep the largest connection sensitivities |w * dL/dw| (Lee et al. 2019), the gradient
    summed over a few training batches of the run's (possibly adversarial) loss."""
    params = prunable(ctx.model)
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    for x, y in ctx.batches(ctx.config.prune.snip_batches):
        for n, g in _grads(ctx, x, y).items():
            total[n] += g
    return ctx.keep_top({n: (params[n].detach() * total[n]).abs().cpu() for n in params})


# HYDRA's score optimiser: SGD with momentum 0.9 and weight decay 1e-4 on the scores under a
# cosine schedule, as in its released training setup; the rate is `hydra_lr`.
_MOMENTUM, _DECAY = 0.9, 1e-4


def scaled_scores(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HYDRA's `--scaled-score-init`: s = sqrt(6 / fan_in) * w / max|w|, per layer (the scale of
    a Kaiming-uniform init, proportional to the trained weights)."""
    out = {}
    for name, w in weights.items():
        fan_in = w[0].numel()  # in_features, or in_channels * kernel area
        out[name] = math.sqrt(6 / fan_in) * w / w.abs().max().clamp_min(1e-12)
    return out


@criterion(
    "hydra", uses=("hydra_iters", "hydra_lr"), needs_data=True, steps=lambda c: c.prune.hydra_iters
)
def hydra(ctx: PruneContext) -> Masks:
    """HYDRA's pruning phase (Sehwag et al. 2020): train importance scores, weights frozen.

    Scores start at `scaled_scores` of the trained weights. Each step runs the run's training
    loss (adversarial when training is) on the subnetwork of the top-|s| weights under this
    level's allocation and counts (the current masks a constraint), and moves the scores by
    the straight-through gradient: the mask's top-k is treated as the identity, so
    dL/ds = dL/dw_eff * w * sign(s) with w_eff = w * mask. After `hydra_iters` steps the final
    top-|s| is the mask. The model's weights are put back exactly as they were; the ticket's
    survivors then start from them (strategy `continue`: HYDRA's fine-tuning phase).
    """
    cfg = ctx.config.prune
    params = prunable(ctx.model)
    weights = {n: p.detach().clone() for n, p in params.items()}
    scores = scaled_scores(weights)
    velocity = {n: torch.zeros_like(s) for n, s in scores.items()}

    def top(s: dict[str, torch.Tensor]) -> Masks:
        return ctx.keep_top({n: v.abs().cpu() for n, v in s.items()})

    try:
        for i, (x, y) in enumerate(ctx.batches(cfg.hydra_iters)):
            mask = top(scores)
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(weights[n] * mask[n].to(p.device))
            grads = _grads(ctx, x, y)
            lr = 0.5 * cfg.hydra_lr * (1 + math.cos(math.pi * i / cfg.hydra_iters))
            with torch.no_grad():
                for n, s in scores.items():
                    g = grads[n] * weights[n] * torch.sign(s) + _DECAY * s
                    velocity[n].mul_(_MOMENTUM).add_(g)
                    s.sub_(lr * velocity[n])
    finally:
        with torch.no_grad():  # the weights are frozen: leave them exactly as found
            for n, p in params.items():
                p.copy_(weights[n])
    return top(scores)
