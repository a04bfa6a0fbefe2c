"""The engine's level 0 and an independent plain PyTorch loop (benchmarks/plain_cifar.py: SGD
with momentum and weight decay, BatchNorm, its own crop-and-flip and batch order, a cosine rate
over a level given in epochs) end at the same weights on real CIFAR-10 images: the augmentation,
the epochs and the schedule are wired as a textbook loop would do them."""

from __future__ import annotations

import pytest
from tests.test_benchmarks import load

from robust_tickets.data import Split, Splits
from robust_tickets.resolve import from_flat


@pytest.fixture(scope="module")
def bench():
    return load("plain_cifar")


def _splits(cifar_small: Splits, n: int) -> Splits:
    train = Split(cifar_small.train.x[:n], cifar_small.train.y[:n])
    test = Split(cifar_small.test.x[:20], cifar_small.test.y[:20])
    empty = Split(test.x[:0], test.y[:0])
    return Splits(train=train, valid=empty, test=test, num_classes=10)


@pytest.mark.parametrize("adversarial", [False, True], ids=["natural", "pgd"])
def test_the_engine_and_the_plain_loop_end_at_the_same_weights(
    tmp_path, cifar_small, bench, adversarial
):
    flat = {**bench.SETTINGS, "train_epochs": 1.5, "valid_size": 0}  # 160 images: 8 steps
    if adversarial:  # CIFAR-10's threat model (true labels), PGD-2 from a random start
        flat.update(adv_train=True, attack="pgd", steps=2)
    result = bench.compare(from_flat(flat), _splits(cifar_small, 160), tmp_path)
    assert result["steps"] == 8  # ceil(1.5 * 160 / 32), across two epochs
    assert result["max_abs_diff"] < 1e-5, result


def test_the_plain_crop_flip_is_the_engines(bench):
    import torch

    from robust_tickets.data.augment import augment_batch

    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mine = bench.crop_flip(x, torch.Generator().manual_seed(4))
    assert torch.equal(mine, augment_batch("crop-flip", x, torch.Generator().manual_seed(4)))
