"""Adversarial attacks, one per file, registered by name (see `base.attack`)."""

from robust_tickets.attacks import fgsm as _fgsm  # noqa: F401  (registers)
from robust_tickets.attacks import fgsm_rs as _fgsm_rs  # noqa: F401  (registers)
from robust_tickets.attacks import nfgsm as _nfgsm  # noqa: F401  (registers)
from robust_tickets.attacks import pgd as _pgd  # noqa: F401  (registers)
from robust_tickets.attacks.base import ATTACKS, Attack, attack, input_gradient

__all__ = ["ATTACKS", "Attack", "attack", "input_gradient"]
