"""The evaluation presets own their strength settings: `evaluate`'s flags map onto their params,
and the parameters their stored entries are keyed by (the resume key of every level's
``robustness/``) stay byte for byte what they were, so existing stores resume unattacked."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from robust_tickets.cli.evaluate import options_from
from robust_tickets.cli.main import build_parser
from robust_tickets.errors import UserError
from robust_tickets.evaluation import autoattack, library
from robust_tickets.evaluation.attacks import (
    APGDCE,
    APGDT,
    EVAL_ATTACKS,
    FABT,
    AttackContext,
    SquareAttack,
    preset,
    presets,
)
from robust_tickets.evaluation.store import entry_key

IMPL = autoattack.implementation()  # pyautoattack-0.2.0 in the stores written so far

# every preset's stored parameters at the default flags, on a run trained with the defaults
DEFAULTS = {
    "apgd-ce": f"apgd_steps=100,impl={IMPL}",
    "apgd-dlr": f"apgd_steps=100,impl={IMPL}",
    "apgd-t": f"apgd_steps=100,impl={IMPL}",
    "autoattack": f"apgd_steps=100,fab_steps=100,impl={IMPL},queries=5000",
    "fab-t": f"fab_steps=100,impl={IMPL}",
    "fgsm": "",
    "fgsm-rs": "step=1.25",
    "nfgsm": "noise=2.0,step=1.0",
    "paper": "attack=fgsm,labels=predicted",
    "pgd": "step=0.16666666666666669,steps=10",
    "pgd-restarts": "restarts=5,steps=40",
    "square": f"impl={IMPL},queries=5000",
    "ta-autoattack": "apgd_steps=100,fab_steps=100,queries=5000",
    "ta-fgsm": "",
    "ta-pgd": "step=0.16666666666666669,steps=10",
    "transfer": "restarts=5,steps=40",
}

# one flag off its default -> the stored parameters that change (every other stays as above)
CHANGED = {
    ("--pgd-steps", "7"): {
        "pgd-restarts": "restarts=5,steps=7",
        "transfer": "restarts=5,steps=7",
    },
    ("--pgd-restarts", "2"): {
        "pgd-restarts": "restarts=2,steps=40",
        "transfer": "restarts=2,steps=40",
    },
    ("--apgd-steps", "9"): {
        "apgd-ce": f"apgd_steps=9,impl={IMPL}",
        "apgd-dlr": f"apgd_steps=9,impl={IMPL}",
        "apgd-t": f"apgd_steps=9,impl={IMPL}",
        "autoattack": f"apgd_steps=9,fab_steps=100,impl={IMPL},queries=5000",
        "ta-autoattack": "apgd_steps=9,fab_steps=100,queries=5000",
    },
    ("--fab-steps", "11"): {
        "fab-t": f"fab_steps=11,impl={IMPL}",
        "autoattack": f"apgd_steps=100,fab_steps=11,impl={IMPL},queries=5000",
        "ta-autoattack": "apgd_steps=100,fab_steps=11,queries=5000",
    },
    ("--square-queries", "300"): {
        "square": f"impl={IMPL},queries=300",
        "autoattack": f"apgd_steps=100,fab_steps=100,impl={IMPL},queries=300",
        "ta-autoattack": "apgd_steps=100,fab_steps=100,queries=300",
    },
    ("--batch-size", "50"): {},  # run-wide: no attack's parameter
}


def _stored(*flags: str) -> dict[str, str]:
    """Every preset's stored parameters when `evaluate` is given `flags`."""
    options = options_from(build_parser().parse_args(["evaluate", "results", *flags]))
    chosen = presets(options.attack_settings)
    return {name: chosen[name].param_string(AttackContext(10)) for name in EVAL_ATTACKS}


def test_stored_parameters_at_the_default_flags_are_the_stored_ones():
    assert _stored() == DEFAULTS
    assert entry_key("pgd-restarts", _stored()["pgd-restarts"], 0.1, 1000) == (
        "pgd-restarts[restarts=5,steps=40]@0.1/n=1000"
    )


@pytest.mark.parametrize("flag", list(CHANGED), ids=[flag for flag, _ in CHANGED])
def test_each_flag_changes_the_stored_parameters_of_the_presets_owning_it_only(flag):
    assert _stored(*flag) == {**DEFAULTS, **CHANGED[flag]}


def test_the_flags_set_the_params_of_the_presets_that_own_them():
    chosen = presets({"pgd_steps": 7, "pgd_restarts": 2, "apgd_steps": 9, "square_queries": 30})
    assert (chosen["pgd-restarts"].params.steps, chosen["pgd-restarts"].params.restarts) == (7, 2)
    assert chosen["transfer"].params == chosen["pgd-restarts"].params  # the same settings
    assert [chosen[n].params.steps for n in ("apgd-ce", "apgd-dlr", "apgd-t")] == [9, 9, 9]
    assert chosen["fab-t"].params.steps == 100 and chosen["square"].params.queries == 30
    assert preset("pgd-strong", {"pgd_steps": 7}).params.steps == 7  # an alias too
    # the suite composes its members' params: each of their settings once, by its flat name
    suite = chosen["autoattack"]
    assert suite.params.flat() == {"apgd_steps": 9, "fab_steps": 100, "square_queries": 30}
    assert [p.name for p in suite.parts()] == list(autoattack.STANDARD)
    assert [p.params for p in suite.parts()] == [
        APGDCE.Params(steps=9),
        APGDT.Params(steps=9),
        FABT.Params(steps=100),
        SquareAttack.Params(queries=30),
    ]
    assert chosen["ta-autoattack"].params.flat() == suite.params.flat()
    aa = suite.make(0.1, AttackContext(10))
    assert aa.attacks == autoattack.STANDARD
    assert aa.strength == {"apgd_steps": 9, "fab_steps": 100, "square_queries": 30}
    apgd_t = chosen["apgd-t"].make(0.1, AttackContext(10))
    assert apgd_t.attacks == ("apgd-t",) and apgd_t.strength["apgd_steps"] == 9


def test_a_setting_no_preset_owns_or_a_bad_value_is_a_one_line_error():
    with pytest.raises(UserError, match="no evaluation attack has the setting batch_size"):
        presets({"batch_size": 50})  # an evaluation option, not an attack's
    with pytest.raises(UserError, match="apgd_steps must be at least 1"):
        presets({"apgd_steps": 0})
    with pytest.raises(UserError, match="square_queries must be at most"):
        presets({"square_queries": 10**9})


def test_ta_autoattack_builds_torchattacks_parts_with_its_params(monkeypatch):
    calls = []

    def part(name):
        return lambda model, **kwargs: calls.append((name, kwargs)) or name

    fake = SimpleNamespace(**{n: part(n) for n in ("APGD", "APGDT", "FAB", "Square")})
    fake.MultiAttack = lambda attacks: attacks
    monkeypatch.setattr(library, "torchattacks", lambda: fake)
    chosen = presets({"apgd_steps": 9, "fab_steps": 11, "square_queries": 300})
    attack = chosen["ta-autoattack"].make(0.1, AttackContext(7))
    assert attack.make(fake, None, 5) == ["APGD", "APGDT", "FAB", "Square"]
    common = {"norm": "Linf", "eps": 0.1, "seed": 5}
    assert calls == [
        ("APGD", {**common, "steps": 9, "loss": "ce"}),
        ("APGDT", {**common, "steps": 9, "n_classes": 7}),
        ("FAB", {**common, "steps": 11, "multi_targeted": True, "n_classes": 7}),
        ("Square", {**common, "n_queries": 300}),
    ]
