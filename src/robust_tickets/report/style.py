"""Names, colours and captions shared by every figure and table, so a strategy or a sparsity
level looks the same everywhere in a report."""

from __future__ import annotations

import functools
import re
from typing import Any

from matplotlib import colormaps
from matplotlib.colors import to_hex

from robust_tickets.config import implied_objective
from robust_tickets.resolve import from_flat
from robust_tickets.results import objective_params

DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}
STRATEGY_COLORS = {
    "reset": "#1f77b4",
    "random": "#ff7f0e",
    "continue": "#2ca02c",
    "rewind": "#d62728",
    "dense": "#222222",
}
_SPARE = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
# Dark for the dense network, light for the sparsest tickets: ordered like the sparsity.
LEVEL_COLORS = [to_hex(colormaps["plasma"](x)) for x in (0.0, 0.2, 0.4, 0.58, 0.72, 0.85)]


def strategy_color(strategy: str) -> str:
    if strategy in STRATEGY_COLORS:
        return STRATEGY_COLORS[strategy]
    return _SPARE[sum(map(ord, strategy)) % len(_SPARE)]  # stable across runs


def level_color(target_index: int) -> str:
    """Colour of the level chosen for the paper's `target_index`-th sparsity (100, 51.3, ...)."""
    return LEVEL_COLORS[target_index % len(LEVEL_COLORS)]


def pct(remaining: float) -> str:
    """Percent of weights left, as the paper writes it (100, 51.3, 8.7; its "1.8" is 1.85%,
    truncated, so a level within 3% of one of the paper's six is written as the paper does)."""
    from robust_tickets.report.paper import paper_level  # paper imports nothing of ours

    level = paper_level(remaining)
    if level is not None:
        remaining = level
    return f"{remaining:.0f}" if remaining >= 99.95 else f"{remaining:.1f}"


def eps_flag(eps: float) -> str:
    """A radius as a flag value that reads back exactly: 0.3, or 8/255 where it is one."""
    if float(f"{eps:g}") == eps:
        return f"{eps:g}"
    if round(eps * 255) / 255 == eps:
        return f"{round(eps * 255)}/255"
    return repr(eps)


def objective_tag(flat: dict[str, Any]) -> str:
    """The training objective where adv_train does not say it, with its settings not at their
    defaults ("madry", "trades trades_beta=1.0"); "" for natural and the paper's mixed, so
    the pages of runs made before objectives were chosen read as they did. `flat` is a flat
    config, or a results row (which carries `objective_params`); without `objective`, nothing."""
    name = flat.get("objective")
    if name is None:
        return ""
    params = objective_params(flat)
    if name == implied_objective(flat) and not params:
        return ""
    return f"{name} {params}" if params else str(name)


def training_mode(flat: dict[str, Any]) -> str:
    """ "adversarial" or "natural" training, with the objective where that does not imply it
    ("adversarial (madry)")."""
    mode = "adversarial" if flat["adv_train"] else "natural"
    tag = objective_tag(flat)
    return f"{mode} ({tag})" if tag else mode


# Settings that change the method (how tickets are found or trained), named in every title and
# table row where they are not the default for the run's dataset, model and attack: two runs
# that differ only in one of them must never look alike on the page.
METHOD_FIELDS = {
    "criterion": "criterion {}",
    "one_shot": "one-shot",
    "prune_method": "{} allocation",
    "prune_rate": "prune rate {:g}",
    "prune_rate_output": "output prune rate {:g}",
    "prune_rate_conv": "conv prune rate {:g}",
    "rewind_iter": "rewind to iteration {:,}",
    "snip_batches": "SNIP over {} batches",
    "hydra_iters": "HYDRA {:,} score iterations",
    "hydra_lr": "HYDRA score lr {:g}",
    "hydra_train_bn": "HYDRA trains batch norm",
    "random_start": "no random start",
    "attack_labels": "attacks on {} labels",
    "label_smoothing": "label smoothing {:g}",
    "l1_reg": "L1 {:g}",
    # fields the lead adds in main at the same time (the original code's loop, Adam and loss);
    # a field the config does not have yet is skipped
    "train_loop": "{} training loop",
    "stop_step": "stopped at step {:,}",
    "eval_until": "evaluated to step {:,}",
    "adam": "{} Adam",
    "loss_form": "{} cross-entropy",
}


@functools.lru_cache(maxsize=256)
def _defaults(dataset: str, model: str, attack: str, strategy: str) -> dict[str, Any]:
    return from_flat(
        {"dataset": dataset, "model": model, "attack": attack, "strategy": strategy}
    ).flat()


def method_tag(flat: dict[str, Any]) -> str:
    """The method settings of `flat` that are not their defaults ("criterion random, one-shot"),
    or "" for the default method."""
    base = _defaults(flat["dataset"], flat["model"], flat["attack"], flat.get("strategy", "reset"))
    parts = []
    for name, template in METHOD_FIELDS.items():
        if name in flat and name in base and flat[name] != base[name]:
            parts.append(template.format(flat[name]))
    return ", ".join(parts)


def setting_title(flat: dict[str, Any]) -> str:
    """One line naming a setting: dataset, model, attack, training mode, and every method
    setting that is not the default."""
    attack = flat["attack"].upper()
    if flat["attack"] == "pgd":
        attack += f" ({flat['steps']} steps of {flat['step_size']:g})"
    objective = objective_tag(flat)  # after "training": "adversarial training (madry)"
    mode = ("adversarial" if flat["adv_train"] else "natural") + " training"
    mode += f" ({objective})" if objective else ""
    dataset = DATASET_NAMES.get(flat["dataset"], flat["dataset"])
    tag = method_tag(flat)
    return f"{dataset} · {flat['model']} · {attack} ε={flat['eps']:g} · {mode}" + (
        f" · {tag}" if tag else ""
    )


def setting_details(flat: dict[str, Any]) -> str:
    """The rest of the config worth stating under a figure."""
    return (
        f"{flat['train_iters']:,} iterations/level, eval every {flat['eval_every']:,}, "
        f"Adam lr {flat['learning_rate']:g}, batch {flat['batch_size']}, "
        f"{flat['prune_method']} pruning {flat['prune_rate']:g}/{flat['prune_rate_output']:g}, "
        f"attacks on {flat.get('attack_labels', 'true')} labels, seed {flat['seed']}"
    )


def setting_slug(flat: dict[str, Any]) -> str:
    mode = "adv" if flat["adv_train"] else "nat"
    objective = objective_tag(flat)
    if objective:
        mode += "-" + re.sub(r"[^A-Za-z0-9.]+", "_", objective).strip("_")
    tag = re.sub(r"[^A-Za-z0-9.]+", "_", method_tag(flat)).strip("_")
    return f"{flat['dataset']}-{flat['model']}-{flat['attack']}-{mode}" + (f"-{tag}" if tag else "")
