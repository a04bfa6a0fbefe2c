"""`snip`: connection sensitivity |w * dL/dw| (Lee et al. 2019), the gradient summed over a few
training batches of the run's loss (adversarial when training is)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robust_tickets.components import Params, setting
from robust_tickets.limits import MAX_CRITERION_STEPS
from robust_tickets.models.ticket import prunable
from robust_tickets.pruning.allocation import Masks
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext, loss_grads


@CRITERIA.add
class Snip(Criterion):
    name = "snip"
    needs_data = True
    after_level0 = True  # runs when a pruned level starts, never during level 0

    @dataclass(frozen=True)
    class Params(Params):
        batches: int = setting(10, "training batches the sensitivity is summed over", since=10)

        def validate(self) -> None:
            self.require(self.batches >= 1, "batches", "must be at least 1")
            self.require(
                self.batches <= MAX_CRITERION_STEPS,
                "batches",
                f"must be at most {MAX_CRITERION_STEPS:,}",
            )

    def steps(self) -> int:
        return self.params.batches

    def select(self, ctx: PruneContext) -> Masks:
        params = prunable(ctx.model)
        total = {n: torch.zeros_like(p) for n, p in params.items()}
        for x, y in ctx.batches(self.params.batches):
            for n, g in loss_grads(ctx, x, y).items():
                total[n] += g
        return ctx.keep_top({n: (params[n].detach() * total[n]).abs().cpu() for n in params})
