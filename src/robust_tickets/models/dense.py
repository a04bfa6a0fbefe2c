"""Fully connected networks: the paper's LeNet-300-100 without biases."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from robust_tickets.models.fast_mlp import MLP
from robust_tickets.models.init import glorot
from robust_tickets.models.registry import MODELS, ModelSpec
from robust_tickets.models.ticket import TicketModel


class DenseNet(TicketModel):
    """Flatten, then Linear+ReLU per hidden layer, then a Linear output (logits); no biases."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)

    def backend(self) -> MLP | None:
        """Hand-written passes (models/fast_mlp.py); a subclass may change `forward`, so only
        the exact class gets them."""
        return MLP.of_linears(list(self.layers)) if type(self) is DenseNet else None


def _dense(hidden: list[int]):
    def build(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        n_inputs = 1
        for d in input_shape:
            n_inputs *= d
        return DenseNet([n_inputs, *hidden, num_classes])

    return build


MODELS.register("dense-300-100", aliases=("lenet-300-100", "lenet300"))(
    ModelSpec(build=_dense([300, 100]), init=glorot(normal=False))
)
