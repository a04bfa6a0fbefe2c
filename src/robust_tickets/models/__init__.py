"""Models, built by name from the registry; what makes any of them a ticket is `ticket`."""

from robust_tickets.models import conv as _conv  # noqa: F401  (registers conv models)
from robust_tickets.models import dense as _dense  # noqa: F401  (registers dense models)
from robust_tickets.models.registry import MODELS, ModelSpec, create_model, reinitialise

__all__ = ["MODELS", "ModelSpec", "create_model", "reinitialise"]
