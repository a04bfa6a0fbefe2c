"""`mnist-cnn`: Madry et al.'s MNIST network, its shapes, size and prunable weights."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.models import MODELS, create_model
from robust_tickets.models.ticket import layer_kinds, output_name, prunable_names
from robust_tickets.resolve import from_flat


def test_madry_mnist_network_layers_and_size():
    net = create_model("mnist-cnn", (1, 28, 28), 10, seed=0)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (32, (5, 5), (2, 2)),
        (64, (5, 5), (2, 2)),
    ]
    assert [(m.in_features, m.out_features) for m in linears] == [(7 * 7 * 64, 1024), (1024, 10)]
    # Madry et al.'s mnist_challenge model: 3,274,634 parameters
    assert sum(p.numel() for p in net.parameters()) == 3_274_634
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_conv_and_linear_weights_prunable_biases_zero_and_seeded():
    net = create_model("mnist-cnn", (1, 28, 28), 10, seed=0)
    names = prunable_names(net)
    assert len(names) == 4 and all(n.endswith(".weight") for n in names)
    assert output_name(net) == names[-1]
    assert list(layer_kinds(net).values()) == ["conv", "conv", "fc", "output"]
    assert all((p == 0).all() for n, p in net.named_parameters() if n.endswith("bias"))
    again = create_model("mnist-cnn", (1, 28, 28), 10, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters(), strict=True))
    assert MODELS.get("mnist-cnn").layer_kinds((1, 28, 28), 10) == ("conv", "fc", "output")


def test_fits_mnist_and_refuses_tiny_images():
    assert from_flat({"dataset": "mnist", "model": "mnist-cnn"}).model.model == "mnist-cnn"
    assert MODELS.get("mnist-cnn").fits((1, 2, 2)) is not None
