"""Hand-written forward and backward passes of a bias-free ReLU MLP: the paper's `DenseNet`'s
backend (see `robust_tickets.models.backend`).

The training loop's matrices are small (batch 60), so autograd's bookkeeping and a second
forward for the attack cost as much as the arithmetic. This backend does the same maths with
plain matrix products on the stored weights (kept masked, so they are the effective weights):

- `forward` keeps the activations so one forward serves both the loss and the attack's gradient;
- `input_grad` back-propagates to the input only (what attacks need: no weight gradients);
- `weight_grads` gives a loss's weight gradients (the batched stepper's backward; the
  single-ticket `robust_tickets.training.fast_step` writes them into preallocated buffers).

The same passes serve several tickets at once (`robust_tickets.training.multi_step`): weights
stacked as [T, out, in] and inputs as [T, N, D] make every product a batched one.
tests/test_fast_path.py checks every function against autograd.
"""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.models.backend import Forward, ce_grad

__all__ = ["MLP", "Forward", "ce_grad"]

_threshold_backward = torch.ops.aten.threshold_backward


class MLP:
    """The backend of a bias-free ReLU MLP: its stored (masked) weights, layer by layer.

    Weights are [out, in] (inputs [N, D]) or, for T tickets at once, [T, out, in] (inputs
    [T, N, D]). They are the model's own tensors (no copy), so the backend follows training."""

    def __init__(self, weights: list[torch.Tensor]) -> None:
        self.weights = weights

    @classmethod
    def of_linears(cls, layers: list[nn.Module]) -> MLP | None:
        """The backend of bias-free `nn.Linear` layers with ReLU between them, or None."""
        if not all(type(m) is nn.Linear and m.bias is None for m in layers):
            return None
        return cls([m.weight.detach() for m in layers])

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[:-3], -1) if x.dim() >= 4 else x

    def forward(self, x: torch.Tensor, need_grad: bool = True) -> Forward:
        """The forward pass on flattened inputs x ([N, D], or [T, N, D] with stacked weights);
        it always keeps what `input_grad` needs."""
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
