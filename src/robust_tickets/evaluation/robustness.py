"""Per-example robustness: which test examples an attack fails to flip, and the worst case.

An example counts as robust under an attack only if the model classifies both the clean input
and the attacked one correctly (the clean input is itself inside the eps-ball). Whatever an
attack returns is first projected onto the eps-ball and [0, 1], so no attack can claim a
success outside the threat model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from robust_tickets.attacks.base import project
from robust_tickets.evaluation.attacks import AttackFn

__all__ = ["predicts", "project", "robust_examples", "worst_case"]


@torch.no_grad()
def predicts(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1) == y


def robust_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    attack: AttackFn,
    seed_of_batch: Callable[[int], int],
    *,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
    on_batch: Callable[[int], None] | None = None,
    clean_required: bool = True,
) -> torch.Tensor:
    """Bool tensor [N] (on the CPU): example i is classified correctly clean and attacked.

    `seed_of_batch(start)` seeds the batch starting at example `start`, so results do not depend
    on which batches ran before (and attacks sharing a seed share their random start).
    """
    was_training = model.training
    model.eval()
    out = torch.zeros(len(y), dtype=torch.bool)
    try:
        for start in range(0, len(y), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            ok = predicts(model, xb, yb)
            if eps > 0:
                x_adv = project(attack(xb, yb, seed_of_batch(start)), xb, eps)
                attacked = predicts(model, x_adv, yb)
                ok = ok & attacked if clean_required else attacked
            out[start : start + len(yb)] = ok.cpu()
            if on_batch is not None:
                on_batch(len(yb))
    finally:
        model.train(was_training)
    return out


def worst_case(results: Iterable[torch.Tensor]) -> torch.Tensor:
    """Per-example worst case over attacks: robust only if robust under every one."""
    found = list(results)
    if not found:
        raise ValueError("worst case over no attacks")
    return torch.stack(found).all(0)
