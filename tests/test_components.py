"""Components own their settings (issue 23): the `Params` mechanism with toy components, and
every registered pruning component checked through the registries."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from robust_tickets.components import Component, ComponentRegistry, Params, Spec, setting
from robust_tickets.config import FIELD_DEFAULTS, FIELD_TYPES, SETTINGS, SLOTS
from robust_tickets.errors import UserError
from robust_tickets.pruning import CRITERIA, Criterion
from robust_tickets.resolve import REGISTRIES, config_from_dict, from_flat

TOYS: ComponentRegistry[Component] = ComponentRegistry("toy")


@TOYS.add
class Walk(Component):
    name = "walk"

    @dataclass(frozen=True)
    class Params(Params):
        steps: int = setting(10, "steps taken")

        def validate(self) -> None:
            self.require(self.steps >= 1, "steps", "must be at least 1")


@TOYS.add
class Run(Component):
    name = "run-fast"
    aliases = ("sprint",)

    @dataclass(frozen=True)
    class Params(Params):
        steps: int = setting(3, "strides per second")
        pace: float = setting(1.0, "relative pace", flat="pace", since=2.0)


def test_two_components_each_have_a_setting_of_the_same_name():
    assert Walk.Params.flat_names == {"steps": "walk_steps"}
    assert Run.Params.flat_names == {"steps": "run_fast_steps", "pace": "pace"}
    flat = {"walk_steps": 4, "run_fast_steps": "7"}
    assert TOYS.spec("walk", flat) == Spec("walk", Walk.Params(steps=4))
    assert TOYS.spec("sprint", flat) == Spec("run-fast", Run.Params(steps=7))  # typed, canonical
    assert TOYS.get(TOYS.spec("walk", flat)).params.steps == 4
    assert TOYS.get("run-fast").params == Run.Params()


def test_a_bad_setting_is_one_line_naming_its_flag_even_for_a_component_not_chosen():
    with pytest.raises(UserError, match=r"^walk_steps must be at least 1: fix the flag"):
        TOYS.check_settings({"walk_steps": 0})
    with pytest.raises(UserError, match="run_fast_steps must be an integer"):
        TOYS.spec("run-fast", {"run_fast_steps": 2.5})
    with pytest.raises(UserError, match="pace must be a finite number"):
        TOYS.spec("run-fast", {"pace": float("nan")})
    with pytest.raises(UserError, match="run-fast has no setting speed: its settings are"):
        Run.Params.build({"speed": 1})


def test_a_setting_added_later_takes_its_since_value_in_a_stored_config():
    assert Run.Params.build({}).pace == 1.0
    assert Run.Params.build({}, stored=True).pace == 2.0
    assert Run.Params().neutral() == {"run_fast_steps": 3, "pace": 2.0}


def test_params_must_be_frozen_dataclasses_of_settings():
    with pytest.raises(TypeError, match="frozen"):

        class Loose(Component):
            name = "loose"

            class Params(Params):
                steps: int = 1

    with pytest.raises(TypeError, match="setting"):

        class Bare(Component):
            name = "bare"

            @dataclass(frozen=True)
            class Params(Params):
                steps: int = 1


def test_a_spec_is_not_compared_with_a_bare_name():
    with pytest.raises(TypeError, match=r"spec\.name"):
        _ = Spec("walk") == "walk"
    assert Spec("walk", Walk.Params()) != Spec("walk", Walk.Params(steps=2))
    assert str(Spec("walk", Walk.Params(steps=2))) == "walk(steps=2)"


def test_a_new_setting_of_a_chosen_component_splits_identity_only_off_its_neutral_value():
    base = from_flat({"criterion": "snip"})

    def with_pace(pace: float):
        spec = Spec("snip", Run.Params(pace=pace))  # a snip that grew a `pace` setting
        return dataclasses.replace(base, prune=dataclasses.replace(base.prune, criterion=spec))

    legacy = dataclasses.replace(base.prune, criterion=Spec("snip", Run.Params(pace=2.0)))
    assert with_pace(2.0).hash() == dataclasses.replace(base, prune=legacy).hash()
    assert with_pace(1.0).hash() != with_pace(2.0).hash()


# ---- the registered components --------------------------------------------------------------
RUN_WIDE = {"attack": {"eps": 0.1}}  # what a kind of component is built with besides its params


def _components():
    return [(key, name) for key, registry in REGISTRIES.items() for name in registry.names()]


@pytest.mark.parametrize(("key", "name"), _components())
def test_every_component_builds_with_its_defaults_and_round_trips(key, name):
    registry = REGISTRIES[key]
    component = registry.get(name, **RUN_WIDE.get(key, {}))
    assert component.params == registry.cls(name).Params().checked()
    section, attr = SLOTS[key]
    prunes = {"strategy": "reset"} if key != "strategy" else {}
    needs = {"objective": {"trades": {"attack": "pgd"}}}.get(key, {}).get(name, {})  # PGD's KL
    config = from_flat({**prunes, **needs, key: name})
    assert getattr(getattr(config, section), attr).name == name
    assert config_from_dict(config.to_dict()) == config


def test_every_setting_has_one_flat_name_and_one_kind_of_component():
    owners: dict[str, str] = {}
    for key, registry in REGISTRIES.items():
        for flat, _, _ in registry.settings():
            assert owners.setdefault(flat, key) == key, f"{flat} is set on two kinds"
            assert flat in FIELD_TYPES and flat in SETTINGS
    assert set(owners) == set(SETTINGS)


def test_flat_fields_and_specs_are_the_same_config():
    flat = from_flat({"criterion": "snip", "snip_batches": 4, "strategy": "rewind"})
    spec = from_flat(
        {
            "criterion": {"name": "snip", "params": {"batches": 4}},
            "strategy": {"name": "late_reset"},
        }
    )
    assert flat == spec and flat.name() == spec.name()
    assert flat.prune.criterion == Spec("snip", flat.prune.criterion.params)
    assert flat.flat()["snip_batches"] == 4 and flat.flat()["hydra_iters"] == 500
    allocation = from_flat({"allocation": "global", "prune_rate": 0.3})
    assert allocation.prune.allocation.params.rate == 0.3
    assert allocation == from_flat({"prune_method": {"name": "global", "params": {"rate": 0.3}}})


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"criterion": {"name": "snip", "params": {"iters": 3}}}, "snip has no setting 'iters'"),
        ({"criterion": {"name": "snip", "params": {"batches": 3}}, "snip_batches": 4}, "twice"),
        ({"criterion": {"params": {}}}, "criterion must be a name or"),
        ({"allocation": "global", "prune_method": "global"}, "twice"),
        ({"criterion": {"name": "nope"}}, "unknown pruning criterion 'nope'"),
    ],
)
def test_bad_specs_are_one_line_errors(values, needle):
    with pytest.raises(UserError, match=needle) as error:
        from_flat(values)
    assert "\n" not in str(error.value)


def test_settings_no_chosen_component_reads_are_ignored_but_still_checked():
    base = from_flat({})
    assert from_flat({"snip_batches": 3, "rewind_iter": 5, "hydra_lr": 0.5}) == base
    assert from_flat({"prune_method": "global", "prune_rate_output": 0.3}) == from_flat(
        {"prune_method": "global"}
    )
    with pytest.raises(UserError, match="snip_batches must be at least 1"):
        from_flat({"snip_batches": 0})


class Taylor(Criterion):
    """docs/architecture.md's worked example: a criterion with one setting of its own."""

    name = "taylor"
    needs_data = True

    @dataclass(frozen=True)
    class Params(Params):
        batches: int = setting(4, "training batches the first-order score is summed over")

        def validate(self) -> None:
            self.require(self.batches >= 1, "batches", "must be at least 1")

    def steps(self) -> int:
        return self.params.batches


def test_the_worked_example_needs_only_its_class(monkeypatch):
    # what `@CRITERIA.add` would do, and the line names.py would read from its file at import
    # (tests/test_discovery.py drops the file into a copy of the package), undone after the test
    monkeypatch.setitem(CRITERIA._items, "taylor", Taylor)
    for table, value in ((FIELD_TYPES, int), (FIELD_DEFAULTS, 4), (SETTINGS, (int, 4, "..."))):
        monkeypatch.setitem(table, "taylor_batches", value)
    base = from_flat({"criterion": "taylor"})
    eight = from_flat({"criterion": "taylor", "taylor_batches": "8"})
    assert CRITERIA.get(eight.prune.criterion).steps() == 8
    assert eight == from_flat({"criterion": {"name": "taylor", "params": {"batches": 8}}})
    assert base == from_flat({"criterion": "taylor", "taylor_batches": 4})
    assert eight.hash() != base.hash()
    # not chosen: ignored, and no run is renamed
    assert from_flat({"taylor_batches": 8}).name() == from_flat({}).name()
    with pytest.raises(UserError, match="taylor_batches must be at least 1"):
        from_flat({"taylor_batches": 0})
