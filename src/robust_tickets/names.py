"""The names the registries register, importable without torch.

`robust-tickets run --help` lists the datasets, models, attacks, strategies, allocations and
criteria a run accepts; importing the registries to learn them would import torch (2-3 s), so
the help reads them here. The registries (data/, models/, attacks/, pruning/) stay what runs and
what validates; tests/test_names.py fails when a name registered there is missing here, or one
listed here is no longer registered, so the two cannot drift. Add a name here when you register
one. Aliases are not listed: they are accepted for old configs, not offered.
"""

from __future__ import annotations

DATASETS = ("cifar10", "fashion_mnist", "mnist")
MODELS = (
    "conv2",
    "conv4",
    "conv6",
    "dense-300-100",
    "lenet5",
    "preact-resnet18",
    "resnet20",
    "vgg16-bn",
    "wrn",
)
ATTACKS = ("fgsm", "fgsm-rs", "nfgsm", "pgd")
STRATEGIES = ("continue", "dense", "random", "reset", "rewind", "rewind_trained")
PRUNE_METHODS = ("global", "layerwise")
CRITERIA = ("hydra", "magnitude", "random", "shuffle", "snip")

# Config field -> the names it accepts (what `run --help` shows beside each flag).
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS,
    "model": MODELS,
    "attack": ATTACKS,
    "strategy": STRATEGIES,
    "prune_method": PRUNE_METHODS,
    "criterion": CRITERIA,
}
