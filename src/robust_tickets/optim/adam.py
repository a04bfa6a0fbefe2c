"""The `adam` optimizer: Adam as one fused kernel call per step, without `torch.optim`'s
start-up and per-step cost.

`torch.optim.Adam(fused=True)` runs the same kernel (`torch._fused_adam_`), but building the
first `torch.optim` optimizer in a process imports `torch._dynamo` (about 2 s of CPU, paid again
in every worker process), and its `step()` wrapper costs about as much as the kernel itself at
this model's size. `Adam` keeps the arithmetic (bit for bit: tests/test_fast_path.py), the
`state_dict` layout (so checkpoints are interchangeable) and the usual ``zero_grad()`` /
``step()`` use, and adds ``step(grads)`` for gradients that were never stored in ``.grad``.
The kernel runs on CPU from torch 2.4 (hence the package's lower bound) and on CUDA.

``keras=True`` gives TF 1.13 Keras's Adam (tensorflow/python/keras/optimizers.py of the 1.13.1
wheel), which the original code trained with: p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m /
(sqrt(v) + eps), eps 1e-7 added to the *uncorrected* root. That is torch's update with
eps / sqrt(1 - b2^t) in place of eps (31.6x eps at the first step, tending to eps), so the
same kernel runs it with that epsilon at each step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from robust_tickets.components import Params, setting
from robust_tickets.optim.base import OPTIMIZERS, Optimizer


class Adam:
    """Adam (Kingma & Ba, 2015) with L2 weight decay, as `torch.optim.Adam(fused=True)`."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        keras: bool = False,
    ) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.keras = keras
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.started = False  # torch's optimizer has no state before its first step

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor] | None = None) -> None:
        """One update from `grads` (one per parameter), or from each parameter's ``.grad``."""
        if grads is None:
            grads = [p.grad for p in self.params]
            if any(g is None for g in grads):
                raise ValueError("every parameter needs a gradient for Adam.step()")
        self.started = True
        torch._foreach_add_(self.steps, 1)
        eps = self.eps
        if self.keras:  # every parameter has taken the same number of steps
            eps = self.eps / math.sqrt(1.0 - self.betas[1] ** float(self.steps[0]))
        torch._fused_adam_(
            self.params,
            grads,
            self.exp_avgs,
            self.exp_avg_sqs,
            [],
            self.steps,
            amsgrad=False,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=self.weight_decay,
            eps=eps,
            maximize=False,
        )

    def state_dict(self) -> dict[str, Any]:
        """The layout of `torch.optim.Adam.state_dict()` (state keyed by parameter index)."""
        state = {}
        if self.started:
            state = {
                i: {"step": s, "exp_avg": m, "exp_avg_sq": v}
                for i, (s, m, v) in enumerate(
                    zip(self.steps, self.exp_avgs, self.exp_avg_sqs, strict=True)
                )
            }
        group = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "amsgrad": False,
            "maximize": False,
            "fused": True,
            "params": list(range(len(self.params))),
        }
        return {"state": state, "param_groups": [group]}

    @torch.no_grad()
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict["state"]
        if not state:
            return
        for i, p in enumerate(self.params):
            slots = state[i]
            self.steps[i].copy_(torch.as_tensor(slots["step"], dtype=torch.float32))
            self.exp_avgs[i].copy_(slots["exp_avg"].to(p.device))
            self.exp_avg_sqs[i].copy_(slots["exp_avg_sq"].to(p.device))
        self.started = True


@OPTIMIZERS.add
class AdamOptimizer(Optimizer):
    """Adam at the run's learning rate (the paper's optimizer, the default), as the fused
    `Adam` above: torch's arithmetic, or TF 1.13 Keras's with ``adam: keras``."""

    name = "adam"
    takes_grads = True

    @dataclass(frozen=True)
    class Params(Params):
        variant: str = setting(
            "torch",
            "`torch`: torch's Adam (eps 1e-8 added to the bias-corrected root); `keras`: TF 1.13 "
            "Keras's Adam (eps 1e-7 added to the uncorrected root), as the original code ran",
            flat="adam",
        )

        def validate(self) -> None:
            self.require(self.variant in ("torch", "keras"), "variant", "must be torch or keras")

    def build(self, params: Iterable[torch.Tensor], lr: float) -> Adam:
        if self.params.variant == "keras":
            return Adam(params, lr, eps=1e-7, keras=True)
        return Adam(params, lr)
