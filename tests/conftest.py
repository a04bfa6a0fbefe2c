"""Shared fixtures: the real Fashion-MNIST (loaded once) and small experiment configs."""

from __future__ import annotations

import os
import signal

import pytest

from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Split, Splits, load_splits
from robust_tickets.data.locate import locate
from robust_tickets.data.registry import DATASETS
from robust_tickets.resolve import from_flat

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
def fashion_small(fashion: Splits) -> Splits:
    """All 50,000 training images, but 2,000-image validation and test sets (cheaper evals)."""
    return Splits(
        train=fashion.train,
        valid=Split(fashion.valid.x[:2000], fashion.valid.y[:2000]),
        test=Split(fashion.test.x[:2000], fashion.test.y[:2000]),
        num_classes=fashion.num_classes,
    )


def small_config(**overrides) -> ExperimentConfig:
    """A real but tiny experiment: few iterations, two pruning levels."""
    base = {"train_iters": 24, "eval_every": 12, "prune_iters": 2, "seed": 3}
    return from_flat({**base, **overrides})


@pytest.fixture
def tiny() -> ExperimentConfig:
    return small_config()


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
