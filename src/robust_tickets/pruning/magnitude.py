"""Magnitude pruning: which surviving weights to keep, given how many each layer may keep.

A pruning method maps (scores, current masks, keep counts) to new masks. Scores are |weight| of
the trained weights. Exactly `keep` weights survive per layer (layerwise) or in total (global):
ties are broken by `torch.topk`, never by a ``<=`` cutoff that can remove extra weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from robust_tickets.registry import Registry

PruneMethod = Callable[
    [dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, int]], dict[str, torch.Tensor]
]
PRUNE_METHODS: Registry[PruneMethod] = Registry("pruning method")


def _keep_top(scores: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    flat = torch.where(
        mask.flatten() > 0, scores.flatten(), torch.full_like(scores.flatten(), -1.0)
    )
    new = torch.zeros_like(flat)
    if keep > 0:
        new[torch.topk(flat, keep, sorted=False).indices] = 1.0
    return new.view_as(mask)


@PRUNE_METHODS.register("layerwise", aliases=("local", "sparse_local"))
def layerwise(
    scores: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], keep: dict[str, int]
) -> dict[str, torch.Tensor]:
    """Per layer, keep the `keep[name]` surviving weights of largest score."""
    return {name: _keep_top(scores[name].abs(), masks[name], keep[name]) for name in masks}


@PRUNE_METHODS.register("global", aliases=("sparse_global",))
def global_magnitude(
    scores: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], keep: dict[str, int]
) -> dict[str, torch.Tensor]:
    """Keep the ``sum(keep.values())`` surviving weights of largest score across all layers."""
    names = list(masks)
    flat_scores = torch.cat([scores[n].abs().flatten() for n in names])
    flat_masks = torch.cat([masks[n].flatten() for n in names])
    flat = _keep_top(flat_scores, flat_masks, sum(keep.values()))
    out, start = {}, 0
    for n in names:
        size = masks[n].numel()
        out[n] = flat[start : start + size].view_as(masks[n])
        start += size
    return out


def keep_counts(sizes: dict[str, int], rates: dict[str, float], level: int) -> dict[str, int]:
    """Weights each layer keeps at `level`: ``round(size * (1 - rate) ** level)``.

    Targeting the schedule from the layer's full size (rather than rounding 20% of whatever
    survived, level after level) keeps every level within half a weight of the paper's
    fractions instead of letting rounding errors accumulate.
    """
    return {n: round(sizes[n] * (1.0 - rates[n]) ** level) for n in sizes}


def layer_rates(names: list[str], hidden_rate: float, output_rate: float) -> dict[str, float]:
    """The paper's rates: `hidden_rate` for every layer but the last, `output_rate` for the last."""
    return {n: (output_rate if i == len(names) - 1 else hidden_rate) for i, n in enumerate(names)}
