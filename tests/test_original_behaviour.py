"""What the original code did, as settings: its strategy (`rewind_trained`), its Keras loop and
labels (`train_loop: keras`), and TF 1.13 Keras's numerics (`adam: keras`, `loss_form: clipped`).
"""

from __future__ import annotations

import math

import pytest
import torch
from tests.conftest import small_config
from tests.test_fast_path import as_reference, batch, pruned_model

from robust_tickets.attacks import ATTACKS
from robust_tickets.config import PRESETS
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models.ticket import prunable
from robust_tickets.objectives.losses import (
    KERAS_EPSILON,
    cross_entropy,
    logit_grad,
    smoothed_targets,
)
from robust_tickets.optim.adam import Adam
from robust_tickets.pruning import STRATEGIES
from robust_tickets.resolve import from_flat
from robust_tickets.schedule import LevelSchedule, level_schedule
from robust_tickets.store import load_tensors, read_metrics
from robust_tickets.training.batches import EpochBatches
from robust_tickets.training.fast_step import FastStepper
from robust_tickets.training.step import AutogradStepper, make_optimizer, make_stepper

PAPER = LevelSchedule("keras", n=50_000, batch_size=60, train_iters=50_000, eval_every=500)


# ---- the schedule ----------------------------------------------------------------------------
def test_the_papers_keras_loop_has_the_originals_steps_and_labels():
    assert PAPER.per_epoch == 834 and PAPER.epochs == 60 and PAPER.total == 50_040
    assert PAPER.step_of_label(30_000) == 25_021  # the evaluation Tables 1-2 read
    assert PAPER.label(25_021) == 30_000
    assert PAPER.step_of_label(59_500) == 49_707 and PAPER.step_of_label(60_000) is None
    points = [s for s in range(1, PAPER.total + 1) if PAPER.evaluates_after(s)]
    assert points[:4] == [1, 501, 835, 1335]
    assert points[-1] == 50_040 and PAPER.label(50_040) is None  # the unlabelled end
    labels = [PAPER.label(s) for s in points[:-1]]
    assert labels == list(range(0, 60_000, 500))  # consecutive, as the callback counted
    assert len(points) == PAPER.evaluations == 121
    assert all(PAPER.step_of_label(PAPER.label(s)) == s for s in points[:-1])


def test_stopping_at_the_tables_evaluation_ends_the_level_there():
    stopped = LevelSchedule("keras", 50_000, 60, 50_000, 500, stop_step=25_021)
    assert stopped.total == 25_021 and stopped.label(25_021) == 30_000
    assert stopped.evaluations == 61 and stopped.evaluates_after(25_021)
    config = from_flat({**PRESETS["paper"], "stop_step": 25_021, "dataset": "mnist"})
    assert level_schedule(config).total == 25_021
    assert from_flat(PRESETS["paper"]).name() != config.name()


@pytest.mark.parametrize("loop", ["steps", "keras"])
@pytest.mark.parametrize(
    "n, batch_size, every, until, stop",
    [(1000, 60, 10, 25, 0), (997, 7, 50, 143, 0), (120, 60, 1, 1, 0), (1000, 60, 10, 300, 40),
     (1000, 60, 10, 33, 0), (1000, 60, 10, 34, 0)],
)  # fmt: skip
def test_eval_until_drops_the_later_evaluations_but_the_last_and_keeps_the_checkpoints(
    loop, n, batch_size, every, until, stop
):
    def points(s: LevelSchedule, rule) -> list[int]:
        start = [0] if s.evaluates_at_start else []
        return start + [d for d in range(1, s.total + 1) if rule(d)]

    whole = LevelSchedule(loop, n, batch_size, 300, every, stop_step=stop)
    cut = LevelSchedule(loop, n, batch_size, 300, every, stop_step=stop, eval_until=until)
    kept = points(cut, cut.evaluates_after)
    assert kept == [d for d in points(whole, whole.evaluates_after) if d <= until or d == cut.total]
    assert len(kept) == cut.evaluations and points(whole, whole.evaluates_after)[-1] == cut.total
    assert points(cut, cut.saves_after) == points(whole, whole.evaluates_after)  # resumable alike
    assert [cut.label(d) for d in kept] == [whole.label(d) for d in kept]
    assert cut.total == whole.total


def test_eval_until_the_tables_step_halves_a_paper_levels_evaluations_and_keeps_its_training(
    tmp_path, thousand
):
    paper = LevelSchedule("keras", 50_000, 60, 50_000, 500, eval_until=25_021)
    assert paper.evaluations == 62 and paper.evaluates_after(25_021)
    assert paper.label(25_021) == 30_000 and paper.evaluates_after(50_040)
    # evaluations draw from their own generator: the same training, fewer rows
    overrides = {"strategy": "rewind_trained", "adv_train": True, "attack": "pgd", **KERAS_NUMERICS}
    _, whole = _keras_run(tmp_path / "whole", thousand, **overrides)
    _, cut = _keras_run(tmp_path / "cut", thousand, eval_until=12, **overrides)
    for level in range(3):
        a, b = whole.trial(0).level(level), cut.trial(0).level(level)
        for name in ("final", "masks", "init"):
            for key, tensor in load_tensors(getattr(a, name)).items():
                assert torch.equal(tensor, load_tensors(getattr(b, name))[key]), (level, name)
        rows = read_metrics(a.metrics)
        kept = [r for r in rows if r["iteration"] <= 12 or r["iteration"] == 34]
        assert read_metrics(b.metrics) == kept and len(kept) < len(rows)


@pytest.mark.parametrize("n, batch_size, every", [(1000, 60, 10), (997, 7, 50), (120, 60, 1)])
def test_labels_and_steps_invert_each_other(n, batch_size, every):
    for loop in ("steps", "keras"):
        s = LevelSchedule(loop, n=n, batch_size=batch_size, train_iters=300, eval_every=every)
        for done in range(1, s.total + 1):
            label = s.label(done) if s.evaluates_after(done) else None
            if label is not None:
                assert s.step_of_label(label) == done


def test_keras_epochs_use_every_image_once_with_a_short_last_batch():
    schedule = LevelSchedule("keras", n=130, batch_size=60, train_iters=260, eval_every=2)
    assert (schedule.per_epoch, schedule.epochs, schedule.total) == (3, 120, 360)
    batches = EpochBatches(130, 60, seed=5, per_epoch=schedule.per_epoch)
    for epoch in range(2):
        drawn = [batches.indices(epoch * 3 + k) for k in range(3)]
        assert [len(b) for b in drawn] == [60, 60, 10]
        assert sorted(torch.cat(drawn).tolist()) == list(range(130))
    plain = EpochBatches(130, 60, seed=5)  # the steps loop keeps full batches only
    assert plain.per_epoch == 2 and len(plain.indices(1)) == 60


# ---- the numerics ----------------------------------------------------------------------------
def test_clipped_cross_entropy_is_kerass_formula_and_its_gradient_is_autograds():
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(300, 10, generator=g, dtype=torch.float64) * 15).requires_grad_()
    y = torch.randint(0, 10, (300,), generator=g)
    targets = smoothed_targets(y, 10, 0.1, torch.float64)
    probs = torch.softmax(logits.detach(), 1)
    assert ((probs < KERAS_EPSILON).any(1)).float().mean() > 0.3  # clipping does happen here
    keras = -(targets * probs.clamp(KERAS_EPSILON, 1 - KERAS_EPSILON).log()).sum(1).mean()
    for form in ("logits", "clipped"):
        loss = cross_entropy(logits, y, smoothing=0.1, form=form)
        (grad,) = torch.autograd.grad(loss * len(y), logits)
        torch.testing.assert_close(grad, logit_grad(probs, targets, form), rtol=0, atol=1e-12)
    torch.testing.assert_close(cross_entropy(logits, y, smoothing=0.1, form="clipped"), keras)
    # a confidently wrong example (every probability clipped) teaches nothing at all
    wrong = torch.softmax(torch.tensor([[0.0, 40.0] + [0.0] * 8], dtype=torch.float64), 1)
    smoothed = smoothed_targets(torch.tensor([0]), 10, 0.1, torch.float64)
    assert (logit_grad(wrong, smoothed, "clipped") == 0).all()
    assert logit_grad(wrong, smoothed, "logits")[0, 0] < -0.9


def test_keras_adam_is_the_tf_1_13_update():
    g = torch.Generator().manual_seed(1)
    p = torch.randn(50, generator=g, dtype=torch.float64)
    ours, theirs = p.clone(), p.clone()
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    opt = Adam([ours], lr=1e-3, eps=1e-7, keras=True)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    for t in range(1, 8):
        grad = torch.randn(50, generator=g, dtype=torch.float64) * 1e-4
        opt.step([grad])
        # tensorflow/python/keras/optimizers.py (1.13.1), class Adam, get_updates
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        theirs = theirs - lr_t * m / (v.sqrt() + eps)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-15)
    torch_adam = Adam([q := p.clone()], lr=1e-3, eps=1e-7)
    torch_adam.step([torch.full_like(q, 1e-7)])  # with gradients near eps the two differ
    keras_adam = Adam([r := p.clone()], lr=1e-3, eps=1e-7, keras=True)
    keras_adam.step([torch.full_like(r, 1e-7)])
    assert (p - r).abs().max() < 0.5 * (p - q).abs().max()


KERAS_NUMERICS = {"loss_form": "clipped", "adam": "keras"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"adv_train": True, "attack": "fgsm", "attack_labels": "true", **KERAS_NUMERICS},
        {"adv_train": True, "attack": "pgd", "steps": 3, "attack_labels": "true", **KERAS_NUMERICS},
        {"adv_train": False, **KERAS_NUMERICS},
    ],
)
@pytest.mark.parametrize("size", [60, 20])  # the keras loop's short last batch too
def test_fast_steps_match_autograd_with_kerass_numerics(overrides, size):
    config = small_config(**overrides)
    attack = ATTACKS.cls(config.attack.attack)
    fast_model, masks = pruned_model(4, dtype=torch.float64)
    with torch.no_grad():  # sharp logits, so that some probabilities are clipped
        for weight in prunable(fast_model).values():
            weight.mul_(4.0)
    slow_model = as_reference(fast_model)
    fast_opt, slow_opt = make_optimizer(fast_model, config), make_optimizer(slow_model, config)
    assert fast_opt.keras and fast_opt.eps == 1e-7
    fast = make_stepper(fast_model, masks, fast_opt, config, attack, size)
    slow = make_stepper(slow_model, masks, slow_opt, config, attack, size)
    assert isinstance(fast, FastStepper) and isinstance(slow, AutogradStepper)
    g_fast, g_slow = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for step in range(4):
        x, y = batch(size, 20 + step, torch.float64)
        fast.step(x, y, g_fast)
        slow.step(x, y, g_slow)
    for name, weight in prunable(fast_model).items():
        torch.testing.assert_close(weight, prunable(slow_model)[name], rtol=0, atol=1e-10)


# ---- the strategy and the run ------------------------------------------------------------------
def test_reinit_orig_means_the_originals_rewind_and_the_paper_preset_runs_it():
    assert STRATEGIES.canonical("reinit_orig") == "rewind_trained"
    paper = from_flat(PRESETS["paper"])
    assert (paper.prune.strategy.name, paper.train.train_loop) == ("rewind_trained", "keras")
    assert (paper.train.adam, paper.train.loss_form) == ("keras", "clipped")
    # the defaults stay what the paper's text describes, and their runs keep their names
    default = from_flat({})
    assert default.prune.strategy.name == "reset" and default.train.train_loop == "steps"
    assert default.hash() == from_flat({"train_loop": "steps", "adam": "torch"}).hash()


def _keras_run(tmp_path, splits, **overrides):
    # 1,000 training images: epochs of 17 batches (the last of 40), 2 epochs a level
    config = small_config(
        train_loop="keras", train_iters=34, eval_every=10, valid_size=59_000, **overrides
    )
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=splits)
    return config, exp


@pytest.fixture(scope="module")
def thousand(fashion):
    from robust_tickets.data import Split, Splits

    return Splits(
        train=Split(fashion.train.x[:1000], fashion.train.y[:1000]),
        valid=Split(fashion.valid.x[:500], fashion.valid.y[:500]),
        test=Split(fashion.test.x[:500], fashion.test.y[:500]),
        num_classes=10,
    )


def test_rewind_trained_restarts_every_level_from_the_trained_dense_network(tmp_path, thousand):
    config, exp = _keras_run(tmp_path, thousand, strategy="rewind_trained", adv_train=True)
    levels = [
        {k: load_tensors(getattr(exp.trial(0).level(i), k)) for k in ("masks", "init", "final")}
        for i in range(3)
    ]
    for name in levels[0]["final"]:
        for k in (1, 2):
            mask = levels[k]["masks"][name]
            assert torch.equal(levels[k]["init"][name], levels[0]["final"][name] * mask)
            # the new mask prunes the previous level's *trained* survivors of least magnitude
            before = levels[k - 1]["masks"][name] == 1
            cut = before & (mask == 0)
            kept = mask == 1
            trained = levels[k - 1]["final"][name].abs()
            assert cut.any() and trained[cut].max() <= trained[kept].min()
    rows = read_metrics(exp.trial(0).level(1).metrics)
    test = [(r["iteration"], r["label"]) for r in rows if r["split"] == "test"]
    schedule = level_schedule(config, 1000)
    assert test == [(1, 0), (11, 10), (18, 20), (28, 30), (34, None)] and schedule.total == 34


def test_an_interrupted_keras_level_resumes_to_the_same_weights(tmp_path, thousand, monkeypatch):
    from robust_tickets.engine.trial import TrialRunner

    overrides = {"strategy": "rewind_trained", "adv_train": True, **KERAS_NUMERICS}
    _, whole = _keras_run(tmp_path / "whole", thousand, **overrides)
    original = TrialRunner.evaluate
    calls = {"n": 0}

    def stop_midway(self, level, iteration, label):
        calls["n"] += 1
        if level == 1 and iteration == 18:  # after the level's third evaluation point
            raise KeyboardInterrupt
        return original(self, level, iteration, label)

    monkeypatch.setattr(TrialRunner, "evaluate", stop_midway)
    with pytest.raises(KeyboardInterrupt):
        _keras_run(tmp_path / "cut", thousand, **overrides)
    monkeypatch.setattr(TrialRunner, "evaluate", original)
    _, resumed = _keras_run(tmp_path / "cut", thousand, **overrides)
    for level in range(3):
        a, b = whole.trial(0).level(level), resumed.trial(0).level(level)
        assert read_metrics(a.metrics) == read_metrics(b.metrics)
        for name, tensor in load_tensors(a.final).items():
            assert torch.equal(tensor, load_tensors(b.final)[name])


def test_a_run_made_before_names_spelled_out_the_criterion_resumes_in_place(tmp_path):
    from robust_tickets.store import experiment_dir, write_config

    config = from_flat({"criterion": "random", "train_iters": 10})
    assert "criterion_random" in config.name() and config.legacy_name() != config.name()
    old = tmp_path / config.legacy_name()
    old.mkdir()
    write_config(experiment_dir(tmp_path, config).__class__(old), config)
    assert experiment_dir(tmp_path, config).path == old
    fresh = from_flat({"criterion": "random", "train_iters": 11})
    assert experiment_dir(tmp_path, fresh).path.name == fresh.name()


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_evaluate_paper_measure_agrees_with_the_training_time_number(tmp_path, attack):
    """`evaluate --attacks paper` on a level's final weights measures what training measured
    at its last evaluation: FGSM (no randomness) to the example, PGD within binomial noise."""
    import csv
    import subprocess
    import sys

    out = tmp_path / "runs"
    flags = ["--dataset", "mnist", "--attack", attack, "--steps", "3", "--adv-train",
             "--strategy", "dense", "--train-iters", "60", "--eval-every", "60",
             "--valid-size", "500", "--test-size", "2000", "--threads", "1", "--quiet"]  # fmt: skip
    ran = subprocess.run([sys.executable, "-m", "robust_tickets", "run", *flags, "-o", str(out)],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    evaluated = subprocess.run(
        [sys.executable, "-m", "robust_tickets", "evaluate", str(out), "--attacks", "paper",
         "--eps", "0.3", "--n-examples", "2000", "--no-checks", "--threads", "1", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    from robust_tickets.store import find_experiments

    (exp,) = find_experiments(out)
    level = exp.path / "trial_0" / "level_00"
    final = [r for r in read_metrics(level / "metrics.csv") if r["split"] == "test"][-1]
    with (level / "robustness" / "robustness.csv").open() as handle:
        rows = {r["attack"]: r for r in csv.DictReader(handle)}
    measured = float(rows["paper"]["acc"])
    assert "worst-case" not in rows  # the paper's measure is not a robustness
    if attack == "fgsm":
        assert abs(measured - final["adv_acc"]) <= 1 / 2000
    else:  # another random start: within 3 binomial standard errors
        se = math.sqrt(final["adv_acc"] * (1 - final["adv_acc"]) / 2000)
        assert abs(measured - final["adv_acc"]) <= 3 * se + 1e-9
