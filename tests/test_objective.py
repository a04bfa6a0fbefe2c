"""The training objectives (objectives/): one loss for every stepper and evaluation."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import TINY_MODELS, attack_config, small_config
from tests.test_fast_path import as_reference, batch, pruned_model

from robust_tickets.attacks import ATTACKS, make_attack
from robust_tickets.cli.main import main
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.errors import UserError
from robust_tickets.models import create_model
from robust_tickets.models.backend import backend_of
from robust_tickets.models.ticket import prunable
from robust_tickets.objectives import OBJECTIVES, objective_for
from robust_tickets.objectives.losses import LOSS_FORMS, logit_grad, smoothed_targets
from robust_tickets.objectives.trades import kl_divergence
from robust_tickets.objectives.weighted import Mixed, Natural
from robust_tickets.progress import Progress
from robust_tickets.resolve import config_from_dict, from_flat, replace_fields
from robust_tickets.store import experiment_dir, load_tensors
from robust_tickets.training.fast_step import FastStepper
from robust_tickets.training.multi_step import MultiStepper
from robust_tickets.training.step import AutogradStepper, make_optimizer, make_stepper


def _logits(n=12, seed=0, sharp=1.0):
    g = torch.Generator().manual_seed(seed)
    logits = sharp * torch.randn(n, 10, generator=g, dtype=torch.float64)
    return logits, torch.randint(0, 10, (n,), generator=g)


def _make(name, form="logits", smoothing=0.1):
    attack = ATTACKS.get("fgsm", eps=0.1, labels="predicted")
    return OBJECTIVES.cls(name)(attack=attack, smoothing=smoothing, form=form)


WEIGHTED = [name for name in OBJECTIVES.names() if OBJECTIVES.cls(name).row_weighted]


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize("form", LOSS_FORMS)
def test_row_scales_give_the_gradient_of_the_loss(name, form):
    """What a hand-written stepper computes (each row's loss-form gradient times its row scale)
    is d(loss)/d(logits) of what autograd steppers minimise."""
    objective = _make(name, form)
    natural, y = _logits(sharp=8.0)  # sharp: some probabilities clipped in the clipped form
    adversarial, _ = _logits(seed=1, sharp=8.0)
    both = torch.cat([natural, adversarial]).requires_grad_(True)
    adv = both[12:] if objective.adversarial else None
    objective.loss(both[:12], adv, y).backward()
    rows = 24 if objective.adversarial else 12
    labels = torch.cat([y, y])[:rows]
    targets = smoothed_targets(labels, 10, 0.1, torch.float64)
    per_row = logit_grad(torch.softmax(both[:rows].detach(), 1), targets, form)
    scales = torch.tensor(objective.row_scales(12), dtype=torch.float64)[: rows // 12]
    expected = per_row * scales.repeat_interleave(12)[:, None]
    torch.testing.assert_close(both.grad[:rows], expected, rtol=1e-10, atol=1e-12)
    assert not objective.adversarial or (both.grad[12:] != 0).any()


def test_the_papers_objective_is_half_natural_half_adversarial():
    objective = _make("mixed")
    natural, y = _logits()
    adversarial, _ = _logits(seed=1)
    ce = torch.nn.functional.cross_entropy
    expected = 0.5 * ce(natural, y, label_smoothing=0.1) + 0.5 * ce(
        adversarial, y, label_smoothing=0.1
    )
    torch.testing.assert_close(objective.loss(natural, adversarial, y), expected)
    assert objective.row_scales(60) == (0.5 / 60, 0.5 / 60)
    natural_only = _make("natural")
    torch.testing.assert_close(
        natural_only.loss(natural, None, y), ce(natural, y, label_smoothing=0.1)
    )


def test_the_run_chooses_its_objective_and_builds_its_attack():
    adversarial = objective_for(
        small_config(adv_train=True, attack="pgd", steps=4, loss_form="clipped")
    )
    assert isinstance(adversarial, Mixed) and adversarial.form == "clipped"
    assert adversarial.attack.name == "pgd" and adversarial.attack.passes == 4
    natural = objective_for(small_config(adv_train=False))
    assert isinstance(natural, Natural) and not natural.adversarial
    x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="has no attack"):
        Mixed().attack_inputs(None, x, y, torch.zeros(4, 10), None)


# ---- madry -------------------------------------------------------------------------------------
def test_madry_is_the_adversarial_cross_entropy_alone():
    objective = _make("madry")
    natural, y = _logits()
    adversarial, _ = _logits(seed=1)
    ce = torch.nn.functional.cross_entropy
    expected = ce(adversarial, y, label_smoothing=0.1)
    torch.testing.assert_close(objective.loss(natural, adversarial, y), expected)
    # not even a NaN of the natural batch leaks into it
    nan = torch.full_like(natural, float("nan"))
    torch.testing.assert_close(objective.loss(nan, adversarial, y), expected)
    assert objective.row_scales(60) == (0.0, 1 / 60)


def test_madry_attacks_the_true_labels_whatever_attack_labels_says():
    model = create_model("dense-300-100", (1, 28, 28), 10, 0)
    backend = backend_of(model)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)
    attack = ATTACKS.get("fgsm", eps=0.1, labels="predicted")
    inputs = backend.prepare(x)
    logits = backend.forward(inputs, need_grad=False).logits
    assert (logits.argmax(1) != y).any()  # the predicted labels differ from the true ones
    madry = OBJECTIVES.cls("madry")(attack=attack).attack_inputs(backend, inputs, y, logits, None)
    mixed = OBJECTIVES.cls("mixed")(attack=attack).attack_inputs(backend, inputs, y, logits, None)
    assert torch.equal(madry, attack.on_backend(backend, inputs, y))
    assert not torch.equal(madry, mixed)


def test_the_mlps_own_stepper_trains_madry_as_autograd_does():
    config = small_config(objective="madry", attack="pgd", steps=3, attack_labels="true")
    attack = ATTACKS.cls("pgd")
    fast_model, masks = pruned_model(2, dtype=torch.float64)
    slow_model = as_reference(fast_model)
    fast_opt, slow_opt = make_optimizer(fast_model, config), make_optimizer(slow_model, config)
    fast = make_stepper(fast_model, masks, fast_opt, config, attack)
    slow = make_stepper(slow_model, masks, slow_opt, config, attack)
    assert isinstance(fast, FastStepper) and fast.adversarial_only
    assert isinstance(slow, AutogradStepper)
    g_fast, g_slow = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for step in range(4):
        x, y = batch(60, 10 + step, torch.float64)
        fast.step(x, y, g_fast)
        slow.step(x, y, g_slow)
    for name, weight in prunable(fast_model).items():
        torch.testing.assert_close(weight, prunable(slow_model)[name], rtol=0, atol=1e-10)
        assert (weight[masks[name] == 0] == 0).all()


# ---- trades ------------------------------------------------------------------------------------
def test_trades_with_beta_0_is_the_natural_cross_entropy_and_its_gradient_reaches_both():
    natural, y = _logits()
    adversarial, _ = _logits(seed=1)
    ce = torch.nn.functional.cross_entropy
    spec = OBJECTIVES.spec("trades", {"trades_beta": 0.0})
    zero = OBJECTIVES.cls("trades")(spec.params, smoothing=0.1)
    torch.testing.assert_close(
        zero.loss(natural, adversarial, y), ce(natural, y, label_smoothing=0.1)
    )
    trades = _make("trades")  # beta 6
    assert trades.params.beta == 6.0 and not trades.row_weighted
    nat, adv = natural.clone().requires_grad_(True), adversarial.clone().requires_grad_(True)
    loss = trades.loss(nat, adv, y)
    p, q = torch.softmax(natural, 1), torch.softmax(adversarial, 1)
    kl = (p * (p.log() - q.log())).sum(1).mean()
    torch.testing.assert_close(loss, ce(natural, y, label_smoothing=0.1) + 6.0 * kl)
    loss.backward()
    assert nat.grad.abs().sum() > 0 and adv.grad.abs().sum() > 0  # through both forwards
    # no KL when both batches agree: only the cross-entropy's gradient is left
    same = natural.clone().requires_grad_(True)
    trades.loss(same, natural, y).backward()
    ce_only = natural.clone().requires_grad_(True)
    ce(ce_only, y, label_smoothing=0.1).backward()
    torch.testing.assert_close(same.grad, ce_only.grad)
    with pytest.raises(ValueError, match="no weighted cross-entropy"):
        trades.row_scales(12)


@pytest.mark.parametrize("arch", ["dense-300-100", "lenet5"])
def test_the_trades_attack_raises_the_kl_inside_the_eps_ball(arch):
    model = create_model(arch, (1, 28, 28), 10, 1)
    model.eval()
    backend = backend_of(model)
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)
    pgd = make_attack(attack_config("pgd", 0.1, "true", step_size=0.025, steps=5))
    objective = OBJECTIVES.cls("trades")(attack=pgd)
    assert objective.attack_needed == "pgd" and not objective.reuses_start
    inputs = backend.prepare(x)
    natural = backend.forward(inputs, need_grad=False).logits
    x_adv = objective.attack_inputs(backend, inputs, y, natural, torch.Generator().manual_seed(4))
    assert (x_adv - inputs).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    noise = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(4))
    start = (inputs + 0.001 * noise).clamp(0, 1)  # where it starts (one step takes it away)

    def kl(points):
        with torch.no_grad():
            return kl_divergence(natural, backend.forward(points, need_grad=False).logits)

    assert kl(x_adv) > 100 * kl(start) and kl(x_adv) > 1e-3
    assert all(p.grad is None for p in model.parameters())


def test_trades_trains_through_autograd_on_the_mlp_and_the_batched_stepper_refuses_it():
    config = small_config(objective="trades", attack="pgd", steps=2, trades_beta=1.0)
    model, masks = pruned_model(0)
    stepper = make_stepper(model, masks, make_optimizer(model, config), config, ATTACKS.cls("pgd"))
    assert isinstance(stepper, AutogradStepper)
    before = {n: w.clone() for n, w in prunable(model).items()}
    x, y = batch(60, 1)
    stepper.step(x, y, torch.Generator().manual_seed(0))
    for name, weight in prunable(model).items():
        assert not torch.equal(weight, before[name])
        assert (weight[masks[name] == 0] == 0).all()
    with pytest.raises(UserError, match="trades"):
        MultiStepper([model], [masks], [make_optimizer(model, config)], config, ATTACKS.cls("pgd"))


# ---- the config's choice -----------------------------------------------------------------------
def test_the_objective_decides_adv_train_and_adv_train_alone_means_mixed():
    assert from_flat({}).train.objective.name == "natural"
    paper = from_flat({"adv_train": True})
    assert paper.train.objective.name == "mixed"
    assert from_flat({"adv_train": True, "objective": "mixed"}) == paper
    assert from_flat({"objective": "mixed"}) == paper  # an adversarial objective sets adv_train
    for name in ("madry", "trades"):
        config = from_flat({"objective": name, "attack": "pgd"})
        assert config.train.adv_train and name in config.name()
        assert config.hash() != from_flat({"adv_train": True, "attack": "pgd"}).hash()
    assert from_flat({"adv_train": True, "objective": "natural"}) == from_flat({})
    trades = from_flat({"objective": "trades", "attack": "pgd"})
    beta = {"objective": "trades", "attack": "pgd", "trades_beta": 3}
    assert from_flat(beta).hash() != trades.hash()
    assert from_flat({**beta, "trades_beta": 6}).hash() == trades.hash()
    # trades_beta belongs to trades: under another objective it splits no identity
    assert from_flat({"adv_train": True, "trades_beta": 3}) == paper
    # TRADES's attack reads PGD's steps and step_size: it needs the run's attack to be PGD
    assert from_flat({"objective": "trades", "attack": "pgd", "steps": 3}).hash() != trades.hash()
    assert from_flat({"adv_train": True, "steps": 3}) == paper
    with pytest.raises(UserError, match="choose --attack pgd"):
        from_flat({"objective": "trades", "attack": "fgsm"})
    # replacing adv_train replaces the objective it implied; the spec form works too
    assert replace_fields(paper, adv_train=False) == from_flat({})
    spec = {"objective": {"name": "trades", "params": {"beta": 3}}, "attack": "pgd"}
    assert from_flat(spec) == from_flat(beta)
    assert config_from_dict(trades.to_dict()) == trades
    with pytest.raises(UserError, match="trades_beta must be >= 0"):
        from_flat({"objective": "trades", "attack": "pgd", "trades_beta": -1})
    with pytest.raises(UserError, match="unknown training objective"):
        from_flat({"objective": "trade"})


# ---- whole runs --------------------------------------------------------------------------------
TINY_RUN = ["--train-iters", "3", "--eval-every", "3", "--prune-iters", "1", "--quiet"]
TINY_RUN += ["--valid-size", "200", "--test-size", "100", "--attack", "pgd", "--steps", "2"]


def test_every_objective_runs_on_the_mlp_through_the_cli(tmp_path, fashion):
    names = {}
    for name in OBJECTIVES.names():
        out = tmp_path / name
        assert main(["run", *TINY_RUN, "--objective", name, "-o", str(out)]) == 0
        (run,) = out.glob("fashion_mnist-*")
        names[name] = run.name
        assert len(list(run.glob("trial_*/level_*/done.json"))) == 2
    assert len({n.rsplit("-", 1)[1] for n in names.values()}) == len(names)  # four hashes
    assert "-nat-" in names["natural"] and "-adv-" in names["mixed"]


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_trains_a_batch_norm_network(tmp_path, toy_cifar, name):
    """resnet20 (batch norm: the attacks run in eval mode, the loss in train mode)."""
    config = from_flat(
        {
            "dataset": "cifar10",
            "model": TINY_MODELS["resnet20"],
            "objective": name,
            "attack": "pgd",
            "steps": 2,
            "train_iters": 2,
            "eval_every": 2,
            "prune_iters": 0,
            "batch_size": 20,
        }
    )
    exp = experiment_dir(tmp_path, config)
    runner = TrialRunner(config, exp, 0, toy_cifar, torch.device("cpu"), Progress(1, quiet=True))
    init = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.run()
    final = load_tensors(exp.trial(0).level(0).final)
    assert any(not torch.equal(init[k], final[k]) for k in final)  # it trained
    assert all(torch.isfinite(v.float()).all() for v in final.values())
