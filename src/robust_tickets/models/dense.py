"""Fully connected networks: the paper's LeNet-300-100 without biases."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from robust_tickets.models.masked import MaskedLinear
from robust_tickets.models.registry import MODELS, ModelSpec


class DenseNet(nn.Module):
    """Flatten, then MaskedLinear+ReLU per hidden layer, then a MaskedLinear output (logits)."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


def glorot_uniform_(model: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, MaskedLinear):
                nn.init.xavier_uniform_(module.weight, generator=generator)


def _dense(hidden: list[int]):
    def build(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        n_inputs = 1
        for d in input_shape:
            n_inputs *= d
        return DenseNet([n_inputs, *hidden, num_classes])

    return build


MODELS.register("dense-300-100", aliases=("lenet-300-100", "lenet300"))(
    ModelSpec(build=_dense([300, 100]), init=glorot_uniform_)
)
