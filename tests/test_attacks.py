import pytest
import torch
from tests.conftest import attack_config, one_line_error, small_config
from tests.test_fast_path import as_reference, batch, pruned_model

from robust_tickets.attacks import ATTACKS, make_attack
from robust_tickets.cli.main import main
from robust_tickets.components import Spec
from robust_tickets.config import AttackConfig
from robust_tickets.data import Split, Splits
from robust_tickets.errors import UserError
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.models.backend import backend_of
from robust_tickets.models.fast_mlp import MLP
from robust_tickets.models.ticket import prunable
from robust_tickets.resolve import from_flat
from robust_tickets.store import load_tensors, read_metrics
from robust_tickets.training.evaluate import evaluate_split
from robust_tickets.training.fast_step import FastStepper
from robust_tickets.training.step import AutogradStepper, make_optimizer, make_stepper


def _model(seed=0):
    return create_model("dense-300-100", (1, 28, 28), 10, seed)


def _batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _reach(name: str, cfg: AttackConfig) -> float:
    """How far (L-inf) an attack may move an input: the eps-ball, but N-FGSM is not projected
    (noise of up to k*eps, then a step of nfgsm_step*eps)."""
    if name == "nfgsm":
        return (cfg.params.noise + cfg.params.step) * cfg.eps
    return cfg.eps


@pytest.mark.parametrize("name", ATTACKS.names())
@pytest.mark.parametrize("training", [True, False])
def test_attack_contract(name, training):
    model = _model()
    model.train(training)
    x, y = _batch()
    cfg = attack_config(name, 0.1, step_size=0.03, steps=5)
    x_adv = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(1))
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= _reach(name, cfg) + 1e-6  # inside its reach
    assert x_adv.min() >= 0 and x_adv.max() <= 1  # valid range
    assert (x_adv != x).any()
    assert model.training is training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # no parameter gradient


def test_fgsm_is_clip_of_signed_gradient():
    model = _model()
    x, y = _batch()
    x_req = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(x_req), y).backward()
    expected = (x + 0.3 * x_req.grad.sign()).clamp(0, 1)
    got = ATTACKS.get("fgsm", eps=0.3)(model, x, y)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_pgd_random_start_is_seeded():
    model, (x, y) = _model(), _batch()
    cfg = attack_config("pgd", 0.3, steps=2)
    a = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(5))
    b = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(5))
    c = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_trained_model(fashion):
    torch.manual_seed(0)
    model = _model(1)
    opt = torch.optim.Adam(model.parameters(), lr=1.2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(fashion.train), (60,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(fashion.train.x[idx]), fashion.train.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = type(fashion.test)(fashion.test.x[:2000], fashion.test.y[:2000])
    fgsm = evaluate_split(model, test, ATTACKS.cls("fgsm"), attack_config("fgsm", 0.1))
    pgd_cfg = attack_config("pgd", 0.1)
    pgd = evaluate_split(model, test, ATTACKS.cls("pgd"), pgd_cfg, generator=torch.Generator())
    assert fgsm["acc"] > 0.7  # it did learn
    assert pgd["adv_acc"] <= fgsm["adv_acc"]
    assert pgd["adv_acc"] < fgsm["acc"]


@pytest.mark.parametrize("name", ATTACKS.names())
def test_predicted_label_attacks_agree_between_fast_and_generic_paths(name):
    model, (x, y) = _model(2), _batch(200, seed=4)
    cfg = attack_config(name, 0.2, "predicted", steps=3, random_start=False)
    split = Split(x, y)

    def seeded() -> torch.Generator:  # random attacks draw the same noise on both paths
        return torch.Generator().manual_seed(9)

    got = evaluate_split(model, split, ATTACKS.cls(name), cfg, generator=seeded())
    predicted = model(x).argmax(1)
    assert (predicted != y).any()  # an untrained model: the two label choices differ
    # generic call with explicit labels
    x_adv = make_attack(cfg)(model, x, predicted, seeded())
    expected = float((model(x_adv).argmax(1) == y).float().mean())
    assert got["adv_acc"] == pytest.approx(expected, abs=1 / 200)
    true_cfg = attack_config(name, 0.2, "true", steps=3, random_start=False)
    with_true = evaluate_split(model, split, ATTACKS.cls(name), true_cfg, generator=seeded())
    assert with_true["adv_acc"] != got["adv_acc"]


# ---- the single-step attacks without masking: N-FGSM and FGSM with a random start -----------
def _reference_grad(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x_req = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(x_req), y, reduction="sum").backward()
    return x_req.grad


def _lenet(seed: int = 0) -> torch.nn.Module:
    return create_model("lenet5", (1, 28, 28), 10, seed).double().eval()


def test_nfgsm_is_noise_then_one_unprojected_step():
    """De Jorge et al. (2022): x0 = clip(x + U[-k eps, k eps]), x0 + alpha sign(grad at x0),
    clipped to [0, 1] only; written out here with autograd on an autograd-backend model."""
    model = _lenet()
    x, y = _batch(64)
    x = x.double()
    cfg = attack_config("nfgsm", 0.1)  # k = 2, alpha = eps: the paper's defaults
    got = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(3))
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    x0 = (x + 0.2 * (2 * u - 1)).clamp(0, 1)
    expected = (x0 + 0.1 * _reference_grad(model, x0, y).sign()).clamp(0, 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    moved = (got - x).abs()
    # what the definition implies: at most (k + 1) eps from x, at most eps from the noisy point,
    # and no projection, so many pixels end outside the eps-ball, some near 3 eps
    assert moved.max() <= 0.3 + 1e-12 and (got - x0).abs().max() <= 0.1 + 1e-12
    assert (moved > 0.1 + 1e-9).float().mean() > 0.3 and moved.max() > 0.27
    assert got.min() >= 0 and got.max() <= 1


def test_nfgsm_settings_scale_with_eps_and_zero_noise_is_fgsm():
    model, (x, y) = _model(), _batch()
    wide = attack_config("nfgsm", 0.05, nfgsm_noise=4.0, nfgsm_step=2.0)
    moved = (make_attack(wide)(model, x, y, torch.Generator().manual_seed(11)) - x).abs()
    assert 0.25 < moved.max() <= 0.3 + 1e-6  # (4 + 2) * 0.05
    plain = attack_config("nfgsm", 0.3, nfgsm_noise=0.0)
    assert make_attack(plain).reuses_start
    fgsm = ATTACKS.get("fgsm", eps=0.3)(model, x, y)
    assert torch.equal(make_attack(plain)(model, x, y), fgsm)


def test_fgsm_rs_is_wong_et_al():
    """Wong, Rice & Kolter (2020): delta ~ U[-eps, eps] (x + delta clipped to [0, 1]), one step
    of alpha = 1.25 eps, delta projected onto the eps-ball, x + delta clipped to [0, 1]."""
    model = _lenet(1)
    x, y = _batch(64, seed=2)
    x = x.double()
    cfg = attack_config("fgsm-rs", 0.1)
    got = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(4))
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(4), dtype=x.dtype)
    x0 = (x + 0.1 * (2 * u - 1)).clamp(0, 1)
    delta = (x0 - x + 0.125 * _reference_grad(model, x0, y).sign()).clamp(-0.1, 0.1)
    expected = (x + delta).clamp(0, 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    moved = (got - x).abs()
    assert moved.max() <= 0.1 + 1e-12 and got.min() >= 0 and got.max() <= 1  # the eps-ball
    on_edge = (moved - 0.1).abs() < 1e-9
    assert on_edge.float().mean() > 0.3  # a step of 1.25 eps from inside lands on the edge often


@pytest.mark.parametrize("name", ["nfgsm", "fgsm-rs"])
def test_single_step_attacks_are_seeded(name):
    model, (x, y) = _model(), _batch()
    cfg = attack_config(name, 0.1)
    a, b, c = (
        make_attack(cfg)(model, x, y, torch.Generator().manual_seed(seed)) for seed in (5, 5, 6)
    )
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("name", ["nfgsm", "fgsm-rs"])
def test_single_step_attacks_match_between_the_fast_path_and_autograd(name):
    """The MLP's hand-written backend and autograd draw the same noise (flat and image-shaped
    inputs, same element order) and take the same step: equal in float64."""
    (model, _), (x, y) = pruned_model(1, dtype=torch.float64), batch(64, 1, torch.float64)
    cfg = attack_config(name, 0.1)
    fast = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(7))
    slow = make_attack(cfg)(as_reference(model), x, y, torch.Generator().manual_seed(7))
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["nfgsm", "fgsm-rs"])
@pytest.mark.parametrize("labels", ["true", "predicted"])
def test_single_step_training_matches_between_the_fast_path_and_autograd(name, labels):
    """Five adversarial training steps of the MLP's FastStepper and of AutogradStepper on the
    same network, noise and batches stay together to 1e-10 in float64 (as tests/test_fast_path.py
    checks for FGSM and PGD)."""
    config = small_config(adv_train=True, attack=name, eps=0.1, attack_labels=labels)
    attack = ATTACKS.cls(name)
    fast_model, masks = pruned_model(2, dtype=torch.float64)
    slow_model = as_reference(fast_model)
    fast = make_stepper(fast_model, masks, make_optimizer(fast_model, config), config, attack)
    slow = make_stepper(slow_model, masks, make_optimizer(slow_model, config), config, attack)
    assert isinstance(fast, FastStepper) and isinstance(slow, AutogradStepper)
    g_fast, g_slow = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for step in range(5):
        x, y = batch(60, 10 + step, torch.float64)
        fast.step(x, y, g_fast)
        slow.step(x, y, g_slow)
    for key, weight in prunable(fast_model).items():
        torch.testing.assert_close(weight, prunable(slow_model)[key], rtol=0, atol=1e-10)
        assert (weight[masks[key] == 0] == 0).all()
    assert torch.equal(g_fast.get_state(), g_slow.get_state())  # the same noise was drawn


@pytest.mark.parametrize("name", ["nfgsm", "fgsm-rs"])
def test_stacked_tickets_draw_their_own_noise(name):
    """The batched stepper (training/multi_step.py) attacks T tickets at once with one generator
    each: ticket t gets what it would alone."""
    nets = [backend_of(_model(seed).double()) for seed in (0, 1)]
    stacked = MLP([torch.stack(ws) for ws in zip(*[n.weights for n in nets], strict=True)])
    x = torch.stack([_batch(16, seed)[0].double().flatten(1) for seed in (0, 1)])
    y = torch.stack([_batch(16, seed)[1] for seed in (0, 1)])
    attack = make_attack(attack_config(name, 0.1))
    together = attack.on_backend(stacked, x, y, [torch.Generator().manual_seed(s) for s in (4, 5)])
    for t, net in enumerate(nets):
        alone = attack.on_backend(net, x[t], y[t], torch.Generator().manual_seed(4 + t))
        torch.testing.assert_close(together[t], alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "flags, needle",
    [
        ({"nfgsm_noise": -1}, "nfgsm_noise must be >= 0"),
        ({"nfgsm_step": 0}, "nfgsm_step must be positive"),
        ({"fgsm_rs_step": -0.5}, "fgsm_rs_step must be positive"),
        ({"fgsm_rs_step": "inf"}, "fgsm_rs_step"),
    ],
)
def test_single_step_settings_are_validated_in_one_line(flags, needle):

    with pytest.raises(UserError) as error:
        from_flat({"attack": "nfgsm", "adv_train": True, **flags})
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_single_step_settings_only_name_the_runs_that_use_them():

    base = from_flat({"attack": "pgd", "adv_train": True})
    # another attack's setting is ignored: same run, same directory as before these fields
    assert from_flat({"attack": "pgd", "adv_train": True, "nfgsm_noise": 3}).name() == base.name()
    default = from_flat({"attack": "nfgsm", "adv_train": True})
    assert from_flat({"attack": "n-fgsm", "adv_train": True}).name() == default.name()
    assert default.name().startswith("fashion_mnist-dense-300-100-nfgsm-adv-")
    for field, value in (("nfgsm_noise", 1.0), ("nfgsm_step", 1.25)):
        assert from_flat({"attack": "nfgsm", "adv_train": True, field: value}).name() != (
            default.name()
        )
    rs = from_flat({"attack": "fgsm-rs", "adv_train": True})
    assert from_flat({"attack": "fgsm-rs", "adv_train": True, "nfgsm_step": 3}).name() == rs.name()
    assert from_flat({"attack": "fgsm-rs", "fgsm_rs_step": 1.0, "adv_train": True}) != rs


def test_the_cli_rejects_a_bad_single_step_setting_in_one_line(tmp_path, capsys):

    argv = ["run", "--attack", "nfgsm", "--adv-train", "--nfgsm-step", "0"]
    assert main([*argv, "--output", str(tmp_path), "--quiet"]) == 2
    one_line_error(capsys, "nfgsm_step must be positive")


@pytest.mark.parametrize("model", ["dense-300-100", "lenet5"])
@pytest.mark.parametrize("name", ["nfgsm", "fgsm-rs"])
def test_short_single_step_adversarial_training_runs(tmp_path, fashion, model, name):
    """A tiny run through `run_experiment`: the MLP on its fast path, LeNet-5 through autograd."""
    splits = Splits(
        train=fashion.train,
        valid=Split(fashion.valid.x[:200], fashion.valid.y[:200]),
        test=Split(fashion.test.x[:200], fashion.test.y[:200]),
        num_classes=fashion.num_classes,
    )
    config = small_config(
        model=model, attack=name, adv_train=True, eps=0.1, train_iters=6, eval_every=3,
        prune_iters=1, batch_size=20,
    )  # fmt: skip
    exp, ran = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=splits)
    assert ran == [0]
    for _, level in exp.trial(0).levels():
        rows = read_metrics(level.metrics)
        assert {r["iteration"] for r in rows} == {0, 3, 6}
        assert all(0 <= r["adv_acc"] <= r["acc"] + 0.2 for r in rows)
        init, final = load_tensors(level.init), load_tensors(level.final)
        assert any(not torch.equal(init[k], final[k]) for k in final)  # it trained


# ---- one attack type: training and evaluation get the same perturbation --------------------
@pytest.mark.parametrize("name", ATTACKS.names())
@pytest.mark.parametrize("arch", ["dense-300-100", "lenet5"])
@pytest.mark.parametrize("labels", ["true", "predicted"])
def test_training_and_evaluation_get_the_same_perturbation(name, arch, labels):
    """The objective's attack step (what every stepper and evaluate_split take, on the backend's
    prepared inputs, reusing the natural forward) and the attack called on the model (what
    `evaluate` runs) give identical points for the same generator, clamped to [0, 1]."""
    from robust_tickets.objectives.weighted import Mixed

    model = create_model(arch, (1, 28, 28), 10, 3)
    x, y = _batch(24, seed=5)
    attack = make_attack(attack_config(name, 0.1, labels, step_size=0.03, steps=3))
    objective = Mixed(attack=attack)
    backend = backend_of(model)
    model.eval()
    inputs = backend.prepare(x)
    natural = backend.forward(inputs)
    training = objective.attack_inputs(
        backend, inputs, y, natural.logits, torch.Generator().manual_seed(8), natural
    )
    with torch.no_grad():
        chosen = attack.labels(y, model(x))
    evaluation = attack(model, x, chosen, torch.Generator().manual_seed(8))
    assert torch.equal(training.view(x.shape), evaluation)
    assert training.min() >= 0 and training.max() <= 1
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_training_attack_owns_its_settings_and_declares_its_cost(name):
    cls = ATTACKS.cls(name)
    attack = make_attack(attack_config(name, 0.1, steps=7))
    assert type(attack) is cls and cls.name == name
    # an attack that owns `steps` takes that many gradients; any other ignores it, takes one
    owns_steps = "steps" in cls.Params.flat_names.values()
    assert attack.passes == (7 if owns_steps else 1)
    assert owns_steps or attack.params == cls.Params()
    # built from a run's config, it is the spec's attack with the run's eps and labels
    config = AttackConfig(Spec(name, cls.Params()), eps=0.2, attack_labels="true")
    built = make_attack(config)
    assert (built.eps, built.attack_labels, built.spec) == (0.2, "true", config.attack)
    other = "fgsm" if name != "fgsm" else "pgd"
    with pytest.raises(ValueError, match="chooses attack"):
        ATTACKS.cls(other).from_config(config)
