"""Adversarial attacks: one `Attack` type for training and evaluation, one attack per file.

The training attacks (`ATTACKS`, `--attack`) are `BackendAttack`s, components owning their
settings, registered by name;
`Restarts`, `Transfer` and `ChosenLabels` build evaluation attacks out of them (see `base`).
Every module here is imported (below), so a new attack is one new file, no import line.
"""

import importlib
import pkgutil

from robust_tickets.attacks.base import (
    ATTACKS,
    Attack,
    BackendAttack,
    input_gradient,
    make_attack,
)
from robust_tickets.attacks.labels import ChosenLabels
from robust_tickets.attacks.restarts import Restarts
from robust_tickets.attacks.transfer import Transfer

# Every module of this package is imported, so adding an attack is adding its file. The prefix
# spelled out (not __name__): tests/test_layers.py reads it as importing each module.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"robust_tickets.attacks.{_module.name}")

__all__ = [
    "ATTACKS",
    "Attack",
    "BackendAttack",
    "ChosenLabels",
    "Restarts",
    "Transfer",
    "input_gradient",
    "make_attack",
]
