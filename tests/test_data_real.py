"""The real datasets, where present, against published facts (counts, label histograms, means).

In CI a missing dataset is a failure (the set-up should have fetched it); elsewhere a skip."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from robust_tickets.data import load_splits
from robust_tickets.data.load import load_arrays
from robust_tickets.data.locate import locate
from robust_tickets.data.registry import DATASETS
from robust_tickets.models.registry import create_model

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def arrays(name: str) -> dict[str, np.ndarray]:
    spec = DATASETS.get(name)
    if locate(spec) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing in CI: scripts/setup.sh should have fetched it")
        pytest.skip(f"{name} not present: run `robust-tickets data fetch {name}`")
    return load_arrays(spec)  # verifies every file's SHA-256


def test_mnist_counts_and_label_histogram():
    a = arrays("mnist")
    assert a["train_images"].shape == (60_000, 28, 28)
    assert a["test_images"].shape == (10_000, 28, 28)
    assert np.bincount(a["train_labels"], minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert len(a["test_labels"]) == 10_000


def test_fashion_mnist_is_balanced():
    a = arrays("fashion_mnist")
    assert np.bincount(a["train_labels"]).tolist() == [6000] * 10
    assert np.bincount(a["test_labels"]).tolist() == [1000] * 10


def test_cifar10_counts_means_and_training_input():
    arrays("cifar10")
    splits = load_splits("cifar10", valid_size=5_000)
    assert splits.train.x.shape == (45_000, 3, 32, 32)
    assert splits.valid.x.shape == (5_000, 3, 32, 32)
    assert splits.test.x.shape == (10_000, 3, 32, 32)
    assert splits.train.x.dtype == torch.float32 and splits.train.y.dtype == torch.int64
    labels = torch.cat([splits.valid.y, splits.train.y])
    assert torch.bincount(labels).tolist() == [5000] * 10
    assert torch.bincount(splits.test.y).tolist() == [1000] * 10
    sums = sum(s.x.sum(dim=(0, 2, 3), dtype=torch.float64) for s in (splits.valid, splits.train))
    mean = sums / (50_000 * 32 * 32)
    torch.testing.assert_close(
        mean, torch.tensor([0.4914, 0.4822, 0.4465], dtype=torch.float64), atol=5e-4, rtol=0
    )
    # the canonical first training image (a frog, class 6): red row 0 starts 59, 43, 50, ...
    first_red = (splits.valid.x[0, 0, 0, :6] * 255).round().to(torch.int64).tolist()
    assert first_red == [59, 43, 50, 68, 98, 119] and labels[0] == 6
    # the paper's dense net flattens its input, so it takes CIFAR-10 as 3072 inputs
    model = create_model("dense-300-100", (3, 32, 32), splits.num_classes, seed=0)
    assert model(splits.test.x[:4]).shape == (4, 10)
