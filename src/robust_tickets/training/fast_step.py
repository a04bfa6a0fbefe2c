"""The paper's MLP's own stepper: one level's steps on its hand-written passes, no autograd.

`FastStepper` does what `AutogradStepper` does (the same objective, `robust_tickets.objectives`, to
float tolerance: tests/test_fast_path.py), with the per-step overhead taken out, because at
batch 60 that overhead costs as much as the matrix products:

- the weights are kept masked (pruned entries exactly zero), so the weights *are* the effective
  weights: no ``weight * mask`` per step. Their gradients are masked instead (skipped for a layer
  with nothing pruned); Adam then never moves a pruned weight (zero gradient, zero moments);
- natural and adversarial halves live in preallocated buffers, so the natural forward (which the
  attack reuses for its gradient at x) and the adversarial forward write straight into the rows
  the combined backward reads: no concatenation, no allocation of activations;
- the loss *value* is not computed (the loop never reads it), only its gradient: the
  objective's loss form (`losses.logit_grad`) with its row weights (`Objective.row_scales`);
- the gradients go straight to `robust_tickets.optim.adam.Adam.step(grads)` (one fused
  kernel), never through ``.grad``.
"""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks import BackendAttack
from robust_tickets.config import ExperimentConfig
from robust_tickets.models.backend import backend_of
from robust_tickets.models.fast_mlp import MLP, Forward
from robust_tickets.models.ticket import apply_masks_, prunable
from robust_tickets.objectives import OBJECTIVES, objective_for
from robust_tickets.objectives.losses import logit_grad
from robust_tickets.optim.adam import Adam
from robust_tickets.training.step import FAST_STEPPERS

_threshold_backward = torch.ops.aten.threshold_backward


class FastStepper:
    """Training steps of one level for a model whose backend is an `MLP`, and its `optimizer`
    (over the model's parameters, which are the MLP's weights, in order).

    Build it after the level's weights, masks and any checkpointed optimizer state are loaded."""

    def __init__(
        self,
        model: nn.Module,
        masks: dict[str, torch.Tensor],
        optimizer: Adam,
        config: ExperimentConfig,
        attack: type[BackendAttack],
        batch_size: int | None = None,  # default: the config's (a short last batch needs its own)
    ) -> None:
        net = backend_of(model)
        if not isinstance(net, MLP):
            raise ValueError("FastStepper needs a model whose backend is an MLP")
        apply_masks_(model, masks)  # from here on the stored weights are the effective weights
        weights = net.weights
        self.masks = masks_to_apply([masks[name] for name in prunable(model)])
        self.net = net
        self.config, self.optimizer = config, optimizer
        self.objective = objective = objective_for(config, attack)
        self.n = n = config.train.batch_size if batch_size is None else batch_size
        rows = 2 * n if objective.adversarial else n
        scales = objective.row_scales(n)[: rows // n]
        # Madry's objective weighs the natural rows 0: the backward skips them
        self.adversarial_only = objective.adversarial and scales[0] == 0
        if self.adversarial_only:
            scales = scales[1:]
        # one multiplication for all rows when their weights agree (the paper's 50/50 mix)
        self.row_scales = [scales[0]] if len(set(scales)) == 1 else list(scales)
        like = weights[0]
        widths = [w.shape[1] for w in weights] + [weights[-1].shape[0]]
        # acts[l]: layer l's input (acts[0] = the images) and acts[-1] = the logits, for the
        # natural rows [0, n) and the adversarial rows [n, 2n). Views are made once: at this
        # size, creating them every step costs more than some of the arithmetic.
        self.acts = [like.new_empty(rows, w) for w in widths]
        self.natural = [a[:n] for a in self.acts]
        self.adversarial = [a[n:] for a in self.acts]
        self.natural_forward = Forward(self.natural[:-1], self.natural[-1])
        self.weights_t = [w.t() for w in weights]
        self.images = self.natural[0]  # a caller may gather the batch straight into it
        self.targets = like.new_empty(rows, widths[-1])
        self.labels = torch.empty(rows, 1, dtype=torch.long, device=like.device)
        self.label_halves = [self.labels[start : start + n, 0] for start in range(0, rows, n)]
        self.grads = [torch.empty_like(w) for w in weights]

    def _forward(self, acts: list[torch.Tensor]) -> None:
        last = len(self.weights_t) - 1
        for i, w_t in enumerate(self.weights_t):
            torch.mm(acts[i], w_t, out=acts[i + 1])
            if i < last:
                acts[i + 1].relu_()

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> None:
        """One update on the batch (x: [n, ...] images in [0, 1], y: [n] labels).

        `x` may be `self.images`, filled by the caller (``index_select(..., out=images)``)."""
        n, objective = x.shape[0], self.objective
        if n != self.n:
            raise ValueError(f"FastStepper was built for batches of {self.n}, got {n}")
        if x.data_ptr() != self.images.data_ptr():
            self.images.copy_(x.reshape(n, -1))
        self._forward(self.natural)
        acts = self.acts
        if objective.adversarial:
            fwd = self.natural_forward
            x_adv = objective.attack_inputs(self.net, self.images, y, fwd.logits, generator, fwd)
            self.adversarial[0].copy_(x_adv)
            self._forward(self.adversarial)
            if self.adversarial_only:
                acts = self.adversarial
        else:
            acts = self.natural
        # d/d(logits) of the objective: its form's per-row gradient times each row's weight
        k, smoothing, m = self.targets.shape[1], objective.smoothing, acts[-1].shape[0]
        for half in self.label_halves:
            half.copy_(y)
        targets = self.targets[:m].fill_(smoothing / k)  # every block of n rows has labels y
        targets.scatter_(1, self.labels[:m], 1.0 - smoothing + smoothing / k)
        if objective.form == "logits":
            d = torch.softmax(acts[-1], 1).sub_(targets)
        else:
            d = logit_grad(torch.softmax(acts[-1], 1), targets, objective.form)
        if len(self.row_scales) == 1:
            d.mul_(self.row_scales[0])
        else:
            for rows, scale in zip(d.split(n), self.row_scales, strict=True):
                rows.mul_(scale)
        weights = self.net.weights
        for i in range(len(weights) - 1, -1, -1):
            torch.mm(d.t(), acts[i], out=self.grads[i])
            if i > 0:
                d = _threshold_backward(torch.mm(d, weights[i]), acts[i], 0.0)
        finish_grads_(self.grads, weights, self.masks, self.config.train.l1_reg)
        self.optimizer.step(self.grads)


def masks_to_apply(masks: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """The masks a gradient must be multiplied by: None for a layer with nothing pruned."""
    return [None if bool(m.all()) else m for m in masks]


def finish_grads_(
    grads: list[torch.Tensor],
    weights: list[torch.Tensor],
    masks: list[torch.Tensor | None],
    l1: float,
) -> None:
    """In place: zero the gradients of pruned weights (so Adam never moves them) and add the
    L1 term's. `weights` are masked, so their sign is already 0 where pruned."""
    for g, w, m in zip(grads, weights, masks, strict=True):
        if m is not None:
            g.mul_(m)
        if l1 > 0:
            g.add_(w.sign(), alpha=l1)


def fast_stepper(
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    optimizer: Adam,
    config: ExperimentConfig,
    attack: type[BackendAttack],
    batch_size: int | None = None,
) -> FastStepper | None:
    """A `FastStepper`, or None (autograd then) for an objective that is no weighted
    cross-entropy of the rows (TRADES), which its hand-written backward cannot take."""
    if not OBJECTIVES.cls(config.train.objective.name).row_weighted:
        return None
    return FastStepper(model, masks, optimizer, config, attack, batch_size)


FAST_STEPPERS[MLP] = fast_stepper
