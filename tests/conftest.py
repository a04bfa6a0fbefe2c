"""Shared fixtures: small synthetic datasets with the real shapes (`toy_fashion`, `toy_cifar`)
for the engine tests where real data is not the point, the real Fashion-MNIST and CIFAR-10
(loaded once) where it is, and small experiment configs."""

from __future__ import annotations

import os
import signal

# One intra-op thread per test process, and in every process a test starts (the CLI, pool and
# sweep workers inherit the variable): the tests check properties, not speed, and on busy
# cores two OpenMP threads wait on each other at every barrier (measured on the Conv-2
# benchmark test at load 11 on 2 cores: 14.5 s of CPU and 151 s with two threads, 5.8 s and
# 52 s with one). Set OMP_NUM_THREADS yourself to test with more.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from robust_tickets.config import AttackConfig, ExperimentConfig
from robust_tickets.data import Split, Splits, load_splits
from robust_tickets.data.locate import locate
from robust_tickets.data.registry import DATASETS
from robust_tickets.resolve import from_flat

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# A suite started in the background by a non-interactive shell (`pytest ... &`) inherits an
# ignored SIGINT, and so would every process it starts: the Ctrl-C tests would see their runs
# finish instead of stopping. Handled (not ignored), SIGINT is back to default in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _have(name: str) -> bool:
    return locate(DATASETS.get(name)) is not None


@pytest.fixture(scope="session")
def fashion() -> Splits:
    """The real Fashion-MNIST. In CI its absence is a failure (the set-up fetches it)."""
    if not _have("fashion_mnist"):
        if os.environ.get("CI"):
            pytest.fail("Fashion-MNIST missing in CI: scripts/setup.sh should have fetched it")
        pytest.skip("Fashion-MNIST not present: run `robust-tickets data fetch fashion_mnist`")
    return load_splits("fashion_mnist")


@pytest.fixture(scope="session")
def mnist() -> Splits:
    """The real MNIST. In CI its absence is a failure (the set-up fetches every dataset)."""
    if not _have("mnist"):
        if os.environ.get("CI"):
            pytest.fail("MNIST missing in CI: scripts/setup.sh should have fetched it")
        pytest.skip("MNIST not present: run `robust-tickets data fetch mnist`")
    return load_splits("mnist")


@pytest.fixture(scope="session")
def fashion_small(fashion: Splits) -> Splits:
    """All 50,000 training images, but 2,000-image validation and test sets (cheaper evals)."""
    return Splits(
        train=fashion.train,
        valid=Split(fashion.valid.x[:2000], fashion.valid.y[:2000]),
        test=Split(fashion.test.x[:2000], fashion.test.y[:2000]),
        num_classes=fashion.num_classes,
    )


# A tiny setting of every registered model that has settings (`ModelSpec.params`): tests that
# build every model build these (tests/test_cifar_models.py checks that none is missing).
TINY_MODELS = {
    "resnet20": "resnet20+channels=4",
    "preact-resnet18": "preact-resnet18+channels=4",
    "vgg16-bn": "vgg16-bn+channels=4",
    "wrn": "wrn+depth=10+width=1",
}


def small_config(**overrides) -> ExperimentConfig:
    """A real but tiny experiment: few iterations, two pruning levels."""
    base = {"train_iters": 24, "eval_every": 12, "prune_iters": 2, "seed": 3}
    return from_flat({**base, **overrides})


def attack_config(
    name: str = "fgsm", eps: float = 0.3, labels: str = "predicted", **settings
) -> AttackConfig:
    """The attack section of a run: attack `name` with those of the flat `settings`
    (``steps=3``, ``nfgsm_noise=4``) it owns; the others are ignored, as a run ignores them."""
    from robust_tickets.attacks import ATTACKS

    return AttackConfig(ATTACKS.spec(name, settings), eps=eps, attack_labels=labels)


@pytest.fixture
def tiny() -> ExperimentConfig:
    return small_config()


def files_under(root) -> dict[str, bytes]:
    """Every file's bytes under `root`: what a failed command must leave as it was."""
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(capsys, *needles: str) -> str:
    """The command's stderr: one line, no traceback, naming every needle."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


__all__ = ["ExperimentConfig", "one_line_error", "small_config"]


@pytest.fixture(scope="session")
def cifar_small() -> Splits:
    """2,000 CIFAR-10 training images, 100-image validation and test sets: for engine tests of
    the convolutional models, which only check properties, not accuracy."""
    if not _have("cifar10"):
        if os.environ.get("CI"):
            pytest.fail("CIFAR-10 missing in CI: scripts/setup.sh should have fetched it")
        pytest.skip("CIFAR-10 not present: run `robust-tickets data fetch cifar10`")
    full = load_splits("cifar10", valid_size=100)
    return Splits(
        train=Split(full.train.x[:2000], full.train.y[:2000]),
        valid=full.valid,
        test=Split(full.test.x[:100], full.test.y[:100]),
        num_classes=full.num_classes,
    )


def toy_splits(
    shape: tuple[int, ...], n_train: int, n_valid: int, n_test: int, seed: int = 0
) -> Splits:
    """A synthetic, learnable 10-class dataset of `shape` images in [0, 1], deterministic.

    Each class has a fixed prototype of smooth random blobs (70% its own, 30% a pattern all
    classes share); an image is its class's prototype at a random brightness plus pixel noise,
    clipped to [0, 1]. The paper's MLP classifies ~80% of test images after 24 Adam steps and
    nearly all after 100, so accuracies move during a tiny run; FGSM at eps 0.3 fools it."""
    g = torch.Generator().manual_seed(seed)
    channels, height, width = shape
    coarse = torch.rand(11, channels, max(height // 4, 1), max(width // 4, 1), generator=g)
    blobs = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")
    prototypes = 0.7 * blobs[:10] + 0.3 * blobs[10:]

    def split(n: int) -> Split:
        y = torch.arange(n) % 10
        y = y[torch.randperm(n, generator=g)]
        brightness = 0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=g)
        noise = 0.35 * torch.randn(n, *shape, generator=g)
        x = (prototypes[y] * brightness + noise).clamp_(0, 1)
        return Split(x.contiguous(), y.contiguous())

    return Splits(train=split(n_train), valid=split(n_valid), test=split(n_test), num_classes=10)


# toy_splits' arguments for each toy dataset fixture (tests/golden_runs.py builds them too)
TOYS = {"toy_fashion": ((1, 28, 28), 600, 200, 200, 0), "toy_cifar": ((3, 32, 32), 300, 20, 20, 1)}


@pytest.fixture(scope="session")
def toy_fashion() -> Splits:
    """Fashion-MNIST's shapes (1x28x28, 10 classes): 600 training, 200 validation and 200
    test images."""
    return toy_splits(*TOYS["toy_fashion"])


@pytest.fixture(scope="session")
def toy_cifar() -> Splits:
    """CIFAR-10's shapes (3x32x32, 10 classes): 300 training, 20 validation and 20 test
    images (a Conv-2 forward and backward pass is ~0.26 GFLOP an image: evaluations dominate a
    tiny run's cost)."""
    return toy_splits(*TOYS["toy_cifar"])
