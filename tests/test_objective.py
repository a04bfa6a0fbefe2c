"""The training objective (training/objective.py): one loss for every stepper and evaluation."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import small_config

from robust_tickets.attacks import ATTACKS
from robust_tickets.training.losses import LOSS_FORMS, logit_grad, smoothed_targets
from robust_tickets.training.objective import OBJECTIVES, Mixed, Natural, objective_for


def _logits(n=12, seed=0, sharp=1.0):
    g = torch.Generator().manual_seed(seed)
    logits = sharp * torch.randn(n, 10, generator=g, dtype=torch.float64)
    return logits, torch.randint(0, 10, (n,), generator=g)


def _make(name, form="logits", smoothing=0.1):
    attack = ATTACKS.get("fgsm", eps=0.1, labels="predicted")
    return OBJECTIVES.get(name)(attack, smoothing=smoothing, form=form)


@pytest.mark.parametrize("name", OBJECTIVES.names())
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
    with pytest.raises(ValueError, match="needs an attack"):
        Mixed(None)
