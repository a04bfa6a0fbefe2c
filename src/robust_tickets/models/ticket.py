"""What makes any `nn.Module` a ticket: its prunable weights, their masks, its whole state.

A model says which of its parameters may be pruned and which one is the output layer's weight
(`TicketModel.prunable_names` / `output_name`; a plain module gets every ``weight`` of its
`nn.Linear` and `nn.Conv*` layers, in registration order, the last being the output). Masks are
a dict keyed by those parameter names, held *beside* the model, not inside it: the stored
weights are kept masked (pruned entries exactly zero), so a forward pass needs no
``weight * mask`` and any layer type can be pruned. Training keeps them masked by zeroing the
gradients of pruned entries (Adam then never moves them: zero gradient, zero moments) and
re-applying the masks after each step.

A ticket on disk is the model's whole `state_dict` (every parameter and buffer: biases, batch-norm
statistics) plus its masks, so whatever is saved rebuilds exactly the network that was trained.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

LayerKind = Literal["conv", "fc", "output"]
LAYER_KINDS: tuple[LayerKind, ...] = ("conv", "fc", "output")
_PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class TicketModel(nn.Module):
    """Base class of registered models: override the two methods to change what is prunable."""

    def prunable_names(self) -> list[str]:
        return default_prunable_names(self)

    def output_name(self) -> str:
        return self.prunable_names()[-1]


def default_prunable_names(model: nn.Module) -> list[str]:
    return [
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, _PRUNABLE_TYPES)
    ]


def prunable_names(model: nn.Module) -> list[str]:
    """The names of the parameters pruning may remove weights from, in forward order."""
    if isinstance(model, TicketModel):
        return model.prunable_names()
    return default_prunable_names(model)


def output_name(model: nn.Module) -> str:
    if isinstance(model, TicketModel):
        return model.output_name()
    return prunable_names(model)[-1]


def prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every prunable parameter by name (the keys of every mask dict)."""
    params = dict(model.named_parameters())
    return {name: params[name] for name in prunable_names(model)}


def layer_kinds(model: nn.Module) -> dict[str, LayerKind]:
    """Each prunable parameter's kind: `output` (the output layer), `conv` or `fc`, which
    decides its pruning rate."""
    out = output_name(model)
    return {
        name: "output" if name == out else ("conv" if p.dim() > 2 else "fc")
        for name, p in prunable(model).items()
    }


def full_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """All-ones masks (the dense network)."""
    return {n: torch.ones_like(p, dtype=torch.float32).detach() for n, p in prunable(model).items()}


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's whole state (every parameter and buffer)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _mismatch(own: dict[str, torch.Tensor], values: dict[str, torch.Tensor]) -> str | None:
    missing = sorted(set(own) - set(values))
    unknown = sorted(set(values) - set(own))
    if missing or unknown:
        return f"missing {missing[:3]}, unexpected {unknown[:3]}"
    for name, tensor in own.items():
        # copy_ would broadcast a [1] tensor over a whole weight without a word
        found, wanted = list(values[name].shape), list(tensor.shape)
        if found != wanted:
            return f"{name} has shape {found}, the model's is {wanted}"
    return None


def state_mismatch(model: nn.Module, values: dict[str, torch.Tensor]) -> str | None:
    """Why a saved whole state cannot be this model's (names or shapes), or None if it fits."""
    return _mismatch(model.state_dict(), values)


def masks_mismatch(model: nn.Module, masks: dict[str, torch.Tensor]) -> str | None:
    """Why saved masks cannot be this model's (one per prunable weight, same shape), or None."""
    return _mismatch({name: p.detach() for name, p in prunable(model).items()}, masks)


@torch.no_grad()
def load_state(model: nn.Module, values: dict[str, torch.Tensor]) -> None:
    """Load a whole state saved by `state`. Files written before tickets held the whole state
    carry the prunable weights alone, which is the whole state of the bias-free MLPs that were
    the only models then; a state missing anything else, or of another shape, is an error."""
    problem = state_mismatch(model, values)
    if problem is not None:
        raise ValueError(f"saved state does not fit the model: {problem}")
    for name, tensor in model.state_dict().items():
        tensor.copy_(values[name])


@torch.no_grad()
def apply_masks_(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the stored value of every pruned weight."""
    problem = masks_mismatch(model, masks)
    if problem is not None:  # mul_ would broadcast a mask of the wrong shape
        raise ValueError(f"masks do not fit the model: {problem}")
    for name, param in prunable(model).items():
        mask = masks[name]
        if not bool(mask.all()):
            param.mul_(mask.to(param.device))


@torch.no_grad()
def mask_grads_(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the gradients of pruned weights, so an optimizer never moves them."""
    for name, param in prunable(model).items():
        mask = masks[name]
        if param.grad is not None and not bool(mask.all()):
            param.grad.mul_(mask)


def remaining_percent(masks: dict[str, torch.Tensor]) -> float:
    total = sum(m.numel() for m in masks.values())
    return 100.0 * sum(float(m.sum()) for m in masks.values()) / total
