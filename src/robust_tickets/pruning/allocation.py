"""Allocation: how many weights each layer keeps, and which ones given their scores.

`layerwise` keeps the top `keep[name]` scores of each layer; `global` keeps the top
``sum(keep.values())`` over all layers at once. Exactly that many survive: ties are broken by
`torch.topk`, never by a ``<=`` cutoff that can remove extra weights. Pruned weights (mask 0)
never come back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from robust_tickets.registry import Registry

Scores = dict[str, torch.Tensor]
Masks = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Allocation:
    keep_top: Callable[[Scores, Masks, dict[str, int]], Masks]
    rate_fields: tuple[str, ...]  # config fields of the pruning rates it reads


PRUNE_METHODS: Registry[Allocation] = Registry("pruning method")


def _keep_top(scores: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    scores = scores.flatten().float()
    flat = torch.where(mask.flatten() > 0, scores, torch.full_like(scores, float("-inf")))
    new = torch.zeros_like(mask.flatten())
    if keep > 0:
        new[torch.topk(flat, keep, sorted=False).indices] = 1.0
    return new.view_as(mask)


def layerwise(scores: Scores, masks: Masks, keep: dict[str, int]) -> Masks:
    """Per layer, keep the `keep[name]` surviving weights of largest score."""
    return {name: _keep_top(scores[name], masks[name], keep[name]) for name in masks}


def global_top(scores: Scores, masks: Masks, keep: dict[str, int]) -> Masks:
    """Keep the ``sum(keep.values())`` surviving weights of largest score across all layers."""
    names = list(masks)
    flat_scores = torch.cat([scores[n].flatten().float() for n in names])
    flat_masks = torch.cat([masks[n].flatten() for n in names])
    flat = _keep_top(flat_scores, flat_masks, sum(keep.values()))
    out, start = {}, 0
    for n in names:
        size = masks[n].numel()
        out[n] = flat[start : start + size].view_as(masks[n])
        start += size
    return out


PRUNE_METHODS.register("layerwise", aliases=("local", "sparse_local"))(
    Allocation(layerwise, ("prune_rate", "prune_rate_conv", "prune_rate_output"))
)
PRUNE_METHODS.register("global", aliases=("sparse_global",))(
    Allocation(global_top, ("prune_rate",))
)


def keep_counts(sizes: dict[str, int], rates: dict[str, float], level: int) -> dict[str, int]:
    """Weights each layer keeps at `level`: ``round(size * (1 - rate) ** level)``.

    Targeting the schedule from the layer's full size (rather than rounding 20% of whatever
    survived, level after level) keeps every level within half a weight of the paper's
    fractions instead of letting rounding errors accumulate.
    """
    return {n: round(sizes[n] * (1.0 - rates[n]) ** level) for n in sizes}


def layer_rates(kinds: dict[str, str], rates_by_kind: dict[str, float]) -> dict[str, float]:
    """Each prunable parameter's rate from its kind (`conv`, `fc`, `output`)."""
    return {name: rates_by_kind[kind] for name, kind in kinds.items()}
