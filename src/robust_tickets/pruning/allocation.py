"""Allocation: how many weights each layer keeps, and which ones given their scores.

`layerwise` keeps the top `keep[name]` scores of each layer; `global` keeps the top
``sum(keep.values())`` over all layers at once. Exactly that many survive: ties are broken by
`torch.topk`, never by a ``<=`` cutoff that can remove extra weights. Pruned weights (mask 0)
never come back. How many a layer keeps is the schedule's count (`keep_counts`), or under
`layerwise`'s `count: original` the original code's (`original_keep_counts`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from robust_tickets.components import Component, ComponentRegistry, Params, setting

Scores = dict[str, torch.Tensor]
Masks = dict[str, torch.Tensor]


class Allocation(Component):
    """How a level's budget of surviving weights is spread over the layers, and the pruning
    rate of each layer (its own settings)."""

    per_layer: ClassVar[bool]  # each layer keeps its own count (else: one ranking over all)

    def keep_top(self, scores: Scores, masks: Masks, keep: dict[str, int]) -> Masks:
        raise NotImplementedError

    def rates(self, kinds: dict[str, str]) -> dict[str, float]:
        """Each prunable parameter's rate per level, from its kind (`conv`, `fc`, `output`)."""
        raise NotImplementedError

    def keep_counts(
        self, sizes: dict[str, int], rates: dict[str, float], level: int
    ) -> dict[str, int]:
        """Weights each layer keeps at schedule level `level` (the schedule's count)."""
        return keep_counts(sizes, rates, level)

    def fit(self, kinds: set[str]) -> Allocation:
        """Itself with the settings for kinds of layer the model lacks at their defaults (they
        change nothing, so they must not split a run's identity)."""
        return self


PRUNE_METHODS: ComponentRegistry[Allocation] = ComponentRegistry("pruning method")


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


_RATE = "must be in [0, 1)"
COUNTS = ("schedule", "original")


@PRUNE_METHODS.add
class Layerwise(Allocation):
    """Per layer, the schedule's count at the rate of the layer's kind."""

    name = "layerwise"
    aliases = ("local", "sparse_local")
    per_layer = True
    after_level0 = True  # counts and ranks pruned levels' weights only

    @dataclass(frozen=True)
    class Params(Params):
        rate: float = setting(
            0.2,
            "fraction of survivors pruned per level in fully connected hidden layers",
            flat="prune_rate",
        )
        rate_output: float = setting(
            0.1, "fraction pruned per level in the output layer", flat="prune_rate_output"
        )
        rate_conv: float = setting(
            0.1, "fraction pruned per level in convolutional layers", flat="prune_rate_conv"
        )
        count: str = setting(
            "schedule",
            "how many weights a layer keeps at level k: schedule (round(n (1 - rate)^k), the "
            "paper's fractions) or original (the original code's cutoff: round(rate x "
            "survivors) + 1 pruned per level, compounding; docs/faithfulness.md)",
            flat="prune_count",
        )

        def validate(self) -> None:
            for name in ("rate", "rate_output", "rate_conv"):
                self.require(0 <= getattr(self, name) < 1, name, _RATE)
            self.require(self.count in COUNTS, "count", f"must be one of {', '.join(COUNTS)}")

    def keep_top(self, scores: Scores, masks: Masks, keep: dict[str, int]) -> Masks:
        return layerwise(scores, masks, keep)

    def keep_counts(
        self, sizes: dict[str, int], rates: dict[str, float], level: int
    ) -> dict[str, int]:
        if self.params.count == "original":
            return original_keep_counts(sizes, rates, level)
        return keep_counts(sizes, rates, level)

    def rates(self, kinds: dict[str, str]) -> dict[str, float]:
        p = self.params
        by_kind = {"conv": p.rate_conv, "fc": p.rate, "output": p.rate_output}
        return layer_rates(kinds, by_kind)

    def fit(self, kinds: set[str]) -> Allocation:
        if "conv" in kinds:
            return self
        return Layerwise(dataclasses.replace(self.params, rate_conv=self.Params().rate_conv))


@PRUNE_METHODS.add
class Global(Allocation):
    """One ranking over all layers at one rate: the sum of the schedule's counts survives."""

    name = "global"
    aliases = ("sparse_global",)
    per_layer = False
    after_level0 = True  # counts and ranks pruned levels' weights only

    @dataclass(frozen=True)
    class Params(Params):
        rate: float = setting(
            0.2,
            "fraction of survivors pruned per level over all layers",
            flat="prune_rate",
        )

        def validate(self) -> None:
            self.require(0 <= self.rate < 1, "rate", _RATE)

    def keep_top(self, scores: Scores, masks: Masks, keep: dict[str, int]) -> Masks:
        return global_top(scores, masks, keep)

    def rates(self, kinds: dict[str, str]) -> dict[str, float]:
        return dict.fromkeys(kinds, self.params.rate)


def keep_counts(sizes: dict[str, int], rates: dict[str, float], level: int) -> dict[str, int]:
    """Weights each layer keeps at `level`: ``round(size * (1 - rate) ** level)``.

    Targeting the schedule from the layer's full size (rather than rounding 20% of whatever
    survived, level after level) keeps every level within half a weight of the paper's
    fractions instead of letting rounding errors accumulate.
    """
    return {n: round(sizes[n] * (1.0 - rates[n]) ** level) for n in sizes}


def original_keep_counts(
    sizes: dict[str, int], rates: dict[str, float], level: int
) -> dict[str, int]:
    """Weights each layer keeps at `level` under the original code's rule
    (experiments/pruning.py of justincosentino/robust-sparse-networks): each level sorts the
    survivors' magnitudes, takes the one at index ``round(rate * survivors)`` (numpy's round,
    half to even, as Python's) as the cutoff and prunes every weight ``<=`` it, so
    ``round(rate * survivors) + 1`` go per level (no ties), one more than the rate, compounding."""
    out = {}
    for name, size in sizes.items():
        kept = size
        for _ in range(level):
            kept = max(0, kept - round(rates[name] * kept) - 1)
        out[name] = kept
    return out


def layer_rates(kinds: dict[str, str], rates_by_kind: dict[str, float]) -> dict[str, float]:
    """Each prunable parameter's rate from its kind (`conv`, `fc`, `output`)."""
    return {name: rates_by_kind[kind] for name, kind in kinds.items()}
