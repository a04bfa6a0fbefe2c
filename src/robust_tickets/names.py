"""The names the registries register and the settings of their components, known without
importing torch.

`robust-tickets run --help` lists the datasets, models, attacks, strategies, allocations,
criteria, optimizers, schedules and objectives a run accepts, and every component setting
(flag, YAML field, sweep axis) with its type, default and help; importing the registries to
learn them would import torch (2-3 s). So they are read from the components' source by
`robust_tickets.scan` (`ast`, nothing imported or run; about 50 ms): a component's file is all
there is to add, no list here to extend.

The registries (data/, models/, attacks/, pruning/, optim/, objectives/) stay what runs and
what validates; tests/test_help.py fails when what is read here differs from them (a
registration the scanner cannot see). Aliases are not listed: they are accepted for old
configs, not offered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple


class Kind(NamedTuple):
    """A config field's registry: the variable its names are registered in, and whether it
    holds components (registered with ``@REGISTRY.add``, each owning its settings) or plain
    objects (``REGISTRY.register("name")(obj)``)."""

    registry: str
    components: bool = False


# Where the components live: folders of the package, searched with their subfolders.
FOLDERS = ("data/datasets", "models", "attacks", "pruning", "optim", "objectives")
# Config field -> the registry its choices are registered in.
KINDS: dict[str, Kind] = {
    "dataset": Kind("DATASETS"),
    "model": Kind("MODELS"),
    "attack": Kind("ATTACKS", components=True),
    "strategy": Kind("STRATEGIES", components=True),
    "prune_method": Kind("PRUNE_METHODS", components=True),
    "criterion": Kind("CRITERIA", components=True),
    "optimizer": Kind("OPTIMIZERS", components=True),
    "lr_schedule": Kind("SCHEDULES", components=True),
    "objective": Kind("OBJECTIVES", components=True),
}

Names = dict[str, tuple[str, ...]]
Settings = dict[str, tuple[type, Any, str]]


def _scan() -> tuple[Names, Settings]:
    from robust_tickets.scan import scan  # ast only: no torch

    found = scan(Path(__file__).resolve().parent, FOLDERS, KINDS)
    return found.names, found.settings


_NAMES, _SETTINGS = _scan()

# Config field -> the names it accepts, sorted (what `run --help` shows beside each flag).
FIELD_CHOICES: Names = _NAMES
DATASETS = FIELD_CHOICES["dataset"]
MODELS = FIELD_CHOICES["model"]
ATTACKS = FIELD_CHOICES["attack"]
STRATEGIES = FIELD_CHOICES["strategy"]
PRUNE_METHODS = FIELD_CHOICES["prune_method"]
CRITERIA = FIELD_CHOICES["criterion"]
OPTIMIZERS = FIELD_CHOICES["optimizer"]
SCHEDULES = FIELD_CHOICES["lr_schedule"]
OBJECTIVES = FIELD_CHOICES["objective"]

# Component setting's flat name -> (type, default, help): what the components' `Params`
# declare, in the order of `components.flag_help` (by kind as above, then component name),
# each help naming the components that read the setting.
SETTINGS: Settings = _SETTINGS
