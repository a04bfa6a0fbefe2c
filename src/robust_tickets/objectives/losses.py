"""The training cross-entropy, in the two forms the `loss_form` setting names.

- ``logits``: the exact label-smoothed cross-entropy of the logits (`F.cross_entropy`).
- ``clipped``: what TF 1.13.1's Keras computed for the original code. Its model ends in a
  softmax and `categorical_crossentropy` (tensorflow/python/keras/backend.py of the 1.13.1
  wheel) renormalises those probabilities, clips them to [1e-7, 1 - 1e-7] and takes
  -sum(target * log p). A probability outside the clip range passes no gradient, so an example
  the network gets confidently wrong (p_true < 1e-7) pulls on its true class only through the
  smoothed targets of the unclipped classes.

`logit_grad` is the gradient of either form with respect to the logits, for backends that
write their own backward pass (the MLP's `FastStepper`); tests/test_losses.py checks it against
autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KERAS_EPSILON = 1e-7  # tf.keras.backend.epsilon() in TF 1.13
LOSS_FORMS = ("logits", "clipped")


def smoothed_targets(
    y: torch.Tensor, classes: int, smoothing: float, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One-hot targets of labels `y`, smoothed as Keras and torch both do: the true class gets
    1 - smoothing + smoothing / classes, every other class smoothing / classes."""
    targets = torch.full((len(y), classes), smoothing / classes, dtype=dtype, device=y.device)
    return targets.scatter_(1, y[:, None], 1.0 - smoothing + smoothing / classes)


def cross_entropy(
    logits: torch.Tensor,
    y: torch.Tensor,
    *,
    smoothing: float = 0.0,
    form: str = "logits",
    reduction: str = "mean",
) -> torch.Tensor:
    """Label-smoothed cross-entropy of `logits` [n, classes] against labels `y` [n]."""
    if form == "logits":
        return F.cross_entropy(logits, y, label_smoothing=smoothing, reduction=reduction)
    if form != "clipped":
        raise ValueError(f"unknown loss form {form!r}")
    probs = torch.softmax(logits, 1)
    probs = probs / probs.sum(1, keepdim=True)
    clipped = probs.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    targets = smoothed_targets(y, logits.shape[1], smoothing, logits.dtype)
    per_row = -(targets * clipped.log()).sum(1)
    return per_row.mean() if reduction == "mean" else per_row.sum()


def logit_grad(probs: torch.Tensor, targets: torch.Tensor, form: str) -> torch.Tensor:
    """d(per-row loss)/d(logits) given the softmax `probs` and the (smoothed) `targets`.

    Exact form: probs - targets. Clipped form: with a = 1 where a probability is inside the clip
    range, d/dz_k = probs_k * sum_i(targets_i * a_i) - targets_k * a_k (the renormalisation
    passes no gradient because the probabilities sum to one). Returns a new tensor."""
    if form == "logits":
        return probs - targets
    inside = ((probs >= KERAS_EPSILON) & (probs <= 1.0 - KERAS_EPSILON)).to(probs.dtype)
    live = targets * inside
    return probs * live.sum(1, keepdim=True) - live
