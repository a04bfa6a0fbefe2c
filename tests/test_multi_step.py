"""Several tickets trained as one batched model (training/multi_step.py) against each alone."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import small_config
from tests.test_fast_path import batch, pruned_model

from robust_tickets.attacks import ATTACKS
from robust_tickets.attacks.pgd import PGD
from robust_tickets.models.backend import backend_of
from robust_tickets.models.dense import DenseNet
from robust_tickets.models.fast_mlp import MLP
from robust_tickets.models.ticket import full_masks, prunable
from robust_tickets.training.fast_step import FastStepper
from robust_tickets.training.multi_step import MultiStepper
from robust_tickets.training.step import make_optimizer

TICKETS = 3


# float64 throughout: in float32, rounding differences between the batched and the single
# kernels flip the sign of a near-zero gradient now and then (FGSM/PGD steps are signs, Adam's
# first steps nearly so) and the trajectories part by ~lr on some CPUs (seen on AVX-512); in
# float64 they agree to ~1e-13, so the comparison can be tight.
DTYPE = torch.float64


def tickets(dense_first_layer: bool = False):
    """(models, masks) of TICKETS pruned MLPs."""
    pairs = [pruned_model(seed=10 + t, keep=0.5 + 0.1 * t, dtype=DTYPE) for t in range(TICKETS)]
    if dense_first_layer:  # no ticket prunes layer 0: the batched step skips that mask
        for _, masks in pairs:
            masks["layers.0.weight"].fill_(1.0)
    return [m for m, _ in pairs], [masks for _, masks in pairs]


def batches(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [batch(60, 100 * t + step, DTYPE) for t in range(TICKETS)]
    return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])


def generators() -> list[torch.Generator]:
    return [torch.Generator().manual_seed(7 + t) for t in range(TICKETS)]


def assert_same_tickets(batched_models, alone_models, batched_opts, alone_opts, masks):
    pairs = zip(batched_models, alone_models, batched_opts, alone_opts, masks, strict=True)
    for mb, ma, ob, oa, mask in pairs:
        for name, wb in prunable(mb).items():
            torch.testing.assert_close(wb, prunable(ma)[name], rtol=0, atol=1e-10)
            assert (wb[mask[name] == 0] == 0).all()
        assert torch.equal(torch.stack(ob.steps), torch.stack(oa.steps))
        for mine, theirs in zip(ob.exp_avgs, oa.exp_avgs, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "overrides",
    [
        {"adv_train": True, "attack": "pgd", "steps": 3, "random_start": True},
        {"adv_train": True, "attack": "pgd", "steps": 3, "random_start": False},
        {"adv_train": True, "attack": "fgsm", "attack_labels": "true"},
        {"adv_train": False, "l1_reg": 1e-4},
        # the original code's numerics: Keras's clipped loss and Adam, as FastStepper has them
        {"adv_train": True, "attack": "pgd", "steps": 2, "loss_form": "clipped", "adam": "keras"},
        {"adv_train": False, "loss_form": "clipped", "adam": "keras"},
    ],
)
@pytest.mark.parametrize("dense_first_layer", [False, True])
def test_batched_tickets_follow_the_trajectory_each_has_alone(overrides, dense_first_layer):
    config = small_config(**overrides)
    attack = ATTACKS.cls(config.attack.attack)
    (batched, masks), (alone, _) = tickets(dense_first_layer), tickets(dense_first_layer)
    batched_opts = [make_optimizer(m, config) for m in batched]
    alone_opts = [make_optimizer(m, config) for m in alone]
    if config.train.loss_form == "clipped":  # sharp logits, so that some are clipped
        with torch.no_grad():
            for model in (*batched, *alone):
                for weight in prunable(model).values():
                    weight.mul_(4.0)
    multi = MultiStepper(batched, masks, batched_opts, config, attack)
    assert (multi.masks[0] is None) == dense_first_layer
    assert multi.optimizer.keras == (config.train.adam == "keras")
    steppers = [
        FastStepper(m, k, o, config, attack)
        for m, k, o in zip(alone, masks, alone_opts, strict=True)
    ]
    g_multi, g_alone = generators(), generators()
    for step in range(4):
        x, y = batches(step)
        multi.step(x, y, g_multi)
        for t, stepper in enumerate(steppers):
            stepper.step(x[t], y[t], g_alone[t])
    multi.write_back(batched, batched_opts)
    assert_same_tickets(batched, alone, batched_opts, alone_opts, masks)
    for model in batched:  # the tickets did train (and differently from each other)
        assert (prunable(model)["layers.0.weight"] != 0).float().mean() > 0.3
    assert not torch.equal(batched[0].layers[1].weight, batched[1].layers[1].weight)


def test_batched_tickets_resume_from_their_own_adam_state():
    config = small_config(adv_train=True, attack="pgd", steps=2)
    attack = ATTACKS.cls("pgd")
    (batched, masks), (alone, _) = tickets(), tickets()
    batched_opts = [make_optimizer(m, config) for m in batched]
    alone_opts = [make_optimizer(m, config) for m in alone]
    steppers = [
        FastStepper(m, k, o, config, attack)
        for m, k, o in zip(alone, masks, alone_opts, strict=True)
    ]
    g_multi, g_alone = generators(), generators()
    first = [
        FastStepper(m, k, o, config, attack)
        for m, k, o in zip(batched, masks, batched_opts, strict=True)
    ]
    for step in range(4):
        x, y = batches(step)
        for t, stepper in enumerate(steppers):
            stepper.step(x[t], y[t], g_alone[t])
        if step < 2:  # two steps alone, then the same tickets go on batched
            for t, stepper in enumerate(first):
                stepper.step(x[t], y[t], g_multi[t])
            continue
        if step == 2:
            multi = MultiStepper(batched, masks, batched_opts, config, attack)
        multi.step(x, y, g_multi)
    multi.write_back(batched, batched_opts)
    assert_same_tickets(batched, alone, batched_opts, alone_opts, masks)
    assert float(batched_opts[0].steps[0]) == 4


def test_stacked_pgd_draws_each_tickets_noise_from_its_own_generator():
    pgd = PGD(PGD.Params(step_size=0.05, steps=3, random_start=True), eps=0.3)
    models, _ = tickets()
    nets = [backend_of(m) for m in models]
    stacked = MLP([torch.stack(ws) for ws in zip(*[n.weights for n in nets], strict=True)])
    x, y = batches(0)
    flat = x.flatten(2)
    together = pgd.on_backend(stacked, flat, y, generators())
    for t, (net, g) in enumerate(zip(nets, generators(), strict=True)):
        alone = pgd.on_backend(net, flat[t], y[t], g)
        # same noise and steps; a product rounded differently may flip a near-zero gradient's sign
        assert (together[t] - alone).abs().max() <= 2 * pgd.params.step_size + 1e-6
        assert (together[t] != alone).float().mean() < 1e-3


def test_batched_stepper_refuses_what_it_cannot_batch():
    config = small_config(adv_train=True, attack="pgd", steps=2)
    attack = ATTACKS.cls("pgd")
    models, masks = tickets()
    opts = [make_optimizer(m, config) for m in models]
    with pytest.raises(ValueError, match="one optimizer and one mask set per model"):
        MultiStepper(models, masks, opts[:2], config, attack)
    other = DenseNet([784, 100, 10])
    with pytest.raises(ValueError, match="one architecture"):
        MultiStepper(
            [*models[:2], other],
            [*masks[:2], full_masks(other)],
            [*opts[:2], make_optimizer(other, config)],
            config,
            attack,
        )
    FastStepper(models[0], masks[0], opts[0], config, attack).step(*batch(60), torch.Generator())
    with pytest.raises(ValueError, match="same step"):
        MultiStepper(models, masks, opts, config, attack)
    fresh, fresh_masks = tickets()
    fresh_opts = [make_optimizer(m, config) for m in fresh]
    multi = MultiStepper(fresh, fresh_masks, fresh_opts, config, attack)
    x, y = batches(0)
    with pytest.raises(ValueError, match="holds 3 tickets"):
        multi.step(x[:2], y[:2], generators()[:2])
