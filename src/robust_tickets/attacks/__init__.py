"""Adversarial attacks: one `Attack` type for training and evaluation, one attack per file.

The training attacks (`ATTACKS`, `--attack`) are `BackendAttack`s registered by name;
`Restarts`, `Transfer` and `ChosenLabels` build evaluation attacks out of them (see `base`).
"""

from robust_tickets.attacks import fgsm as _fgsm  # noqa: F401  (registers)
from robust_tickets.attacks import fgsm_rs as _fgsm_rs  # noqa: F401  (registers)
from robust_tickets.attacks import nfgsm as _nfgsm  # noqa: F401  (registers)
from robust_tickets.attacks import pgd as _pgd  # noqa: F401  (registers)
from robust_tickets.attacks.base import (
    ATTACKS,
    Attack,
    BackendAttack,
    input_gradient,
    make_attack,
    register,
)
from robust_tickets.attacks.labels import ChosenLabels
from robust_tickets.attacks.restarts import Restarts
from robust_tickets.attacks.transfer import Transfer

__all__ = [
    "ATTACKS",
    "Attack",
    "BackendAttack",
    "ChosenLabels",
    "Restarts",
    "Transfer",
    "input_gradient",
    "make_attack",
    "register",
]
