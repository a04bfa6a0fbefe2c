"""The MLP's backend (models/fast_mlp.py) and stepper (training/fast_step.py) against autograd.

`Reference` is a `DenseNet` subclass: only the exact `DenseNet` class provides the hand-written
backend, so a subclass with the same weights runs every attack, evaluation and training step
through `AutogradBackend` / `AutogradStepper`, the code path of every other model.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import attack_config, small_config

from robust_tickets.attacks import ATTACKS, make_attack
from robust_tickets.data import Split
from robust_tickets.models import create_model
from robust_tickets.models.backend import AutogradBackend, backend_of, ce_grad
from robust_tickets.models.dense import DenseNet
from robust_tickets.models.fast_mlp import MLP
from robust_tickets.models.ticket import prunable
from robust_tickets.optim.adam import Adam
from robust_tickets.training.evaluate import evaluate_split
from robust_tickets.training.fast_step import FastStepper
from robust_tickets.training.step import AutogradStepper, make_optimizer, make_stepper

ATOL = 1e-5


class Reference(DenseNet):
    """Same network, but not the exact class the fast path accepts: autograd all the way."""


def pruned_model(
    seed: int = 0, keep: float = 0.6, dtype: torch.dtype = torch.float32
) -> tuple[DenseNet, dict[str, torch.Tensor]]:
    """A dense-300-100 with a random mask per layer and its pruned weights zeroed."""
    model = create_model("dense-300-100", (1, 28, 28), 10, seed).to(dtype)
    g = torch.Generator().manual_seed(seed + 100)
    masks = {}
    with torch.no_grad():
        for name, weight in prunable(model).items():
            masks[name] = (torch.rand(weight.shape, generator=g) < keep).to(dtype)
            weight.mul_(masks[name])
    return model, masks


def as_reference(model: DenseNet) -> Reference:
    ref = copy.deepcopy(model)
    ref.__class__ = Reference
    return ref


def batch(
    n: int = 60, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g, dtype=dtype)
    return x, torch.randint(0, 10, (n,), generator=g)


def test_only_the_exact_densenet_provides_the_hand_written_backend():
    model, _ = pruned_model()
    assert isinstance(backend_of(model), MLP)
    assert isinstance(backend_of(as_reference(model)), AutogradBackend)
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    assert isinstance(backend_of(plain), AutogradBackend)
    for name in ("lenet5", "conv2"):
        shape = (1, 28, 28) if name == "lenet5" else (3, 32, 32)
        assert isinstance(backend_of(create_model(name, shape, 10, 0)), AutogradBackend)


def test_forward_input_and_weight_gradients_match_autograd():
    (model, _), (x, y) = pruned_model(), batch()
    net = backend_of(model)
    fwd = net.forward(x.flatten(1))
    torch.testing.assert_close(fwd.logits, model(x), rtol=0, atol=ATOL)

    x_req = x.clone().requires_grad_(True)
    F.cross_entropy(model(x_req), y, reduction="sum").backward()
    got = net.input_grad(fwd, ce_grad(fwd.logits, y))
    torch.testing.assert_close(got, x_req.grad.flatten(1), rtol=1e-4, atol=ATOL)

    smoothed = ce_grad(fwd.logits, y, label_smoothing=0.1, scale=1 / len(y))
    logits = fwd.logits.clone().requires_grad_(True)
    F.cross_entropy(logits, y, label_smoothing=0.1).backward()
    torch.testing.assert_close(smoothed, logits.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
@pytest.mark.parametrize("random_start", [True, False])
def test_fast_attacks_match_the_autograd_attacks(name, random_start):
    (model, _), (x, y) = pruned_model(1), batch(64, 1)
    cfg = attack_config(name, 0.3, step_size=0.05, steps=4, random_start=random_start)
    fast = make_attack(cfg)(model, x, y, torch.Generator().manual_seed(7))
    slow = make_attack(cfg)(as_reference(model), x, y, torch.Generator().manual_seed(7))
    assert fast.shape == x.shape
    # signs of gradients that are ~0 may differ by rounding; allow a handful of such pixels
    differ = (fast - slow).abs() > 1e-6
    assert differ.float().mean() < 1e-3
    assert (fast - x).abs().max() <= 0.3 + 1e-6 and fast.min() >= 0 and fast.max() <= 1


@pytest.mark.parametrize(
    "overrides",
    [
        # true labels: the attack's labels cannot flip on float noise between the two paths
        {"adv_train": True, "attack": "fgsm", "attack_labels": "true"},
        {"adv_train": True, "attack": "pgd", "steps": 3, "attack_labels": "true"},
        {"adv_train": True, "attack": "fgsm", "attack_labels": "predicted"},
        {"adv_train": False, "l1_reg": 1e-4},
    ],
)
@pytest.mark.parametrize("dense_first_layer", [False, True])
def test_fast_steps_match_autograd_steps_and_keep_pruned_weights_zero(overrides, dense_first_layer):
    config = small_config(**overrides)
    attack = ATTACKS.cls(config.attack.attack)
    # float64: over several steps, float32 rounding differences between the two paths flip
    # the sign of a near-zero input gradient (FGSM/PGD) or weight gradient (Adam's first steps
    # are sign-like) and the trajectories part by ~lr on some CPUs (seen on AVX-512); in
    # float64 the two paths agree to ~1e-13, so a tight tolerance checks them exactly
    fast_model, masks = pruned_model(2, dtype=torch.float64)
    if dense_first_layer:  # a layer with nothing pruned skips the gradient mask
        masks["layers.0.weight"].fill_(1.0)
    slow_model = as_reference(fast_model)
    fast_opt, slow_opt = make_optimizer(fast_model, config), make_optimizer(slow_model, config)
    stepper = make_stepper(fast_model, masks, fast_opt, config, attack)
    assert isinstance(stepper, FastStepper)
    slow = make_stepper(slow_model, masks, slow_opt, config, attack)
    assert isinstance(slow, AutogradStepper)
    assert (stepper.masks[0] is None) == dense_first_layer
    g_fast, g_slow = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for step in range(5):
        x, y = batch(60, 10 + step, torch.float64)
        if step % 2:  # the caller may gather the batch straight into the stepper's buffer
            stepper.step(stepper.images.copy_(x.flatten(1)).view(x.shape), y, g_fast)
        else:
            stepper.step(x, y, g_fast)
        slow.step(x, y, g_slow)
    for name, fast in prunable(fast_model).items():
        slow_weight = prunable(slow_model)[name]
        torch.testing.assert_close(fast, slow_weight, rtol=0, atol=1e-10)
        assert (fast[masks[name] == 0] == 0).all() and (slow_weight[masks[name] == 0] == 0).all()
        assert (fast[masks[name] == 1] != 0).float().mean() > 0.95  # the rest do train


def test_adam_is_bitwise_torch_fused_adam_and_shares_its_checkpoint_layout():
    model, _ = pruned_model(5)
    twin = copy.deepcopy(model)
    ours = Adam(model.parameters(), lr=1.2e-3)
    theirs = torch.optim.Adam(twin.parameters(), lr=1.2e-3, fused=True)
    assert ours.state_dict()["state"] == theirs.state_dict()["state"] == {}
    g = torch.Generator().manual_seed(0)
    for step in range(6):
        grads = [torch.randn(p.shape, generator=g) for p in model.parameters()]
        for q, grad in zip(twin.parameters(), grads, strict=True):
            q.grad = grad.clone()
        theirs.step()
        if step % 2:  # from .grad, the usual way
            for p, grad in zip(model.parameters(), grads, strict=True):
                p.grad = grad
            ours.step()
        else:
            ours.step(grads)
        if step == 2:  # swap states both ways mid-run: checkpoints are interchangeable
            mine, other = ours.state_dict(), theirs.state_dict()
            ours.load_state_dict(copy.deepcopy(other))
            theirs.load_state_dict(copy.deepcopy(mine))
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)
    mine, other = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert mine.keys() == other.keys()
    for i in mine:
        assert mine[i].keys() == other[i].keys()
        for key in mine[i]:
            assert torch.equal(torch.as_tensor(mine[i][key]), torch.as_tensor(other[i][key]))
    assert float(mine[0]["step"]) == 6


def test_building_an_adam_does_not_import_dynamo():
    import subprocess
    import sys

    code = (
        "import sys, torch; from robust_tickets.training.step import make_optimizer;"
        "from robust_tickets.config import ExperimentConfig;"
        "make_optimizer(torch.nn.Linear(3, 2), ExperimentConfig());"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # ~2 s of start-up saved in every worker process


def test_fused_adam_matches_plain_adam():
    config = small_config()
    model, _ = pruned_model(3)
    twin = copy.deepcopy(model)
    fused, plain = make_optimizer(model, config), torch.optim.Adam(twin.parameters(), lr=1.2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in model.parameters()]
        for p, q, grad in zip(model.parameters(), twin.parameters(), grads, strict=True):
            p.grad, q.grad = grad.clone(), grad.clone()
        fused.step()
        plain.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_fast_evaluation_matches_autograd_evaluation(name):
    model, _ = pruned_model(4)
    x, y = batch(500, 4)
    split = Split(x, y)
    cfg = attack_config(name, 0.1, step_size=0.02, steps=3)
    kwargs = {"label_smoothing": 0.1, "batch_size": 200}
    fast = evaluate_split(
        model, split, ATTACKS.cls(name), cfg, generator=torch.Generator().manual_seed(1), **kwargs
    )
    slow = evaluate_split(
        as_reference(model),
        split,
        ATTACKS.cls(name),
        cfg,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    assert fast == pytest.approx(slow, abs=2e-3)
