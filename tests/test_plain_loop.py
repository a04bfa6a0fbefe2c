"""The engine's level 0 and an independent plain PyTorch loop (benchmarks/plain_cifar.py: SGD
with momentum and weight decay, BatchNorm, its own crop-and-flip and batch order, a cosine rate
over a level given in epochs, its own PGD and N-FGSM) end at the same weights on real CIFAR-10
images, for the natural, the mixed and the madry objective: the augmentation, the epochs, the
schedule and the attacks are wired as a textbook loop would do them. The benchmark's --preset
mode measures a trial as the engine's end-of-level metrics row does, and
benchmarks/plain_cifar_compare.py sets the two side by side."""

from __future__ import annotations

import pytest
from tests.test_benchmarks import load

from robust_tickets.data import Split, Splits
from robust_tickets.resolve import from_flat

COMPARE = load("plain_cifar_compare")


@pytest.fixture(scope="module")
def bench():
    return load("plain_cifar")


def _pct(accuracy: float) -> list[str]:
    """An accuracy as the comparison prints it twice (plain, engine)."""
    return [f"{100 * accuracy:.1f}"] * 2


def _splits(cifar_small: Splits, n: int) -> Splits:
    train = Split(cifar_small.train.x[:n], cifar_small.train.y[:n])
    test = Split(cifar_small.test.x[:20], cifar_small.test.y[:20])
    empty = Split(test.x[:0], test.y[:0])
    return Splits(train=train, valid=empty, test=test, num_classes=10)


# CIFAR-10's threat model (true labels); `mixed` is the paper's 0.5 natural + 0.5 adversarial
# loss, `madry` cifar-cpu's adversarial loss alone, with its N-FGSM and its recipe's rate and
# plain cross-entropy
CASES = {
    "natural": {},
    "pgd": {"adv_train": True, "attack": "pgd", "steps": 2},  # PGD-2 from a random start
    "madry-nfgsm": {
        "objective": "madry",
        "attack": "nfgsm",
        "eps": 8 / 255,
        "learning_rate": 0.1,
        "label_smoothing": 0.0,
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_engine_and_the_plain_loop_end_at_the_same_weights(tmp_path, cifar_small, bench, case):
    flat = {**bench.SETTINGS, "train_epochs": 1.5, "valid_size": 0}  # 160 images: 8 steps
    flat.update(CASES[case])
    result = bench.compare(from_flat(flat), _splits(cifar_small, 160), tmp_path)
    assert result["steps"] == 8  # ceil(1.5 * 160 / 32), across two epochs
    assert result["max_abs_diff"] < 1e-5, result


def test_the_plain_crop_flip_is_the_engines(bench):
    import torch

    from robust_tickets.data.augment import augment_batch

    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mine = bench.crop_flip(x, torch.Generator().manual_seed(4))
    assert torch.equal(mine, augment_batch("crop-flip", x, torch.Generator().manual_seed(4)))


def test_a_plain_trial_is_measured_as_the_engines_end_of_level_row(tmp_path, cifar_small, bench):
    """The --preset mode's trial (`plain_trial`) on a run shaped like cifar-cpu's level 0 (madry,
    N-FGSM, a validation split, trial 1): it starts where the engine's level 0 starts, ends at
    its weights, and measures the engine's natural and N-FGSM accuracy of the level's end: the
    same test images, eval mode, the eval seed of (trial, level, step), the attack's noise drawn
    after the validation split's."""
    from robust_tickets.experiment import RunOptions, run_experiment
    from robust_tickets.store import read_level_metrics

    flat = {**bench.SETTINGS, **CASES["madry-nfgsm"], "train_epochs": 1, "valid_size": 30}
    config = from_flat(flat)
    train = Split(cifar_small.train.x[:96], cifar_small.train.y[:96])
    valid = Split(cifar_small.valid.x[:30], cifar_small.valid.y[:30])
    splits = Splits(train=train, valid=valid, test=cifar_small.test, num_classes=10)
    options = RunOptions(output=tmp_path, quiet=True, trial_list=(1,))
    exp, _ = run_experiment(config, options, splits=splits)
    row = bench.plain_trial(config, splits, 1, exp)
    end = max(
        (r for r in read_level_metrics(exp.trial(1).level(0)) if r["split"] == "test"),
        key=lambda r: r["iteration"],
    )
    assert (row["steps"], end["iteration"], row["test_images"]) == (3, 3, 100)
    assert row["max_abs_diff"] < 1e-5, row
    assert (row["natural"], row["adversarial"]) == (end["acc"], end["adv_acc"]), (row, end)
    # the losses, which move with any change of the attack's noise (near chance, few accuracies
    # would)
    assert row["natural_loss"] == pytest.approx(end["loss"], rel=1e-6, abs=0)
    assert row["adversarial_loss"] == pytest.approx(end["adv_loss"], rel=1e-6, abs=0)
    # benchmarks/plain_cifar_compare.py finds that row and sets the plain one beside it
    lines = COMPARE.compare({1: {k: str(v) for k, v in row.items()}}, exp.path)
    mine = [line.split() for line in lines if line.split()[:1] == ["1"]]
    assert mine == [["1", *_pct(row["natural"]), "+0.0", *_pct(row["adversarial"]), "+0.0", "0.0"]]


def test_the_paired_interval_of_the_comparison():
    s = COMPARE.paired([1.0, 2.0, 3.0])  # mean 2, sd 1, half-width t(2) / sqrt(3)
    assert (s["mean"], s["sd"]) == (2.0, 1.0)
    assert abs(s["high"] - s["low"] - 2 * 4.303 / 3**0.5) < 1e-9
    assert s["verdict"].startswith("not significant")
    assert COMPARE.paired([2.0, 2.1, 1.9])["verdict"].startswith("significant")
    assert COMPARE.paired([0.0, 0.0, 0.0])["verdict"] == "identical in every trial"


def test_a_wrong_engine_store_is_one_line_and_exit_2(bench, tmp_path, capsys):
    """Bad input to the benchmark is a one-line error with exit code 2 (it was a bare exit 1)."""
    config = from_flat({"dataset": "cifar10", "model": "resnet20"})
    with pytest.raises(SystemExit) as stopped:
        bench.engine_store(tmp_path, config)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--engine-store" in err and "config.yaml" in err and "\n" not in err
