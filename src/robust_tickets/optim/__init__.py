"""Optimizers and learning-rate schedules, each a component owning its settings, one per module
of this package (schedules share one), registered in `OPTIMIZERS` / `SCHEDULES` by the module;
every module here is imported, so adding an optimizer is adding its file.

- `adam` (the paper's, the default): fused Adam, torch's or TF 1.13 Keras's numerics.
- `sgd`: SGD with momentum, Nesterov and weight decay.
- schedules `constant` (default), `piecewise`, `cosine`, each with a linear warm-up.
"""

import importlib
import pkgutil

from robust_tickets.optim.base import OPTIMIZERS, SCHEDULES, Optimizer, Schedule, set_lr

# The prefix spelled out (not __name__): tests/test_layers.py reads it as importing each module.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"robust_tickets.optim.{_module.name}")

__all__ = ["OPTIMIZERS", "SCHEDULES", "Optimizer", "Schedule", "set_lr"]
