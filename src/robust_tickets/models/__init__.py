"""Models, built by name from the registry; what makes any of them a ticket is `ticket`.

Every module of this package is imported, so adding a model is adding its file (one that calls
`MODELS.register`); the helpers beside them (`registry`, `ticket`, `backend`, `fast_mlp`,
`init`, `cifar`) register nothing and tests/test_discovery.py lists them as such.
"""

import importlib
import pkgutil

from robust_tickets.models.registry import MODELS, ModelSpec, create_model, reinitialise

# The prefix spelled out (not __name__): tests/test_layers.py reads it as importing each module.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"robust_tickets.models.{_module.name}")

__all__ = ["MODELS", "ModelSpec", "create_model", "reinitialise"]
