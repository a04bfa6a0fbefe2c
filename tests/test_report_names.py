"""Run directory names say which pruning choices differ from the defaults (issue 25, point 1)."""

from __future__ import annotations

from robust_tickets.config import PRESETS
from robust_tickets.resolve import from_flat


def test_a_default_config_keeps_its_name():
    assert from_flat(PRESETS["quick"]).name() == (
        "fashion_mnist-dense-300-100-fgsm-adv-reset-b5fb551c27"
    )
    explicit = {**PRESETS["quick"], "criterion": "magnitude", "one_shot": False}
    assert from_flat(explicit).name() == from_flat(PRESETS["quick"]).name()


def test_non_default_pruning_choices_appear_in_the_name():
    base = from_flat(PRESETS["finding"])
    random = from_flat({**PRESETS["finding"], "criterion": "random"})
    assert random.name() != base.name()
    assert random.name().startswith("fashion_mnist-dense-300-100-fgsm-adv-reset-criterion_random-")
    both = from_flat({**PRESETS["finding"], "criterion": "hydra", "one_shot": True,
                      "prune_method": "global"})  # fmt: skip
    assert "-reset-criterion_hydra-one_shot-global-" in both.name()
