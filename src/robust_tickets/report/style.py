"""Names, colours and captions shared by every figure and table, so a strategy or a sparsity
level looks the same everywhere in a report."""

from __future__ import annotations

from typing import Any

from matplotlib import colormaps
from matplotlib.colors import to_hex

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


def training_mode(flat: dict[str, Any]) -> str:
    """ "adversarial" or "natural" training."""
    return "adversarial" if flat["adv_train"] else "natural"


def setting_title(flat: dict[str, Any]) -> str:
    """One line naming a setting: dataset, model, attack, training mode."""
    attack = flat["attack"].upper()
    if flat["attack"] == "pgd":
        attack += f" ({flat['steps']} steps of {flat['step_size']:g})"
    mode = f"{training_mode(flat)} training"
    dataset = DATASET_NAMES.get(flat["dataset"], flat["dataset"])
    return f"{dataset} · {flat['model']} · {attack} ε={flat['eps']:g} · {mode}"


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
    return f"{flat['dataset']}-{flat['model']}-{flat['attack']}-{mode}"
