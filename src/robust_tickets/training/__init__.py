"""Training steps and evaluation."""

from robust_tickets.training.evaluate import evaluate_split
from robust_tickets.training.step import make_optimizer, train_step, training_loss

__all__ = ["evaluate_split", "make_optimizer", "train_step", "training_loss"]
