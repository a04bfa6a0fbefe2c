"""robust_tickets: sparse, adversarially robust lottery tickets, measured honestly.

The Python API (docs/api.md) is `robust_tickets.api`; its functions are also here
(`robust_tickets.load_ticket`), imported on first use so that `import robust_tickets` does not
import torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("Ticket", "export_ticket", "load_ticket", "run", "sparsity", "ticket_from_module")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from robust_tickets import api  # the one import upwards (tests/test_layers.py)

        return getattr(api, name)
    raise AttributeError(f"module 'robust_tickets' has no attribute {name!r}")
