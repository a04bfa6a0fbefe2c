"""Training steps and evaluation."""

from robust_tickets.training import fast_step as _fast_step  # noqa: F401  (the MLP's stepper)
from robust_tickets.training.evaluate import evaluate_split
from robust_tickets.training.step import (
    AutogradStepper,
    make_optimizer,
    make_stepper,
    train_step,
)

__all__ = ["AutogradStepper", "evaluate_split", "make_optimizer", "make_stepper", "train_step"]
