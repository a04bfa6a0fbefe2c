"""Hand-written forward and backward passes of a bias-free masked ReLU MLP (`DenseNet`).

The training loop's matrices are small (batch 60), so autograd's bookkeeping, the mask multiply
in every forward and a second forward for the attack cost as much as the arithmetic. This module
does the same maths with plain matrix products on the *effective* weights ``weight * mask``
(computed once per step, not once per forward):

- `forward` keeps the activations so one forward serves both the loss and the attack's gradient;
- `input_grad` back-propagates to the input only (what attacks need: no weight gradients);
- `weight_grads` gives a loss's weight gradients (the batched stepper's backward; the
  single-ticket `robust_tickets.training.fast_step` writes them into preallocated buffers).

The same passes serve several tickets at once (`robust_tickets.training.multi_step`): weights
stacked as [T, out, in] and inputs as [T, N, D] make every product a batched one.

`MLP.of(model)` returns None for any model it cannot represent exactly; callers then use
autograd. tests/test_fast_path.py checks every function against autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robust_tickets.models.dense import DenseNet
from robust_tickets.models.masked import MaskedLinear

_threshold_backward = torch.ops.aten.threshold_backward


@dataclass
class Forward:
    """Activations of one forward pass: ``inputs[l]`` is layer l's input (``inputs[0]`` = x)."""

    inputs: list[torch.Tensor]
    logits: torch.Tensor


class MLP:
    """Functional view of a `DenseNet`: effective weights and their masks, layer by layer.

    Weights are [out, in] (inputs [N, D]) or, for T tickets at once, [T, out, in] (inputs
    [T, N, D])."""

    def __init__(self, weights: list[torch.Tensor], masks: list[torch.Tensor]) -> None:
        self.weights, self.masks = weights, masks

    @staticmethod
    def supports(model: nn.Module) -> bool:
        return type(model) is DenseNet and all(
            type(m) is MaskedLinear and m.bias is None for m in model.layers
        )

    @classmethod
    def of(cls, model: nn.Module) -> MLP | None:
        """The model's current effective weights, or None if it is not a plain `DenseNet`."""
        if not cls.supports(model):
            return None
        with torch.no_grad():
            layers: list[MaskedLinear] = list(model.layers)  # type: ignore[arg-type]
            return cls([m.weight * m.mask for m in layers], [m.mask for m in layers])

    def forward(self, x: torch.Tensor) -> Forward:
        """The forward pass on flattened inputs x ([N, D], or [T, N, D] with stacked weights)."""
        h = x
        inputs = [h]
        last = len(self.weights) - 1
        for i, w in enumerate(self.weights):
            h = torch.matmul(h, w.mT)
            if i < last:
                h = h.relu_()
                inputs.append(h)
        return Forward(inputs, h)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).logits

    def _back(self, fwd: Forward, dlogits: torch.Tensor, down_to: int) -> list[torch.Tensor]:
        """Gradients w.r.t. the outputs of layers down_to-1 .. last (index l = layer l's output)."""
        grads = [dlogits]
        d = dlogits
        for i in range(len(self.weights) - 1, down_to, -1):
            d = torch.matmul(d, self.weights[i])
            d = _threshold_backward(d, fwd.inputs[i], 0.0)
            grads.append(d)
        grads.reverse()
        return grads

    def input_grad(self, fwd: Forward, dlogits: torch.Tensor) -> torch.Tensor:
        """d(loss)/d(input) given d(loss)/d(logits), shaped like the flattened input."""
        d = self._back(fwd, dlogits, 0)[0]
        return torch.matmul(d, self.weights[0])

    def weight_grads(self, fwd: Forward, dlogits: torch.Tensor) -> list[torch.Tensor]:
        """d(loss)/d(weight) per layer, not masked (see `training.fast_step.finish_grads_`)."""
        outs = self._back(fwd, dlogits, 0)
        return [torch.matmul(d.mT, a) for d, a in zip(outs, fwd.inputs, strict=True)]


def ce_grad(
    logits: torch.Tensor, y: torch.Tensor, *, label_smoothing: float = 0.0, scale: float = 1.0
) -> torch.Tensor:
    """d/d(logits) of ``scale * sum_i CE(logits_i, y_i)`` (with label smoothing as in torch);
    logits [..., classes], y [...]."""
    grad = torch.softmax(logits, -1)
    k = logits.shape[-1]
    if label_smoothing:
        grad.sub_(label_smoothing / k)
    index = y.unsqueeze(-1)
    grad.scatter_(-1, index, grad.gather(-1, index).sub_(1.0 - label_smoothing))
    return grad.mul_(scale) if scale != 1.0 else grad
