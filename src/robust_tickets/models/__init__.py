"""Models, built by name from the registry; what makes any of them a ticket is `ticket`."""

from robust_tickets.models import conv as _conv  # noqa: F401  (registers conv models)
from robust_tickets.models import dense as _dense  # noqa: F401  (registers dense models)
from robust_tickets.models import preact_resnet as _preact  # noqa: F401  (PreAct ResNet-18)
from robust_tickets.models import resnet as _resnet  # noqa: F401  (ResNet-20)
from robust_tickets.models import vgg as _vgg  # noqa: F401  (VGG-16 with batch norm)
from robust_tickets.models import wide_resnet as _wrn  # noqa: F401  (WideResNet-d-k)
from robust_tickets.models.registry import MODELS, ModelSpec, create_model, reinitialise

__all__ = ["MODELS", "ModelSpec", "create_model", "reinitialise"]
