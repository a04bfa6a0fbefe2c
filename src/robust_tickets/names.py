"""The names the registries register and the settings of their components, importable
without torch.

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

# Component setting -> (type, default, help): a copy of what the components' `Params` declare
# (robust_tickets.pruning), for flags and `--help` without torch; tests/test_help.py fails,
# printing the line to paste, when the two differ.
SETTINGS: dict[str, tuple[type, object, str]] = {
    "hydra_iters": (int, 500, "criterion `hydra`: iterations of the score-only pruning phase"),
    "hydra_lr": (float, 0.1, "criterion `hydra`: SGD learning rate of the scores (cosine)"),
    "prune_rate": (
        float,
        0.2,
        "prune_method `global`: fraction of survivors pruned per level over all layers; "
        "prune_method `layerwise`: fraction of survivors pruned per level in fully connected "
        "hidden layers",
    ),
    "prune_rate_conv": (
        float,
        0.1,
        "prune_method `layerwise`: fraction pruned per level in convolutional layers",
    ),
    "prune_rate_output": (
        float,
        0.1,
        "prune_method `layerwise`: fraction pruned per level in the output layer",
    ),
    "rewind_iter": (
        int,
        0,
        "strategy `rewind`: survivors go back to their values at iteration K of level 0",
    ),
    "snip_batches": (
        int,
        10,
        "criterion `snip`: training batches the sensitivity is summed over",
    ),
}
