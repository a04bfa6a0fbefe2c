"""From flat values to a validated, canonical `ExperimentConfig`.

`from_flat` builds a config from flat field names (CLI flags, YAML files, sweep axes) on top of
the defaults (a dataset may have its own threat model: `config.DATASET_DEFAULTS`): each
component (attack, optimizer, schedule, pruning) becomes a `{name, params}` spec, built and
checked by the component from the settings it owns (`robust_tickets.components`). `validate`
checks the run-wide ranges, canonicalises registry names (aliases share a directory), checks
the model against the dataset's images and gives every setting that no chosen component reads
its default, so that a run's identity depends only on what its components read: a
component's settings go with it. This module sits above the registries it consults (data,
models, attacks, pruning, optim), so `config` below them stays plain data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import Any

from robust_tickets import limits
from robust_tickets.attacks import ATTACKS
from robust_tickets.components import ComponentRegistry, Spec
from robust_tickets.config import (
    CO_ACTIONS,
    DATASET_DEFAULTS,
    FIELD_DEFAULTS,
    FIELD_META,
    FIELD_TYPES,
    RENAMED,
    SECTION_CLASSES,
    SETTINGS,
    SLOTS,
    ExperimentConfig,
    PruneConfig,
    TrainConfig,
    coerce,
    flatten_mapping,
    implied_objective,
    parse_levels,
)
from robust_tickets.data import DATASETS
from robust_tickets.data.augment import AUGMENTS, unfit
from robust_tickets.errors import UserError
from robust_tickets.models import MODELS
from robust_tickets.objectives import OBJECTIVES, Objective
from robust_tickets.optim import OPTIMIZERS, SCHEDULES
from robust_tickets.pruning import CRITERIA, PRUNE_METHODS, STRATEGIES, Criterion
from robust_tickets.schedule import TRAIN_LOOPS, epoch_steps


def defaults_for(dataset: str) -> dict[str, Any]:
    """Every field's default for runs on `dataset` (a name or alias)."""
    name = DATASETS.canonical(dataset) if dataset in DATASETS else dataset
    return {**FIELD_DEFAULTS, **DATASET_DEFAULTS.get(name, {})}


def from_flat(values: dict[str, Any], *, stored: bool = False) -> ExperimentConfig:
    """Build a config from flat field names; canonicalises registry names and validates.

    A component may also be given as a spec, ``criterion: {name: snip, params: {batches: 4}}``;
    its settings then count as given by their flat names (``snip_batches: 4``). `stored`: the
    values come from a stored config, where a setting added later takes its `since` value."""
    values = expand_specs(values)
    unknown = sorted(set(values) - set(FIELD_TYPES))
    if unknown:
        raise UserError(
            f"unknown config field(s) {', '.join(unknown)}: see `robust-tickets run --help`"
        )
    given = {k: coerce(k, v) for k, v in values.items()}
    defaults = defaults_for(given.get("dataset", FIELD_DEFAULTS["dataset"]))
    merged = {**defaults, **given}
    # an objective given decides adv_train (it is the more specific choice); without one,
    # adv_train means the paper's `mixed`, as it always did
    if "objective" in given:
        merged["adv_train"] = OBJECTIVES.cls(merged["objective"]).adversarial
    else:
        merged["objective"] = implied_objective(merged)
    # the dataset's threat model (CIFAR-10's PGD step) sets its attack settings unless given
    own = {k: v for k, v in defaults.items() if k in SETTINGS and v != FIELD_DEFAULTS[k]}
    settings = {**own, **{k: v for k, v in given.items() if k in SETTINGS}}
    specs: dict[str, dict[str, Any]] = {section: {} for section in SECTION_CLASSES}
    for key, (section, attr) in SLOTS.items():
        registry = REGISTRIES[key]
        registry.check_settings(settings)  # a bad value is an error, chosen or not
        specs[section][attr] = registry.spec(merged[key], settings, stored=stored)
    sections = {
        name: cls(
            **{f.name: merged[f.name] for f in fields(cls) if f.type != "Spec"},
            **specs[name],
        )
        for name, cls in SECTION_CLASSES.items()
    }
    config = ExperimentConfig(**sections, seed=merged["seed"])
    return validate(config)


def expand_specs(values: dict[str, Any]) -> dict[str, Any]:
    """Flat values with each component given as a spec (``{name, params}``) spelled out as its
    name and its settings' flat names, and `allocation` as `prune_method`."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        key = RENAMED.get(key, key)
        if key in out:
            raise UserError(f"{key} is given twice (also as allocation): keep one")
        if key not in SLOTS or not isinstance(value, dict):
            out[key] = value
            continue
        extra = sorted(set(value) - {"name", "params"})
        if "name" not in value or extra or not isinstance(value.get("params") or {}, dict):
            raise UserError(f"{key} must be a name or {{name: ..., params: {{...}}}}")
        registry, name = REGISTRIES[key], str(value["name"])
        flat_names = registry.cls(name).Params.flat_names
        out[key] = name
        for setting, v in (value.get("params") or {}).items():
            if setting not in flat_names:
                have = ", ".join(flat_names) or "none"
                raise UserError(f"{key} {name} has no setting {setting!r}: it has {have}")
            flat = flat_names[setting]
            if flat in values or flat in out:
                raise UserError(f"{flat} is given twice, also as {key}'s {setting}: keep one")
            out[flat] = v
    return out


def validate(config: ExperimentConfig) -> ExperimentConfig:
    """Check ranges and canonicalise registry names; returns the (possibly renamed) config."""
    hint = ": fix the flag or config file"
    for name, value in config.flat().items():
        if FIELD_TYPES[name] is float:
            limits.finite(name, value, hint)
    d, a, t, p = config.data, config.attack, config.train, config.prune
    bounded = [
        ("train_iters", t.train_iters, limits.MAX_TRAIN_ITERS),
        ("batch_size", t.batch_size, limits.MAX_BATCH),
        ("prune_iters", p.prune_iters, limits.MAX_PRUNE_ITERS),
        ("valid_size", d.valid_size, limits.MAX_EXAMPLES),
    ]
    for name, value, high in bounded:
        if value > high:
            limits.count(name, value, 0, high, hint)
    checks = [
        (t.train_iters >= 1, "train_iters must be at least 1"),
        (t.eval_every >= 1, "eval_every must be at least 1"),
        (t.batch_size >= 1, "batch_size must be at least 1"),
        (t.learning_rate > 0, "learning_rate must be positive"),
        (t.l1_reg >= 0, "l1_reg must be >= 0"),
        (0 <= a.eps <= 1, "eps must be in [0, 1] (images are in [0, 1])"),
        (d.valid_size >= 0, "valid_size must be >= 0"),
        (d.test_size >= 0, "test_size must be >= 0 (0: the whole test set)"),
        (0 <= d.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
        (p.prune_iters >= 0, "prune_iters must be >= 0"),
        (config.seed >= 0, "seed must be >= 0"),
        (a.attack_labels in ("true", "predicted"), "attack_labels must be true or predicted"),
        (t.train_loop in TRAIN_LOOPS, "train_loop must be steps or keras"),
        (0 <= t.stop_step <= limits.MAX_TRAIN_ITERS, "stop_step must be >= 0 (0: off)"),
        (0 <= t.eval_until <= limits.MAX_TRAIN_ITERS, "eval_until must be >= 0 (0: off)"),
        (t.loss_form in ("logits", "clipped"), "loss_form must be logits or clipped"),
        (t.train_epochs >= 0, "train_epochs must be >= 0 (0: train_iters steps)"),
        (t.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}"),
        (0 <= t.co_every <= limits.MAX_TRAIN_ITERS, "co_every must be >= 0 (0: once an epoch)"),
        (0 < t.co_drop <= 1, "co_drop must be in (0, 1] (an absolute drop of accuracy)"),
        (t.co_action in CO_ACTIONS, f"co_action must be one of {', '.join(CO_ACTIONS)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"{message}: fix the flag or config file")
    if p.prune_levels:  # canonical, and prune_iters is their count
        try:
            levels = parse_levels(p.prune_levels)
        except ValueError as e:
            raise UserError(f"prune_levels {e}: e.g. --prune-levels 3,8,11,15,18") from None
        if levels[-1] > limits.MAX_PRUNE_ITERS:
            limits.count("prune_levels' last level", levels[-1], 1, limits.MAX_PRUNE_ITERS, hint)
        text = ",".join(map(str, levels))
        p = dataclasses.replace(p, prune_levels=text, prune_iters=len(levels))
        config = dataclasses.replace(config, prune=p)
    dataset = DATASETS.canonical(d.dataset)
    if t.train_epochs:  # the level's length in steps, as the components, reports and sweeps read it
        t = dataclasses.replace(t, train_iters=_epoch_iters(config, dataset))
        config = dataclasses.replace(config, train=t)
    model = MODELS.canonical(config.model.model)
    model_spec = MODELS.get(model)
    data_spec = DATASETS.get(dataset)
    shape = data_spec.input_shape()
    why = model_spec.fits(shape)
    if why is not None:
        raise UserError(
            f"model {model} does not fit {dataset}'s images {shape}: it {why}; "
            "choose another --model or --dataset"
        )
    why = unfit(t.augment, shape)
    if why is not None:
        raise UserError(f"augment {t.augment} does not fit {dataset}: it {why}; use --augment none")
    attack = ATTACKS.cls(a.attack)
    attack_spec = Spec(
        attack.name, (a.params if a.params is not None else attack.Params()).checked()
    )
    objective = _objective(t.objective, t.adv_train)
    needs = objective.attack_needed
    if needs is not None and attack.name != needs:
        raise UserError(
            f"objective {objective.name} attacks with {needs}'s settings, not {attack.name}'s: "
            f"choose --attack {needs}"
        )
    strategy = STRATEGIES.get(p.strategy)
    allocation = PRUNE_METHODS.get(p.allocation).fit(
        set(model_spec.layer_kinds(shape, data_spec.num_classes))
    )
    criterion = CRITERIA.get(p.criterion)
    flat = {**config.flat(), "dataset": dataset, "model": model, "attack": attack.name}
    flat["adv_train"] = objective.adversarial
    # A setting no chosen component reads gets its default, so that two runs differing only
    # in it are one run (one directory): a component's own settings go with it, and so do
    # the pruning components when the strategy does not prune.
    if not t.co_check:  # the check's settings matter only when it runs
        flat.update({name: getattr(TrainConfig(), name) for name in CO_FIELDS})
    prune = {"strategy": strategy.spec, "allocation": allocation.spec, "criterion": criterion.spec}
    if strategy.prunes:
        _check_training_data(config, dataset, criterion)
        for component in (strategy, allocation, criterion):
            component.check(config)
    else:  # the dense baseline runs one level whatever prune_iters says
        prune.update(allocation=PRUNE_METHODS.get("layerwise").spec, criterion=criterion_default())
        flat.update(prune_iters=0, one_shot=PruneConfig().one_shot, prune_levels="")
    sections: dict[str, Any] = {
        name: cls(**{f.name: flat[f.name] for f in fields(cls) if f.type != "Spec"})
        for name, cls in SECTION_CLASSES.items()
    }
    sections["attack"] = dataclasses.replace(sections["attack"], attack=attack_spec)
    sections["prune"] = dataclasses.replace(sections["prune"], **prune)
    sections["train"] = dataclasses.replace(
        sections["train"],
        optimizer=OPTIMIZERS.get(t.optimizer).spec,
        lr_schedule=SCHEDULES.get(t.lr_schedule).spec,
        objective=objective.spec,
    )
    return ExperimentConfig(**sections, seed=config.seed)


def _objective(spec: Spec, adv_train: bool) -> Objective:
    """The objective a config trains with: its own, except that `natural` with adv_train
    (a config built in code that set only adv_train) means the paper's `mixed`."""
    if OBJECTIVES.canonical(spec.name) == "natural" and adv_train:
        return OBJECTIVES.get("mixed")
    return OBJECTIVES.get(spec)


def criterion_default() -> Spec:
    return CRITERIA.get(PruneConfig().criterion.name).spec


CO_FIELDS = ("co_every", "co_drop", "co_action")  # the settings of the co_check
REGISTRIES: dict[str, ComponentRegistry] = {
    "attack": ATTACKS,
    "strategy": STRATEGIES,
    "prune_method": PRUNE_METHODS,
    "criterion": CRITERIA,
    "optimizer": OPTIMIZERS,
    "lr_schedule": SCHEDULES,
    "objective": OBJECTIVES,
}


def _check_training_data(config: ExperimentConfig, dataset: str, criterion: Criterion) -> None:
    """A criterion that draws training batches needs at least one batch of training images."""
    p, t = config.prune, config.train
    if not criterion.needs_data or p.prune_iters == 0:
        return
    train = DATASETS.get(dataset).counts()[0] - config.data.valid_size
    if train < t.batch_size:
        raise UserError(
            f"criterion {criterion.name} draws training batches but valid_size "
            f"{config.data.valid_size} leaves {max(train, 0)} training images, fewer than a "
            f"batch of {t.batch_size}: lower --valid-size or --batch-size"
        )


def _epoch_iters(config: ExperimentConfig, dataset: str) -> int:
    """train_epochs as steps on the dataset's training images (after the validation split)."""
    t = config.train
    n = DATASETS.get(dataset).counts()[0] - config.data.valid_size
    steps = epoch_steps(t.train_epochs, n, t.batch_size) if n > 0 else 0
    if not 1 <= steps <= limits.MAX_TRAIN_ITERS:
        raise UserError(
            f"train_epochs {t.train_epochs:g} is {steps} steps of {t.batch_size} on {max(n, 0)} "
            f"training images: it must give 1 to {limits.MAX_TRAIN_ITERS}"
        )
    return steps


def config_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Inverse of ``ExperimentConfig.to_dict`` (nested, components as ``{name, params}``), as
    stored in a run directory; also the flat sections stored before components owned their
    settings. A field or setting added after the config was written takes the value that
    reproduces the old behaviour (its ``since_value`` or `since`), not today's default."""
    flat = flatten_mapping(raw, "stored config")
    for name, meta in FIELD_META.items():
        if "since_value" in meta and not callable(meta["since_value"]):  # else from_flat's
            flat.setdefault(name, meta["since_value"])
    return from_flat(flat, stored=True)


def replace_fields(config: ExperimentConfig, **overrides: Any) -> ExperimentConfig:
    """A copy with flat-named fields replaced (unknown names are a UserError). Replacing
    adv_train alone also replaces the objective it implies."""
    base = config.flat()
    if "adv_train" in overrides and "objective" not in overrides:
        del base["objective"]
    return from_flat({**base, **overrides})
