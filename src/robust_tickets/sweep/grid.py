"""Grid files: a base config plus axes to vary, expanded into independent (config, trial) jobs.

```yaml
base: {preset: paper}              # flat config fields (or sections); may name a preset
axes:                              # the product of every axis, in this order
  dataset: [mnist, fashion_mnist]
  strategy: [reset, random, continue, dense]
  trial: [0, 1, 2, 3, 4]           # or `trials: N` in base (a preset may set it too)
overrides:                         # optional: set fields on the points that match `when`
  - when: {strategy: rewind}
    set: {rewind_iter: 500}
exclude:                           # optional: drop the points that match any entry
  - {dataset: mnist, attack: pgd}
include:                           # optional: extra points (base + these fields)
  - {attack: pgd, eps: 0.1}
```

Values in `when`/`exclude` may be a value or a list (any of). Names are compared after
canonicalisation (`reinit_orig` matches `rewind_trained`). Every problem is a one-line UserError.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from robust_tickets import limits
from robust_tickets.config import (
    FIELD_TYPES,
    PRESET_RUN_OPTIONS,
    PRESETS,
    ExperimentConfig,
    flatten_mapping,
    load_yaml,
)
from robust_tickets.errors import UserError
from robust_tickets.resolve import from_flat, replace_fields
from robust_tickets.sweep.jobs import Job

KEYS = ("base", "axes", "overrides", "exclude", "include")
TRIAL = "trial"


def load_grid(path: str | Path) -> list[Job]:
    """Read and expand a grid file (see the module docstring)."""
    raw = load_yaml(path)
    if raw == {}:  # else it would be one job at the paper's full defaults
        raise UserError(f"grid file {path} is empty: give at least `base` or `axes`")
    return expand(raw, source=str(path))


def expand(raw: dict[str, Any], source: str = "grid") -> list[Job]:
    """The jobs of a parsed grid, in the grid's order, without duplicates."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a grid file must be a mapping with keys {', '.join(KEYS)}")
    unknown = sorted(set(map(str, raw)) - set(KEYS))
    if unknown:
        raise UserError(f"{source}: unknown key(s) {', '.join(unknown)}: use {', '.join(KEYS)}")
    base, default_trials = _base(raw.get("base"), source)
    axes = _axes(raw.get("axes"), source)
    trials = axes.pop(TRIAL, default_trials)
    rules = _overrides(raw.get("overrides"), source)

    # (field values, trials, may be excluded): the product, then the explicit includes
    points: list[tuple[dict[str, Any], list[int], bool]] = [
        (dict(zip(axes, combo, strict=True)), trials, True)
        for combo in itertools.product(*axes.values())
    ]
    excludes = _mappings(raw.get("exclude"), "exclude", source)
    for index, entry in enumerate(_mappings(raw.get("include"), "include", source)):
        entry = dict(entry)
        where = f"{source}: include[{index}]"
        extra_trials = _trial_list(entry.pop(TRIAL), where) if TRIAL in entry else trials
        points.append((entry, extra_trials, False))

    jobs: list[Job] = []
    seen: set[str] = set()
    for values, point_trials, excludable in points:
        config = _build({**base, **values}, source, values)
        for rule_when, rule_set in rules:
            if all(_matches(config, None, rule_when, source)):
                config = _build({**config.flat(), **rule_set}, source, values)
        for trial in point_trials:
            if excludable and any(
                all(_matches(config, trial, entry, source)) for entry in excludes
            ):
                continue
            job = Job(config, trial)
            if job.key not in seen:
                seen.add(job.key)
                jobs.append(job)
    if not jobs:
        raise UserError(f"{source}: the grid has no jobs (check axes and exclude)")
    return jobs


# ---- parts ------------------------------------------------------------------------------
def _base(raw: Any, source: str) -> tuple[dict[str, Any], list[int]]:
    if raw is None:
        return {}, [0]
    if not isinstance(raw, dict):
        raise UserError(f"{source}: base must be a mapping of config fields")
    raw = dict(raw)
    preset = raw.pop("preset", None)
    trials = raw.pop("trials", None)
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(
                f"{source}: unknown preset {preset!r}: choose one of {', '.join(sorted(PRESETS))}"
            )
        values.update(PRESETS[preset])
        if trials is None:
            trials = PRESET_RUN_OPTIONS.get(preset, {}).get("trials")
    values.update(flatten_mapping(raw, f"{source}: base"))
    if trials is None:
        return values, [0]
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UserError(f"{source}: base.trials must be a positive integer, got {trials!r}")
    limits.count(f"{source}: base.trials", trials, 1, limits.MAX_TRIALS)  # it sizes a list
    return values, list(range(trials))


def _axes(raw: Any, source: str) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{source}: axes must be a mapping of field: [values]")
    axes: dict[str, list[Any]] = {}
    for name, values in raw.items():
        name = str(name)
        if name != TRIAL and name not in FIELD_TYPES:
            raise UserError(
                f"{source}: axes.{name} is not a config field: see `robust-tickets run --help`"
            )
        if not isinstance(values, list) or not values:
            raise UserError(
                f"{source}: axes.{name} must be a non-empty list of values, e.g. [a, b]"
            )
        axes[name] = _trial_list(values, f"{source}: axes.trial") if name == TRIAL else values
    return axes


def _trial_list(values: Any, where: str) -> list[int]:
    values = values if isinstance(values, list) else [values]
    if not values or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in values):
        raise UserError(f"{where}: trials must be integers >= 0, got {values!r}")
    for trial in values:  # as `run --first-trial`
        limits.count(f"{where}: trial", trial, 0, limits.MAX_TRIALS)
    return values


def _mappings(raw: Any, key: str, source: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(e, dict) and e for e in raw):
        raise UserError(f"{source}: {key} must be a list of field: value mappings")
    for index, entry in enumerate(raw):
        _check_fields(entry, f"{source}: {key}[{index}]", allow_trial=True)
    return raw


def _overrides(raw: Any, source: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if raw is None:
        return []
    rules = []
    if not isinstance(raw, list):
        raise UserError(f"{source}: overrides must be a list of {{when: ..., set: ...}}")
    for index, rule in enumerate(raw):
        where = f"{source}: overrides[{index}]"
        if not isinstance(rule, dict) or set(rule) != {"when", "set"}:
            raise UserError(f"{where} must have exactly the keys `when` and `set`")
        when, values = rule["when"], rule["set"]
        if not isinstance(when, dict) or not isinstance(values, dict) or not values:
            raise UserError(f"{where}: `when` and `set` must be mappings of field: value")
        _check_fields(when, f"{where}.when")
        _check_fields(values, f"{where}.set")
        rules.append((when, values))
    return rules


def _check_fields(entry: dict[str, Any], where: str, allow_trial: bool = False) -> None:
    allowed = set(FIELD_TYPES) | ({TRIAL} if allow_trial else set())
    unknown = sorted(set(map(str, entry)) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown config field(s) {', '.join(unknown)}")


def _build(values: dict[str, Any], source: str, point: dict[str, Any]) -> ExperimentConfig:
    try:
        return from_flat(values)
    except UserError as exc:
        shown = ", ".join(f"{k}={v}" for k, v in point.items()) or "base"
        raise UserError(f"{source}: point ({shown}): {exc}") from None


def _matches(
    config: ExperimentConfig, trial: int | None, cond: dict[str, Any], source: str
) -> Iterable[bool]:
    """One bool per condition; values are canonicalised in the context of `config`."""
    flat = config.flat()
    for name, wanted in cond.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if name == TRIAL:
            yield trial is None or trial in options
            continue
        try:
            canonical = [replace_fields(config, **{name: v}).flat()[name] for v in options]
        except UserError as exc:
            raise UserError(f"{source}: {name}: {exc}") from None
        yield flat[name] in canonical
