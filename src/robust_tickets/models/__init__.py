"""Models with masked (prunable) layers, built by name from the registry."""

from robust_tickets.models import dense as _dense  # noqa: F401  (registers dense models)
from robust_tickets.models.masked import MaskedLinear, masked_layers
from robust_tickets.models.registry import MODELS, ModelSpec, create_model, reinitialise

__all__ = ["MODELS", "MaskedLinear", "ModelSpec", "create_model", "masked_layers", "reinitialise"]
