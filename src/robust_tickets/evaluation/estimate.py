"""How long an evaluation will take, said before it starts, and the weights of its progress bar.

Cost is counted in model passes per test example: a gradient pass (forward + backward with
respect to the input, what every white-box attack step costs) and a forward pass (what each of
Square's queries costs). Attacks that stop early have a range: pgd-restarts runs its later
restarts only on the examples the first one left, AutoAttack's later attacks only on what the
earlier ones left, APGD-T/FAB-T go on to the next target class only while an example resists,
Square queries only examples not yet fooled. So each attack has a `low` (everything falls at
once, as on a network that is not robust at that eps) and a `high` (every example resists to
the end). Seconds = passes x the time of one pass, measured on the experiment's own network
(untrained: the same cost) right before the estimate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.attacks import make_attack
from robust_tickets.evaluation.attacks import AttackContext, EvalPreset, Suite


@dataclass(frozen=True)
class Passes:
    """Gradient and forward passes per example, when attacks succeed at once (`low`) and when
    every example resists to the end (`high`)."""

    grad_low: float
    grad_high: float
    fwd_low: float = 0.0
    fwd_high: float = 0.0

    def __add__(self, other: Passes) -> Passes:
        return Passes(
            self.grad_low + other.grad_low,
            self.grad_high + other.grad_high,
            self.fwd_low + other.fwd_low,
            self.fwd_high + other.fwd_high,
        )


NONE = Passes(0, 0, 1, 1)  # eps 0: one forward pass (the clean prediction)


def attack_passes(preset: EvalPreset, eps: float, ctx: AttackContext) -> Passes:
    """Passes per example of evaluation attack `preset` at `eps` (counted from its params)."""
    if eps == 0:
        return NONE
    if isinstance(preset, Suite):  # the first part on all, the rest on what it left
        first, *rest = (_passes(part, ctx) for part in preset.parts())
        high = sum(rest, first)
        return Passes(first.grad_low, high.grad_high, 0, high.fwd_high)
    return _passes(preset, ctx) + Passes(0, 0, 2, 2)  # clean and attacked predictions


def _passes(preset: EvalPreset, ctx: AttackContext) -> Passes:
    """The attack's own passes per example (without the clean and attacked predictions)."""
    p, others = preset.params, max(1, ctx.num_classes - 1)
    match preset.name:
        case "fgsm" | "ta-fgsm":
            return Passes(1, 1)
        case "pgd" | "ta-pgd":  # training's settings
            steps = max(1, ctx.trained("pgd").steps)
            return Passes(steps, steps)
        case "paper":  # the training attack
            steps = max(1, make_attack(ctx.train_attack).passes)
            return Passes(steps, steps)
        case "pgd-restarts" | "transfer":  # transfer's on the dense network
            return Passes(p.steps, p.steps * p.restarts)
        case "apgd-ce" | "apgd-dlr":
            return Passes(p.steps, p.steps)
        case "apgd-t":
            return Passes(p.steps, p.steps * others)
        case "fab-t":  # two logits' gradients
            return Passes(2 * p.steps, 2 * p.steps * others)
        case "square":
            # Square stops querying an example once fooled, but its stragglers keep the loop
            # going: fooling every example of a non-robust MLP took ~1/100 of the budget
            # (measured)
            return Passes(0, 0, max(1, p.queries / 100), p.queries)
    return Passes(1, 1)


@dataclass(frozen=True)
class PassTimes:
    """Seconds of one gradient pass and of one forward pass, per example."""

    grad: float
    forward: float

    def seconds(self, passes: Passes, n: int) -> tuple[float, float]:
        low = n * (passes.grad_low * self.grad + passes.fwd_low * self.forward)
        high = n * (passes.grad_high * self.grad + passes.fwd_high * self.forward)
        return low, high


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seconds: float = 0.3) -> PassTimes:
    """Time one attack step (gradient with respect to the input, sign step, clamp: what PGD
    and APGD do per step) and one forward pass of `model` on the batch (x, y), per example.

    Each is repeated for about `seconds` and averaged, not the fastest taken: on a shared
    machine the attacks will run at today's speed, not at the best moment's."""
    was_training = model.training
    model.eval()
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)  # GPU calls are async
    try:
        step = _per_call(lambda: (_attack_step(model, x, y), sync()), seconds)
        with torch.no_grad():
            forward = _per_call(lambda: (model(x), sync()), seconds / 3)
    finally:
        model.train(was_training)
    n = max(1, len(y))
    return PassTimes(grad=step / n, forward=forward / n)


def _attack_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    leaf = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(leaf), y), leaf)
    return (x + 0.01 * grad.sign()).clamp_(0, 1)


def _per_call(call, seconds: float, most: int = 50) -> float:
    call()  # warm-up: first calls allocate
    done, started = 0, time.perf_counter()
    while done < most:
        call()
        done += 1
        if time.perf_counter() - started >= seconds:
            break
    return (time.perf_counter() - started) / done


def span(seconds: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The sum of (low, high) ranges."""
    found = list(seconds)
    return sum(low for low, _ in found), sum(high for _, high in found)


def duration(seconds: float) -> str:
    """A rough duration for people: 1 s, 40 s, 3 min, 1.2 h."""
    if seconds < 1.5:
        return "1 s"
    if seconds < 90:
        return f"{_round(seconds)} s"
    if seconds < 90 * 60:
        return f"{_round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _round(value: float) -> int:
    """Two significant digits at most: an estimate is not more precise than that."""
    if value < 10:
        return max(1, round(value))
    digits = 10 ** (int(math.log10(value)) - 1)
    return int(round(value / digits) * digits)


def weight(passes: Passes, times: PassTimes) -> float:
    """A task's share of the progress bar per example: the geometric mean of its low and high
    costs (neither bound is right for an attack that stops early on some examples only)."""
    low = passes.grad_low * times.grad + passes.fwd_low * times.forward
    high = passes.grad_high * times.grad + passes.fwd_high * times.forward
    return math.sqrt(max(low, 1e-12) * max(high, 1e-12))
