"""Training steps for several tickets at once: one batched model instead of T small ones.

T tickets of one architecture and config (trials, or one trial under several strategies) get
their weights stacked as [T, out, in], so every product of a training step is one batched
product over the tickets (`torch.matmul` on stacked tensors) and every elementwise operation
one call: a step costs one set of operations instead of T. This is the lever where per-call
overhead dominates, above all on a GPU, where a batch-60 step is kernel launches, not
arithmetic. Each ticket keeps its own batch, masks, attack noise (its own generator) and Adam
state: ticket t follows the trajectory `FastStepper` gives it alone, to float rounding
(tests/test_multi_step.py).

The loss is the run's objective (`robust_tickets.objectives`), in its loss form, with the run's Adam
(torch's or Keras's), as `FastStepper` takes it.

`write_back` copies the stacked weights and Adam state into each ticket's model and `Adam`;
evaluation and checkpoints then work per ticket as before. `benchmarks/multi_ticket.py`
measures its throughput against one ticket at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from robust_tickets.attacks import BackendAttack
from robust_tickets.config import ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.models.backend import backend_of
from robust_tickets.models.fast_mlp import MLP, Forward, ce_grad
from robust_tickets.models.ticket import apply_masks_, prunable
from robust_tickets.objectives import objective_for
from robust_tickets.objectives.losses import logit_grad, smoothed_targets
from robust_tickets.optim.adam import Adam
from robust_tickets.training.fast_step import finish_grads_, masks_to_apply
from robust_tickets.training.step import adam_for


class MultiStepper:
    """Training steps of T tickets (models of one shape whose backend is an `MLP`) and their
    `Adam`s, batched.

    Build it after each ticket's weights, masks and optimizer state are loaded; all tickets
    must be at the same Adam step (all fresh, or all resumed from the same iteration)."""

    def __init__(
        self,
        models: Sequence[nn.Module],
        masks: Sequence[dict[str, torch.Tensor]],
        optimizers: Sequence[Adam],
        config: ExperimentConfig,
        attack: type[BackendAttack],
    ) -> None:
        if not models or not len(models) == len(optimizers) == len(masks):
            raise ValueError("MultiStepper needs one optimizer and one mask set per model")
        if not all(isinstance(backend_of(m), MLP) for m in models):
            raise ValueError("MultiStepper trains models whose backend is an MLP only")
        self.objective = objective_for(config, attack)
        if not self.objective.row_weighted:
            raise UserError(
                f"objective {self.objective.name} is no weighted cross-entropy, which batched "
                "tickets' hand-written backward needs: train them one at a time (`run`)"
            )
        per_model = [list(prunable(m).values()) for m in models]
        shapes = {tuple(w.shape for w in weights) for weights in per_model}
        if len(shapes) != 1:
            raise ValueError("MultiStepper needs tickets of one architecture")
        for model, model_masks in zip(models, masks, strict=True):
            apply_masks_(model, model_masks)  # as in FastStepper: stored weights are effective
        names = list(prunable(models[0]))
        by_layer = list(zip(*per_model, strict=True))  # by_layer[l][t]: ticket t's layer l
        with torch.no_grad():
            self.weights = [torch.stack([w.detach() for w in layer]) for layer in by_layer]
            stacked = [torch.stack([m[name] for m in masks]) for name in names]
        self.masks = masks_to_apply(stacked)
        self.net = MLP(self.weights)
        self.config, self.tickets = config, len(models)
        self.optimizer = adam_for(self.weights, config)
        self._stack_adam_state(optimizers)

    def _stack_adam_state(self, optimizers: Sequence[Adam]) -> None:
        started = {o.started for o in optimizers}
        if started == {False}:
            return
        steps = {float(o.steps[0]) for o in optimizers}
        if started != {True} or len(steps) != 1:
            raise ValueError("MultiStepper needs every ticket's Adam at the same step")
        mine = self.optimizer
        for i in range(len(self.weights)):
            mine.steps[i].copy_(optimizers[0].steps[i])
            torch.stack([o.exp_avgs[i] for o in optimizers], out=mine.exp_avgs[i])
            torch.stack([o.exp_avg_sqs[i] for o in optimizers], out=mine.exp_avg_sqs[i])
        mine.started = True

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Module], optimizers: Sequence[Adam]) -> None:
        """Copy each ticket's weights and Adam state into its own model and optimizer."""
        for t, (model, opt) in enumerate(zip(models, optimizers, strict=True)):
            for i, weight in enumerate(prunable(model).values()):
                weight.copy_(self.weights[i][t])
                if self.optimizer.started:
                    opt.steps[i].copy_(self.optimizer.steps[i])
                    opt.exp_avgs[i].copy_(self.optimizer.exp_avgs[i][t])
                    opt.exp_avg_sqs[i].copy_(self.optimizer.exp_avg_sqs[i][t])
            opt.started = self.optimizer.started

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, y: torch.Tensor, generators: Sequence[torch.Generator] | None
    ) -> None:
        """One update of every ticket: x [T, n, ...] images in [0, 1], y [T, n] labels, and one
        attack generator per ticket (ticket t trains on x[t], y[t])."""
        tickets, n = y.shape
        if tickets != self.tickets:
            raise ValueError(
                f"MultiStepper holds {self.tickets} tickets, got a batch for {tickets}"
            )
        objective = self.objective
        natural = self.net.forward(x.reshape(tickets, n, -1))
        if objective.adversarial:
            flat = natural.inputs[0]
            x_adv = objective.attack_inputs(self.net, flat, y, natural.logits, generators, natural)
            adversarial = self.net.forward(x_adv)
            pairs = zip(natural.inputs, adversarial.inputs, strict=True)
            both = Forward(
                [torch.cat(pair, dim=1) for pair in pairs],
                torch.cat([natural.logits, adversarial.logits], dim=1),
            )
            labels = torch.cat([y, y], dim=1)
        else:
            both, labels = natural, y
        d = self._logit_grad(both.logits, labels, n)
        grads = self.net.weight_grads(both, d)
        finish_grads_(grads, self.weights, self.masks, self.config.train.l1_reg)
        self.optimizer.step(grads)

    def _logit_grad(self, logits: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
        """d/d(logits) [T, rows, k] of each ticket's objective (as in FastStepper)."""
        objective = self.objective
        scales = objective.row_scales(n)[: logits.shape[1] // n]
        smoothing, k = objective.smoothing, logits.shape[-1]
        if objective.form == "logits" and len(set(scales)) == 1:
            return ce_grad(logits, labels, label_smoothing=smoothing, scale=scales[0])
        targets = smoothed_targets(labels.flatten(), k, smoothing, logits.dtype)
        d = logit_grad(torch.softmax(logits, -1).flatten(0, 1), targets, objective.form)
        d = d.view_as(logits)
        for rows, scale in zip(d.split(n, dim=1), scales, strict=True):
            rows.mul_(scale)
        return d
