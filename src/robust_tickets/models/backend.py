"""How attacks, evaluation and training see a model: forward passes and input gradients.

Attacks are written once against a `Backend`: ``forward`` gives the logits (and whatever the
backend needs to differentiate them later), ``input_grad`` turns d(loss)/d(logits) into
d(loss)/d(input). `AutogradBackend` serves any `nn.Module` through autograd; a model may provide
a faster one of its own (``model.backend()``: the paper's MLP has hand-written passes,
`robust_tickets.models.fast_mlp`). Inputs go through ``prepare`` first (the MLP works on
flattened images); attacks only do elementwise work on them, so the layout is the backend's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


@dataclass
class Forward:
    """One forward pass: ``inputs[0]`` is the (prepared) input, ``logits`` the output; a
    backend may keep more (the MLP keeps every layer's input for its backward)."""

    inputs: list[torch.Tensor]
    logits: torch.Tensor


class Backend(Protocol):
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """`x` [N, C, H, W] in the layout `forward` takes (a view where possible)."""
        ...

    def forward(self, x: torch.Tensor, need_grad: bool = True) -> Forward:
        """Logits of prepared inputs; with `need_grad`, `input_grad` may be called on it."""
        ...

    def input_grad(self, fwd: Forward, dlogits: torch.Tensor) -> torch.Tensor:
        """d(loss)/d(input) given d(loss)/d(logits), shaped like the prepared input."""
        ...


class AutogradBackend:
    """Any model through autograd. Call it with the model in the mode attacks need (eval)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor, need_grad: bool = True) -> Forward:
        if not need_grad:
            with torch.no_grad():
                return Forward([x], self.model(x))
        leaf = x.detach().requires_grad_(True)
        with torch.enable_grad():
            return Forward([leaf], self.model(leaf))

    def input_grad(self, fwd: Forward, dlogits: torch.Tensor) -> torch.Tensor:
        # Only the input's gradient is asked for, so autograd computes no weight gradients; the
        # graph is kept because a training step's loss may still go back through this forward.
        (grad,) = torch.autograd.grad(fwd.logits, fwd.inputs[0], dlogits, retain_graph=True)
        return grad


def backend_of(model: nn.Module) -> Backend:
    """The model's own backend if it provides one for its current state, else autograd."""
    provide = getattr(model, "backend", None)
    own = provide() if callable(provide) else None
    return own if own is not None else AutogradBackend(model)


def ce_grad(
    logits: torch.Tensor, y: torch.Tensor, *, label_smoothing: float = 0.0, scale: float = 1.0
) -> torch.Tensor:
    """d/d(logits) of ``scale * sum_i CE(logits_i, y_i)`` (with label smoothing as in torch);
    logits [..., classes], y [...]."""
    grad = torch.softmax(logits.detach(), -1)
    k = logits.shape[-1]
    if label_smoothing:
        grad.sub_(label_smoothing / k)
    index = y.unsqueeze(-1)
    grad.scatter_(-1, index, grad.gather(-1, index).sub_(1.0 - label_smoothing))
    return grad.mul_(scale) if scale != 1.0 else grad


def mode_free(model: nn.Module) -> bool:
    """True if train and eval mode compute the same function (no batch norm, no dropout), so
    a forward pass taken for training can serve an attack too."""
    varying = (nn.modules.batchnorm._BatchNorm, nn.Dropout, nn.modules.dropout._DropoutNd)
    return not any(isinstance(m, varying) for m in model.modules())
