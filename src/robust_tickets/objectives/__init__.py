"""Training objectives, each a component owning its settings, registered in `OBJECTIVES` by
its module; every module here is imported, so adding an objective is adding its file.

- `natural`: CE(natural) (the default without `adv_train`).
- `mixed`: the paper's 0.5 CE(natural) + 0.5 CE(adversarial) (the default with `adv_train`).
- `madry`: CE(adversarial) on the true labels (Madry et al., 2018).
- `trades`: CE(natural) + beta KL(p(x) || p(x_adv)) (Zhang et al., 2019).

`losses.py` holds the cross-entropy forms every stepper shares (`loss_form`).
"""

import importlib
import pkgutil

from robust_tickets.objectives.base import OBJECTIVES, Objective, objective_for

# The prefix spelled out (not __name__): tests/test_layers.py reads it as importing each module.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"robust_tickets.objectives.{_module.name}")

__all__ = ["OBJECTIVES", "Objective", "objective_for"]
