"""The `augment` and `train_epochs` settings: the training loop augments batch i from a seed of
(trial, level, i) alone (a resumed level augments as an uninterrupted one), the attack sees the
augmented images, and a level given in epochs trains ceil(epochs * n / batch) steps."""

from __future__ import annotations

import math

import pytest
import torch
from tests.conftest import small_config

from robust_tickets.cli.main import main
from robust_tickets.data.augment import random_crop_flip, unfit
from robust_tickets.engine import feed as feed_module
from robust_tickets.engine.feed import BatchFeed
from robust_tickets.engine.loop import Callback
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.errors import UserError
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.models.ticket import full_masks
from robust_tickets.resolve import from_flat
from robust_tickets.schedule import level_schedule, level_steps
from robust_tickets.seeds import derive
from robust_tickets.store import load_tensors, read_json, read_metrics
from robust_tickets.training.batches import EpochBatches


# ---- the settings ------------------------------------------------------------------------
def test_augment_none_keeps_the_identity_and_crop_flip_splits_it():
    plain = from_flat({"dataset": "cifar10"})
    assert from_flat({"dataset": "cifar10", "augment": "none"}).hash() == plain.hash()
    assert from_flat({"dataset": "cifar10", "augment": "crop-flip"}).hash() != plain.hash()


def test_a_bad_augmentation_or_one_that_does_not_fit_is_a_one_line_error(capsys, tmp_path):
    with pytest.raises(UserError, match="augment must be one of none, crop-flip"):
        from_flat({"augment": "flip"})
    assert main(["run", "--augment", "cutout", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "augment" in err
    assert unfit("crop-flip", (3, 32, 32)) is None and unfit("none", (784,)) is None
    assert "needs images" in unfit("crop-flip", (784,))
    assert "too much for 8x8" in unfit("crop-flip", (3, 8, 8))


def test_epochs_set_the_level_length_on_the_training_images():
    config = from_flat(
        {"dataset": "cifar10", "valid_size": 0, "batch_size": 128, "train_epochs": 2}
    )
    assert config.train.train_iters == level_steps(config) == math.ceil(2 * 50_000 / 128)
    # a subset given to the runner trains its own epochs
    assert level_schedule(config, 1000).total == math.ceil(2 * 1000 / 128)
    half = from_flat({"train_epochs": 0.5, "train_iters": 7})  # replaces train_iters
    assert half.train.train_iters == math.ceil(0.5 * 50_000 / 60)
    # a given train_iters does not split the identity of a run in epochs
    assert half.hash() == from_flat({"train_epochs": 0.5}).hash()
    assert from_flat({"train_epochs": 0}).hash() == from_flat({}).hash()
    keras = from_flat({"train_epochs": 3, "train_loop": "keras"})
    assert level_schedule(keras).epochs == 3
    for bad in (-1, 1e12):
        with pytest.raises(UserError, match="train_epochs"):
            from_flat({"train_epochs": bad})


# ---- the feed ----------------------------------------------------------------------------
class _Recorder:
    """A stepper that keeps what it was given."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def step(self, x, y, generator) -> None:
        self.seen.append(x.clone())


def test_the_feed_augments_batch_i_from_its_own_seed(monkeypatch, toy_cifar):
    recorder = _Recorder()
    monkeypatch.setattr(feed_module, "make_stepper", lambda *args: recorder)
    config = small_config(dataset="cifar10", model="conv2", augment="crop-flip")
    model = create_model("conv2", (3, 32, 32), 10, 0)
    train = toy_cifar.train
    batches = EpochBatches(len(train), config.train.batch_size, seed=5)
    feed = BatchFeed(
        model, full_masks(model), None, config, None, train, batches, torch.device("cpu"), 11
    )
    for i in (0, 1, 0):
        feed.step(i, torch.Generator())
    first, second, again = recorder.seen
    assert torch.equal(first, again) and not torch.equal(first, second)
    draws = torch.Generator().manual_seed(derive(11, 0))
    assert torch.equal(first, random_crop_flip(train.x[batches.indices(0)], draws))
    assert not torch.equal(first, train.x[batches.indices(0)])


def _stop_in_level_1(monkeypatch, at: int):
    class Stop(Exception):
        pass

    class StopAfter(Callback):
        def after_step(self, state):
            if state.iteration == at:
                raise Stop

    original = TrialRunner.callbacks

    def stopping(self, level, *args):
        callbacks = original(self, level, *args)
        return [*callbacks, StopAfter()] if level == 1 else callbacks

    monkeypatch.setattr(TrialRunner, "callbacks", stopping)
    return Stop, original


@pytest.mark.parametrize("model", ["dense-300-100", "lenet5"])
def test_an_augmented_run_resumes_to_the_same_weights(tmp_path, toy_fashion, monkeypatch, model):
    # dense-300-100 with Adam: the MLP's own stepper, its batch gathered into its input buffer
    config = small_config(model=model, prune_iters=1, augment="crop-flip", adv_train=True)
    whole, _ = run_experiment(config, RunOptions(output=tmp_path / "a", quiet=True), toy_fashion)
    plain, _ = run_experiment(
        small_config(model=model, prune_iters=1, adv_train=True),
        RunOptions(output=tmp_path / "c", quiet=True),
        toy_fashion,
    )
    level0 = load_tensors(whole.trial(0).level(0).final)
    assert any(
        not torch.equal(t, load_tensors(plain.trial(0).level(0).final)[k])
        for k, t in level0.items()
    ), "the augmentation changed nothing"
    stop, original = _stop_in_level_1(monkeypatch, at=13)  # just after the checkpoint at 12
    options = RunOptions(output=tmp_path / "b", quiet=True)
    with pytest.raises(stop):
        run_experiment(config, options, toy_fashion)
    monkeypatch.setattr(TrialRunner, "callbacks", original)
    resumed, _ = run_experiment(config, options, toy_fashion)
    for k in range(2):
        a, b = whole.trial(0).level(k), resumed.trial(0).level(k)
        assert read_metrics(a.metrics) == read_metrics(b.metrics)
        for name, tensor in load_tensors(a.final).items():
            assert torch.equal(tensor, load_tensors(b.final)[name]), name


def test_a_level_in_epochs_trains_and_evaluates_to_its_end(tmp_path, toy_fashion):
    # 600 training images, batch 60: 1.5 epochs are 15 steps; evaluations every 4 and at the end
    config = small_config(train_epochs=1.5, eval_every=4, prune_iters=0, lr_schedule="cosine")
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), toy_fashion)
    level = exp.trial(0).level(0)
    assert read_json(level.done)["iterations"] == 15
    iterations = sorted({int(r["iteration"]) for r in read_metrics(level.metrics)})
    assert iterations == [0, 4, 8, 12, 15]
