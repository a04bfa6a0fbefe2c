"""The names the registries register and the settings of their components, importable
without torch.

`robust-tickets run --help` lists the datasets, models, attacks, strategies, allocations,
criteria, optimizers, schedules and objectives a run accepts; importing the registries to learn
them would import torch (2-3 s), so the help reads them here. The registries (data/, models/,
attacks/, pruning/, optim/, objectives/) stay what runs and what validates; tests/test_help.py
fails when a name registered there is missing here, or one listed here is no longer registered,
so the two cannot drift. Add a name here when you register one. Aliases are not listed: they are
accepted for old configs, not offered.
"""

from __future__ import annotations

DATASETS = ("cifar10", "fashion_mnist", "mnist")
MODELS = (
    "conv2",
    "conv4",
    "conv6",
    "dense-300-100",
    "lenet5",
    "mnist-cnn",
    "preact-resnet18",
    "resnet20",
    "vgg16-bn",
    "wrn",
)
ATTACKS = ("fgsm", "fgsm-rs", "nfgsm", "pgd")
STRATEGIES = ("continue", "dense", "random", "reset", "rewind", "rewind_trained")
PRUNE_METHODS = ("global", "layerwise")
CRITERIA = ("hydra", "magnitude", "random", "shuffle", "snip")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "piecewise")
OBJECTIVES = ("madry", "mixed", "natural", "trades")

# Config field -> the names it accepts (what `run --help` shows beside each flag).
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS,
    "model": MODELS,
    "attack": ATTACKS,
    "strategy": STRATEGIES,
    "prune_method": PRUNE_METHODS,
    "criterion": CRITERIA,
    "optimizer": OPTIMIZERS,
    "lr_schedule": SCHEDULES,
    "objective": OBJECTIVES,
}

# Component setting -> (type, default, help): a copy of what the components' `Params` declare
# (robust_tickets.pruning, robust_tickets.optim, robust_tickets.attacks), for flags and
# `--help` without torch; tests/test_help.py fails, printing the line to paste, when the two
# differ.
SETTINGS: dict[str, tuple[type, object, str]] = {
    "hydra_iters": (int, 500, "criterion `hydra`: iterations of the score-only pruning phase"),
    "hydra_lr": (float, 0.1, "criterion `hydra`: SGD learning rate of the scores (cosine)"),
    "hydra_train_bn": (
        bool,
        False,
        "criterion `hydra`: also train batch norm's affine parameters and running statistics "
        "in the score phase and fine-tune from them (what HYDRA's code does unless given its "
        "--freeze-bn)",
    ),
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
    "adam": (
        str,
        "torch",
        "optimizer `adam`: `torch`: torch's Adam (eps 1e-8 added to the bias-corrected root); "
        "`keras`: TF 1.13 Keras's Adam (eps 1e-7 added to the uncorrected root), as the "
        "original code ran",
    ),
    "cosine_floor": (
        float,
        0.0,
        "lr_schedule `cosine`: the rate at the last step, as a fraction of the rate",
    ),
    "gamma": (float, 0.1, "lr_schedule `piecewise`: factor applied at each milestone"),
    "milestones": (
        str,
        "0.5,0.75",
        "lr_schedule `piecewise`: comma-separated steps where the rate is multiplied by the "
        "gamma: all fractions of the level's steps in (0, 1), or all whole step counts",
    ),
    "momentum": (float, 0.0, "optimizer `sgd`: momentum factor (0: plain SGD)"),
    "nesterov": (bool, False, "optimizer `sgd`: Nesterov momentum (needs momentum > 0)"),
    "warmup": (
        int,
        0,
        "lr_schedule `constant`: linear warm-up over the first N steps of every level (0: none); "
        "lr_schedule `cosine`: linear warm-up over the first N steps of every level (0: none); "
        "lr_schedule `piecewise`: linear warm-up over the first N steps of every level (0: none)",
    ),
    "weight_decay": (float, 0.0, "optimizer `sgd`: L2 weight decay"),
    "trades_beta": (
        float,
        6.0,
        "objective `trades`: weight of KL(p(x) || p(x_adv)) beside CE(natural) (Zhang et al.: "
        "1 to 6)",
    ),
    "step_size": (float, 0.05, "attack `pgd`: PGD step size"),
    "steps": (int, 10, "attack `pgd`: PGD steps"),
    "random_start": (
        bool,
        True,
        "attack `pgd`: PGD starts at a uniform random point of the eps-ball",
    ),
    "nfgsm_noise": (
        float,
        2.0,
        "attack `nfgsm`: the uniform noise's half-width in multiples of eps",
    ),
    "nfgsm_step": (float, 1.0, "attack `nfgsm`: the signed-gradient step in multiples of eps"),
    "fgsm_rs_step": (
        float,
        1.25,
        "attack `fgsm-rs`: the step from its random start in multiples of eps",
    ),
}
