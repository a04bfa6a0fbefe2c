"""`hydra`: HYDRA's pruning phase (Sehwag et al. 2020), importance scores trained with the
weights frozen. How each step compares with HYDRA's released code: docs/hydra.md."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from robust_tickets.components import Params, setting
from robust_tickets.limits import MAX_CRITERION_STEPS
from robust_tickets.models.ticket import load_state, prunable, state
from robust_tickets.pruning.allocation import Masks, Scores
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion, PruneContext

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


def batch_norm_affine(model: nn.Module) -> dict[str, nn.Parameter]:
    """Batch norm's affine parameters (gamma, beta) by name: what HYDRA's code trains beside the
    scores unless given `--freeze-bn`."""
    out = {}
    for prefix, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            for name, p in module.named_parameters(recurse=False):
                out[f"{prefix}.{name}" if prefix else name] = p
    return out


def batch_norm_state(model: nn.Module, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of a whole state (`values`) that belong to batch norm layers: affine
    parameters and running statistics."""
    prefixes = [
        f"{p}." if p else ""
        for p, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    return {k: v for k, v in values.items() if any(k.startswith(p) for p in prefixes)}


def score_phase(
    ctx: PruneContext, iters: int, rate: float, train_bn: bool = False
) -> tuple[Scores, dict[str, torch.Tensor]]:
    """HYDRA's pruning phase: (the trained scores, the batch norm state it ends with if
    `train_bn`, else empty). The model is left exactly as found, its whole state and its mode.

    Step i runs the run's loss on the subnetwork of the top-|s| weights (this level's
    allocation and counts, the current masks a constraint) and moves the scores by the
    straight-through gradient, the top-k read as the identity: dL/ds = dL/dw_eff * w * sign(s)
    with w_eff = w * mask. SGD: momentum 0.9, weight decay 1e-4, rate 0.5 * lr * (1 + cos(pi i /
    iters)). With `train_bn` batch norm's affine parameters take the same SGD steps and its
    running statistics follow the score phase's forwards (HYDRA's code without `--freeze-bn`).
    """
    model = ctx.model
    params = prunable(model)
    bn = batch_norm_affine(model) if train_bn else {}
    saved, was_training = state(model), model.training
    weights = {n: p.detach().clone() for n, p in params.items()}
    scores = scaled_scores(weights)
    velocity = {n: torch.zeros_like(t) for n, t in {**scores, **bn}.items()}

    def top(s: dict[str, torch.Tensor]) -> Masks:
        return ctx.keep_top({n: v.abs().cpu() for n, v in s.items()})

    def sgd(name: str, value: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        velocity[name].mul_(_MOMENTUM).add_(grad + _DECAY * value)
        value.sub_(lr * velocity[name])

    try:
        for i, (x, y) in enumerate(ctx.batches(iters)):
            mask = top(scores)
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(weights[n] * mask[n].to(p.device))
            wanted = {**params, **bn}
            found = torch.autograd.grad(ctx.loss(x, y), list(wanted.values()))
            grads = dict(zip(wanted, found, strict=True))
            lr = 0.5 * rate * (1 + math.cos(math.pi * i / iters))
            with torch.no_grad():
                for n, s in scores.items():
                    sgd(n, s, grads[n] * weights[n] * torch.sign(s), lr)
                for n, p in bn.items():
                    sgd(n, p, grads[n], lr)
        adapted = batch_norm_state(model, state(model)) if train_bn else {}
    finally:
        load_state(model, saved)  # the weights are frozen: leave the model exactly as found
        model.train(was_training)
    return scores, adapted


@CRITERIA.add
class Hydra(Criterion):
    """Scores start at `scaled_scores` of the trained weights and are trained by `score_phase`;
    the final top-|s| is the mask. The model is left exactly as it was: the ticket's survivors
    start from the trained weights under strategy `continue` (HYDRA's fine-tuning phase). With
    `train_bn`, the batch norm state the score phase ends with is handed to the level's start
    too (`PruneContext.adapted`), as HYDRA's fine-tuning loads its pruning checkpoint.
    """

    name = "hydra"
    needs_data = True
    # runs when a pruned level starts (its score phase included), never during level 0
    after_level0 = True

    @dataclass(frozen=True)
    class Params(Params):
        iters: int = setting(500, "iterations of the score-only pruning phase", since=500)
        lr: float = setting(0.1, "SGD learning rate of the scores (cosine)", since=0.1)
        train_bn: bool = setting(
            False,
            "also train batch norm's affine parameters and running statistics in the score "
            "phase and fine-tune from them (what HYDRA's code does unless given its --freeze-bn)",
            since=False,
        )

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
        p = self.params
        scores, adapted = score_phase(ctx, p.iters, p.lr, p.train_bn)
        ctx.adapted.update(adapted)
        return ctx.keep_top({n: v.abs().cpu() for n, v in scores.items()})
