"""`hydra`: HYDRA's pruning phase (Sehwag et al. 2020), importance scores trained with the
weights frozen."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from robust_tickets.components import Params, setting
from robust_tickets.limits import MAX_CRITERION_STEPS
from robust_tickets.models.ticket import prunable
from robust_tickets.pruning.allocation import Masks
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext, loss_grads

# HYDRA's score optimiser: SGD with momentum 0.9 and weight decay 1e-4 on the scores under a
# cosine schedule, as in its released training setup; the rate is the `lr` setting.
_MOMENTUM, _DECAY = 0.9, 1e-4


def scaled_scores(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HYDRA's `--scaled-score-init`: s = sqrt(6 / fan_in) * w / max|w|, per layer (the scale of
    a Kaiming-uniform init, proportional to the trained weights)."""
    out = {}
    for name, w in weights.items():
        fan_in = w[0].numel()  # in_features, or in_channels * kernel area
        out[name] = math.sqrt(6 / fan_in) * w / w.abs().max().clamp_min(1e-12)
    return out


@CRITERIA.add
class Hydra(Criterion):
    """Scores start at `scaled_scores` of the trained weights. Each step runs the run's training
    loss (adversarial when training is) on the subnetwork of the top-|s| weights under this
    level's allocation and counts (the current masks a constraint), and moves the scores by
    the straight-through gradient: the mask's top-k is treated as the identity, so
    dL/ds = dL/dw_eff * w * sign(s) with w_eff = w * mask. After `iters` steps the final
    top-|s| is the mask. The model's weights are put back exactly as they were; the ticket's
    survivors then start from them (strategy `continue`: HYDRA's fine-tuning phase).
    """

    name = "hydra"
    needs_data = True

    @dataclass(frozen=True)
    class Params(Params):
        iters: int = setting(500, "iterations of the score-only pruning phase", since=500)
        lr: float = setting(0.1, "SGD learning rate of the scores (cosine)", since=0.1)

        def validate(self) -> None:
            self.require(self.iters >= 1, "iters", "(HYDRA's pruning phase) must be at least 1")
            self.require(
                self.iters <= MAX_CRITERION_STEPS,
                "iters",
                f"must be at most {MAX_CRITERION_STEPS:,}",
            )
            self.require(self.lr > 0, "lr", "must be positive")

    def steps(self) -> int:
        return self.params.iters

    def select(self, ctx: PruneContext) -> Masks:
        iters, rate = self.params.iters, self.params.lr
        params = prunable(ctx.model)
        weights = {n: p.detach().clone() for n, p in params.items()}
        scores = scaled_scores(weights)
        velocity = {n: torch.zeros_like(s) for n, s in scores.items()}

        def top(s: dict[str, torch.Tensor]) -> Masks:
            return ctx.keep_top({n: v.abs().cpu() for n, v in s.items()})

        try:
            for i, (x, y) in enumerate(ctx.batches(iters)):
                mask = top(scores)
                with torch.no_grad():
                    for n, p in params.items():
                        p.copy_(weights[n] * mask[n].to(p.device))
                grads = loss_grads(ctx, x, y)
                lr = 0.5 * rate * (1 + math.cos(math.pi * i / iters))
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
