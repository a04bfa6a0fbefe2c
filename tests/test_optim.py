"""Optimizers and learning-rate schedules (robust_tickets.optim): every pair trains a ticket
without reviving a pruned weight, the schedules' values, SGD against torch's, resume."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from tests.conftest import small_config

from robust_tickets.attacks import ATTACKS
from robust_tickets.engine.callbacks import LearningRate
from robust_tickets.engine.loop import Callback
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.errors import UserError
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.models.ticket import apply_masks_, full_masks, prunable
from robust_tickets.optim import OPTIMIZERS, SCHEDULES
from robust_tickets.optim.adam import Adam
from robust_tickets.resolve import from_flat
from robust_tickets.store import load_tensors, read_metrics
from robust_tickets.training.checkpoint import LevelState
from robust_tickets.training.step import AutogradStepper, make_optimizer, make_stepper

SGD_SETTINGS = {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-3}


def _settings(optimizer: str, schedule: str) -> dict:
    out = {"optimizer": optimizer, "lr_schedule": schedule, "warmup": 3}
    if optimizer == "sgd":
        out.update(SGD_SETTINGS, learning_rate=0.05)
    return out


@pytest.mark.parametrize("schedule", SCHEDULES.names())
@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
def test_every_optimizer_and_schedule_trains_and_keeps_pruned_weights_zero(
    tmp_path, toy_fashion, optimizer, schedule
):
    config = small_config(
        model="lenet5",
        train_iters=12,
        eval_every=12,
        prune_iters=1,
        **_settings(optimizer, schedule),
    )
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=toy_fashion)
    for _, level in exp.trial(0).levels():
        masks, init, final = (load_tensors(p) for p in (level.masks, level.init, level.final))
        for name, mask in masks.items():
            assert torch.all(final[name][mask == 0] == 0)  # weight decay revived nothing
            assert not torch.equal(final[name][mask == 1], init[name][mask == 1])  # it trained
        assert [r["iteration"] for r in read_metrics(level.metrics) if r["split"] == "test"] == [
            0,
            12,
        ]


def _factors(schedule: str, total: int, **params) -> list[float]:
    flat = {"lr_schedule": schedule, **params}
    return [SCHEDULES.get(from_flat(flat).train.lr_schedule).factor(i, total) for i in range(total)]


def test_warmup_ramps_linearly_then_holds():
    assert _factors("constant", 6, warmup=4) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert SCHEDULES.get("constant").constant  # no warm-up: the optimizer's own rate, untouched


def test_piecewise_drops_at_fractions_and_at_steps():
    f = _factors("piecewise", 100, milestones="0.5,0.75", gamma=0.1)
    assert f[49] == 1.0 and f[50] == 0.1 and f[74] == 0.1 and f[75] == 0.1**2 and f[99] == 0.1**2
    g = _factors("piecewise", 30, milestones="10,20", gamma=0.5, warmup=5)
    assert g[:5] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert g[9] == 1.0 and g[10] == 0.5 and g[19] == 0.5 and g[20] == 0.25


def test_cosine_runs_from_the_rate_to_its_floor_after_the_warmup():
    f = _factors("cosine", 110, warmup=10, cosine_floor=0.1)
    assert f[0] == pytest.approx(0.1) and f[9] == 1.0 and f[10] == 1.0
    assert f[109] == pytest.approx(0.1, abs=1e-15)
    assert f[10 + 99 // 2] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 49 / 99)))
    assert all(a >= b for a, b in itertools.pairwise(f[10:]))  # never rises after warm-up


def test_the_callback_sets_each_steps_rate_before_it():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = SCHEDULES.get(from_flat({"lr_schedule": "cosine"}).train.lr_schedule)
    callback, state = LearningRate(optimizer, 0.5, schedule, 10), LevelState(4, [])
    callback.on_start(state, resumed=True)  # a resumed level starts at the rate of its step
    assert optimizer.param_groups[0]["lr"] == 0.5 * schedule.factor(4, 10)


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"optimizer": "sgd", "momentum": 1.5}, "momentum must be in [0, 1)"),
        ({"optimizer": "sgd", "nesterov": True}, "nesterov needs --momentum"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"lr_schedule": "piecewise", "milestones": "0.9,0.5"}, "milestones must be increasing"),
        ({"lr_schedule": "cosine", "cosine_floor": 2.0}, "cosine_floor must be in [0, 1]"),
        ({"warmup": -1}, "warmup must be >= 0"),
        ({"adam": "sgd"}, "adam must be torch or keras"),
        ({"optimizer": "lion"}, "unknown optimizer 'lion'"),
    ],
)
def test_bad_settings_are_one_line_errors(values, needle):
    with pytest.raises(UserError, match=None) as error:
        from_flat(values)
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_specs_and_flat_names_are_one_run_and_defaults_keep_identity():
    flat = from_flat({"optimizer": "sgd", "momentum": 0.9, "lr_schedule": "cosine", "warmup": 5})
    spec = from_flat(
        {
            "optimizer": {"name": "sgd", "params": {"momentum": 0.9}},
            "lr_schedule": {"name": "cosine", "params": {"warmup": 5}},
        }
    )
    assert flat.hash() == spec.hash() != from_flat({}).hash()
    keras = from_flat({"optimizer": {"name": "adam", "params": {"variant": "keras"}}})
    assert keras.train.adam == "keras" and keras.hash() == from_flat({"adam": "keras"}).hash()
    explicit = from_flat({"optimizer": "adam", "lr_schedule": "constant", "adam": "torch"})
    assert explicit.hash() == from_flat({}).hash()


def _pruned_lenet(seed: int) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    model = create_model("lenet5", (1, 28, 28), 10, seed)
    masks = full_masks(model)
    g = torch.Generator().manual_seed(1)
    for name in masks:
        masks[name] = (torch.rand(masks[name].shape, generator=g) > 0.5).float()
    apply_masks_(model, masks)
    return model, masks


def test_sgd_on_the_autograd_stepper_equals_torch_sgd(toy_fashion):
    config = small_config(model="lenet5", learning_rate=0.05, optimizer="sgd", **SGD_SETTINGS)
    model, masks = _pruned_lenet(0)
    twin, _ = _pruned_lenet(0)
    stepper = make_stepper(model, masks, make_optimizer(model, config), config, ATTACKS.cls("fgsm"))
    assert isinstance(stepper, AutogradStepper)
    reference = torch.optim.SGD(twin.parameters(), lr=0.05, **SGD_SETTINGS)
    twin_loss = AutogradStepper(twin, masks, None, config, ATTACKS.cls("fgsm"))
    x, y = toy_fashion.train.x, toy_fashion.train.y
    for i in range(5):
        xb, yb = x[i * 60 : (i + 1) * 60], y[i * 60 : (i + 1) * 60]
        stepper.step(xb, yb, None)
        reference.zero_grad()
        twin_loss.loss(xb, yb, None).backward()
        for name, w in prunable(twin).items():
            w.grad.mul_(masks[name])
        reference.step()
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    for name, w in prunable(model).items():
        assert torch.all(w[masks[name] == 0] == 0)


def test_the_mlp_trains_sgd_through_autograd_and_adam_through_its_own_stepper():
    sgd = small_config(optimizer="sgd", momentum=0.9)
    model = create_model("dense-300-100", (1, 28, 28), 10, 0)
    masks = full_masks(model)
    own = make_stepper(
        model, masks, make_optimizer(model, small_config()), small_config(), ATTACKS.cls("fgsm")
    )
    assert not isinstance(own, AutogradStepper) and isinstance(own.optimizer, Adam)
    other = make_stepper(model, masks, make_optimizer(model, sgd), sgd, ATTACKS.cls("fgsm"))
    assert isinstance(other, AutogradStepper)


def test_resume_equals_uninterrupted_for_sgd_and_cosine(tmp_path, toy_fashion, monkeypatch):
    config = small_config(
        model="lenet5",
        prune_iters=1,
        optimizer="sgd",
        lr_schedule="cosine",
        warmup=4,
        learning_rate=0.05,
        **SGD_SETTINGS,
    )
    whole, _ = run_experiment(config, RunOptions(output=tmp_path / "a", quiet=True), toy_fashion)

    class Stop(Exception):
        pass

    class StopAfter(Callback):  # killed in level 1 just after its checkpoint at step 12
        def after_step(self, state):
            if state.iteration == 13:
                raise Stop

    original = TrialRunner.callbacks

    def stopping(self, level, *args):
        callbacks = original(self, level, *args)
        return [*callbacks, StopAfter()] if level == 1 else callbacks

    monkeypatch.setattr(TrialRunner, "callbacks", stopping)
    options = RunOptions(output=tmp_path / "b", quiet=True)
    with pytest.raises(Stop):
        run_experiment(config, options, toy_fashion)
    monkeypatch.setattr(TrialRunner, "callbacks", original)
    stopped = whole.path.name
    level = tmp_path / "b" / stopped / "trial_0" / "level_01"
    assert (level / "checkpoint.safetensors").exists() or any(level.glob("checkpoint*"))
    resumed, _ = run_experiment(config, options, toy_fashion)
    for k in range(2):
        a, b = whole.trial(0).level(k), resumed.trial(0).level(k)
        assert read_metrics(a.metrics) == read_metrics(b.metrics)
        for name, tensor in load_tensors(a.final).items():
            assert torch.equal(tensor, load_tensors(b.final)[name]), name
