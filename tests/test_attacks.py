import pytest
import torch

from robust_tickets.attacks import ATTACKS
from robust_tickets.config import AttackConfig
from robust_tickets.models import create_model
from robust_tickets.training.evaluate import evaluate_split


def _model(seed=0):
    return create_model("dense-300-100", (1, 28, 28), 10, seed)


def _batch(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name", ATTACKS.names())
@pytest.mark.parametrize("training", [True, False])
def test_attack_contract(name, training):
    model = _model()
    model.train(training)
    x, y = _batch()
    cfg = AttackConfig(eps=0.1, step_size=0.03, steps=5)
    x_adv = ATTACKS.get(name)(model, x, y, cfg, torch.Generator().manual_seed(1))
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6  # inside the eps-ball
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
    got = ATTACKS.get("fgsm")(model, x, y, AttackConfig(eps=0.3))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_pgd_random_start_is_seeded():
    model, (x, y) = _model(), _batch()
    cfg = AttackConfig(eps=0.3, steps=2)
    a = ATTACKS.get("pgd")(model, x, y, cfg, torch.Generator().manual_seed(5))
    b = ATTACKS.get("pgd")(model, x, y, cfg, torch.Generator().manual_seed(5))
    c = ATTACKS.get("pgd")(model, x, y, cfg, torch.Generator().manual_seed(6))
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
    cfg = AttackConfig(eps=0.1)
    fgsm = evaluate_split(model, test, ATTACKS.get("fgsm"), cfg)
    pgd = evaluate_split(model, test, ATTACKS.get("pgd"), cfg, generator=torch.Generator())
    assert fgsm["acc"] > 0.7  # it did learn
    assert pgd["adv_acc"] <= fgsm["adv_acc"]
    assert pgd["adv_acc"] < fgsm["acc"]


@pytest.mark.parametrize("name", ATTACKS.names())
def test_predicted_label_attacks_agree_between_fast_and_generic_paths(name):
    from robust_tickets.data import Split

    model, (x, y) = _model(2), _batch(200, seed=4)
    cfg = AttackConfig(eps=0.2, steps=3, random_start=False, attack_labels="predicted")
    split = Split(x, y)
    got = evaluate_split(model, split, ATTACKS.get(name), cfg)
    predicted = model(x).argmax(1)
    assert (predicted != y).any()  # an untrained model: the two label choices differ
    x_adv = ATTACKS.get(name)(model, x, predicted, cfg)  # generic call with explicit labels
    expected = float((model(x_adv).argmax(1) == y).float().mean())
    assert got["adv_acc"] == pytest.approx(expected, abs=1 / 200)
    true_cfg = AttackConfig(eps=0.2, steps=3, random_start=False, attack_labels="true")
    assert evaluate_split(model, split, ATTACKS.get(name), true_cfg)["adv_acc"] != got["adv_acc"]
