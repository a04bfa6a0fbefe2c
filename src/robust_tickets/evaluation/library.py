"""torchattacks, optional (cross-checks only), imported lazily and run without side effects.

torchattacks declares torchvision and requests as dependencies but imports neither; it does
import scipy. Since pip would replace our torch with the one that torchvision pins, it cannot be a
declared dependency: install it by hand with --no-deps to get the `ta-*` attacks and the
`library` masking check. Its attacks reseed torch's *global* generator
(``torch.random.manual_seed``), so every call here runs inside `torch.random.fork_rng`, leaving
the caller's random state untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from types import ModuleType

import torch
from torch import nn

from robust_tickets.attacks.base import Attack, seed_of
from robust_tickets.errors import UserError

INSTALL_HINT = "pip install scipy && pip install --no-deps torchattacks"


def available() -> bool:
    """Whether torchattacks can be imported (the `ta-*` attacks and the library check)."""
    import importlib.util

    return importlib.util.find_spec("torchattacks") is not None


def torchattacks() -> ModuleType:
    """The torchattacks module, or a one-line UserError saying how to install it."""
    try:
        import torchattacks as module
    except ImportError as exc:
        raise UserError(
            f"the ta-* attacks need torchattacks ({exc}): install it with `{INSTALL_HINT}` "
            "(--no-deps keeps your torch; torchattacks does not import torchvision)"
        ) from None
    return module


@contextlib.contextmanager
def isolated_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generator(s) for a library call, then restore the caller's state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def run(attack: object, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """Call a torchattacks attack on one batch with a fixed global seed; returns x_adv."""
    with isolated_rng(seed, x.device):
        return attack(x, y).detach()  # type: ignore[operator]


class TorchAttack(Attack):
    """A torchattacks attack as an `Attack`: ``make(torchattacks, model, seed)`` builds it for
    one call, seeded with the generator's seed (its own random draws come from torch's global
    generator, seeded and restored around the call)."""

    def __init__(self, make: Callable[[ModuleType, nn.Module, int], object]) -> None:
        self.library = torchattacks()  # fail early, with the install hint, if it is missing
        self.make = make

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        seed = seed_of(generator)
        return run(self.make(self.library, model, seed), x, y, seed)
