"""The model registry: a name -> how to build the network and how to initialise it.

A model may have settings of its own (a WideResNet's depth and width): its `ModelSpec.params` is
a frozen dataclass whose defaults are the paper's, and a model name may carry non-default values,
each after a ``+``: ``wrn+depth=16+width=4``. The canonical spelling keeps only the values that
differ from the defaults, in the dataclass's field order, so ``wrn`` and ``wrn+width=10`` are one
model (one run directory) and a name without settings means what it always did. ``+`` because
the name is part of the run's directory name (no ``:``, which Windows refuses and which
``module:function`` model paths will use), needs no shell quoting and no quoting inside a YAML
flow list (no ``,``). A later per-component ``{name, params}`` config can map one-to-one onto
this spelling (`split_model_name` / `model_name`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from robust_tickets.errors import UserError
from robust_tickets.models import user
from robust_tickets.models.ticket import layer_kinds
from robust_tickets.registry import Registry


def _any_shape(shape: tuple[int, ...]) -> str | None:
    return None


@dataclass(frozen=True)
class ModelSpec:
    # (input shape C,H,W; classes) -> model, or (input shape; classes; params) -> model when the
    # spec has `params`
    build: Callable[..., nn.Module]
    init: Callable[[nn.Module, torch.Generator], None]  # in-place init from a seeded generator
    # None if the model takes images of this (C, H, W) shape, else why not
    fits: Callable[[tuple[int, ...]], str | None] = _any_shape
    # the model's own settings: a frozen dataclass, every field with a default (None: none)
    params: type | None = None
    # a user's own network: its kinds are not known before it is built, so every rate is kept
    assumed_kinds: tuple[str, ...] | None = None

    def layer_kinds(self, input_shape: tuple[int, ...], num_classes: int = 10) -> tuple[str, ...]:
        """The kinds of prunable layer (`conv`, `fc`, `output`) the model has on images of
        `input_shape`, sorted: derived as the ticket derives them (`ticket.layer_kinds`), from a
        build on the meta device (no memory, no initialisation) with the default settings,
        never declared beside the model. A user's network is not built to learn them: it
        assumes every kind (`assumed_kinds`), so every rate stays in its run's identity."""
        if self.assumed_kinds is not None:
            return self.assumed_kinds
        with torch.device("meta"):
            if self.params is None:
                model = self.build(input_shape, num_classes)
            else:
                model = self.build(input_shape, num_classes, self.params())
        return tuple(sorted(set(layer_kinds(model).values())))


def split_model_name(text: str) -> tuple[str, dict[str, str]]:
    """``"wrn+depth=16+width=4"`` -> ``("wrn", {"depth": "16", "width": "4"})``."""
    base, *items = text.split("+")
    values: dict[str, str] = {}
    for item in items:
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise UserError(
                f"model {text!r}: each setting is +key=value after the name, e.g. wrn+width=4"
            )
        if key in values:
            raise UserError(f"model {text!r} sets {key} twice")
        values[key] = value
    return base.strip(), values


def _convert(model: str, key: str, default: Any, value: str) -> Any:
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
        return type(default)(value)
    except ValueError:
        kind = type(default).__name__
        raise UserError(f"model {model}: {key}={value!r} is not a {kind}") from None


def make_params(model: str, cls: type | None, values: dict[str, str]) -> Any:
    """The params dataclass of `model` with `values` (strings) over its defaults."""
    if cls is None:
        if values:
            raise UserError(f"model {model} has no settings: drop the +key=value parts")
        return None
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        known = ", ".join(defaults)
        raise UserError(f"model {model} has no setting {unknown[0]!r}: it has {known}")
    typed = {k: _convert(model, k, defaults[k], v) for k, v in values.items()}
    try:
        return cls(**typed)
    except ValueError as exc:  # a Params dataclass checks its own values
        raise UserError(f"model {model}: {exc}") from None


def model_name(base: str, params: Any) -> str:
    """The canonical spelling: `base`, then only the non-default settings."""
    if params is None:
        return base
    changed = [
        f"{f.name}={_format(getattr(params, f.name))}"
        for f in dataclasses.fields(params)
        if getattr(params, f.name) != f.default
    ]
    return "+".join([base, *changed])


def _format(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class ModelRegistry(Registry[ModelSpec]):
    """A `Registry` whose names may carry the model's settings (``wrn+width=4``), or name the
    user's own function (``nets.py:build``, `models.user`)."""

    def canonical(self, name: str) -> str:
        if user.is_user_model(name):
            return user.canonical(name)
        base, values = split_model_name(name)
        base = super().canonical(base)
        if not values:
            return base
        return model_name(base, make_params(base, super().get(base).params, values))

    def get(self, name: str) -> ModelSpec:
        if user.is_user_model(name):
            return ModelSpec(
                build=functools.partial(user.build, name),
                init=functools.partial(user.init, name),
                assumed_kinds=("conv", "fc", "output"),
            )
        return super().get(split_model_name(name)[0])

    def params(self, name: str) -> Any:
        """The settings `name` asks for (the spec's params dataclass), or None if it has none."""
        if user.is_user_model(name):
            return None
        base, values = split_model_name(name)
        base = super().canonical(base)
        return make_params(base, super().get(base).params, values)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and user.is_user_model(name):
            return True
        return isinstance(name, str) and super().__contains__(split_model_name(name)[0])


MODELS = ModelRegistry("model")

# Layers whose state a fresh initialisation must reset whatever a model's `init` does: batch
# norm's affine parameters and running statistics (and its step count) start as PyTorch builds
# them, so a "random" re-initialisation never keeps trained normalisation statistics.
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def reset_norms_(model: nn.Module) -> None:
    """Normalisation layers back to their freshly built state (weight 1, bias 0, running mean 0,
    running variance 1, no batches tracked)."""
    for module in model.modules():
        if isinstance(module, _NORMS):
            module.reset_parameters()


def create_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build and initialise model `name` (with its settings, if any) deterministically from
    `seed`."""
    spec, params = MODELS.get(name), MODELS.params(name)
    if params is None:
        model = spec.build(input_shape, num_classes)
    else:
        model = spec.build(input_shape, num_classes, params)
    reinitialise(name, model, seed)
    return model


def reinitialise(name: str, model: nn.Module, seed: int) -> None:
    """Fresh initial values for every parameter of `model`, as `create_model` gives them, and
    normalisation layers (batch norm's statistics included) as freshly built."""
    reset_norms_(model)
    MODELS.get(name).init(model, torch.Generator().manual_seed(seed))
