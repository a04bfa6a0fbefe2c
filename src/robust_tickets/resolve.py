"""From flat values to a validated, canonical `ExperimentConfig`.

`from_flat` builds a config from flat field names (CLI flags, YAML files, sweep axes) on top of
the defaults (a dataset may have its own threat model: `config.DATASET_DEFAULTS`), and
`validate` checks ranges, canonicalises registry names (aliases share a directory), checks the
model against the dataset's images and gives every setting that no chosen component reads its
default: each attack, strategy, allocation and model declares what it reads, and a run's
identity depends only on those. This module sits above the registries it consults (data,
models, attacks, pruning), so `config` below them stays plain data.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from robust_tickets import limits
from robust_tickets.attacks import ATTACKS
from robust_tickets.config import (
    DATASET_DEFAULTS,
    FIELD_DEFAULTS,
    FIELD_META,
    FIELD_TYPES,
    SECTION_CLASSES,
    ExperimentConfig,
    coerce,
    flatten_mapping,
)
from robust_tickets.data import DATASETS
from robust_tickets.errors import UserError
from robust_tickets.models import MODELS
from robust_tickets.pruning import CRITERIA, PRUNE_METHODS, STRATEGIES
from robust_tickets.schedule import TRAIN_LOOPS


def defaults_for(dataset: str) -> dict[str, Any]:
    """Every field's default for runs on `dataset` (a name or alias)."""
    name = DATASETS.canonical(dataset) if dataset in DATASETS else dataset
    return {**FIELD_DEFAULTS, **DATASET_DEFAULTS.get(name, {})}


def from_flat(values: dict[str, Any]) -> ExperimentConfig:
    """Build a config from flat field names; canonicalises registry names and validates."""
    unknown = sorted(set(values) - set(FIELD_TYPES))
    if unknown:
        raise UserError(
            f"unknown config field(s) {', '.join(unknown)}: see `robust-tickets run --help`"
        )
    given = {k: coerce(k, v) for k, v in values.items()}
    merged = {**defaults_for(given.get("dataset", FIELD_DEFAULTS["dataset"])), **given}
    sections = {
        name: cls(**{f.name: merged[f.name] for f in fields(cls)})
        for name, cls in SECTION_CLASSES.items()
    }
    config = ExperimentConfig(**sections, seed=merged["seed"])
    return validate(config)


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
        ("steps", a.steps, limits.MAX_STEPS),
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
        (a.step_size >= 0, "step_size must be >= 0"),
        (a.steps >= 1, "steps must be at least 1"),
        (d.valid_size >= 0, "valid_size must be >= 0"),
        (d.test_size >= 0, "test_size must be >= 0 (0: the whole test set)"),
        (0 <= d.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
        (p.prune_iters >= 0, "prune_iters must be >= 0"),
        (0 <= p.prune_rate < 1, "prune_rate must be in [0, 1)"),
        (0 <= p.prune_rate_output < 1, "prune_rate_output must be in [0, 1)"),
        (0 <= p.prune_rate_conv < 1, "prune_rate_conv must be in [0, 1)"),
        (0 <= p.rewind_iter <= t.train_iters, "rewind_iter must be in [0, train_iters]"),
        (p.snip_batches >= 1, "snip_batches must be at least 1"),
        (p.hydra_iters >= 1, "hydra_iters (HYDRA's pruning phase) must be at least 1"),
        (p.hydra_lr > 0, "hydra_lr must be positive"),
        (config.seed >= 0, "seed must be >= 0"),
        (a.attack_labels in ("true", "predicted"), "attack_labels must be true or predicted"),
        (t.train_loop in TRAIN_LOOPS, "train_loop must be steps or keras"),
        (0 <= t.stop_step <= limits.MAX_TRAIN_ITERS, "stop_step must be >= 0 (0: off)"),
        (t.adam in ("torch", "keras"), "adam must be torch or keras"),
        (t.loss_form in ("logits", "clipped"), "loss_form must be logits or clipped"),
        (a.nfgsm_noise >= 0, "nfgsm_noise must be >= 0 (0: no noise)"),
        (a.nfgsm_step > 0, "nfgsm_step must be positive"),
        (a.fgsm_rs_step > 0, "fgsm_rs_step must be positive"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"{message}: fix the flag or config file")
    dataset = DATASETS.canonical(d.dataset)
    model = MODELS.canonical(config.model.model)
    model_spec = MODELS.get(model)
    shape = DATASETS.get(dataset).input_shape()
    why = model_spec.fits(shape)
    if why is not None:
        raise UserError(
            f"model {model} does not fit {dataset}'s images {shape}: it {why}; "
            "choose another --model or --dataset"
        )
    attack = ATTACKS.get(a.attack)
    strategy = STRATEGIES.get(p.strategy)
    allocation = PRUNE_METHODS.get(p.prune_method)
    criterion = CRITERIA.get(p.criterion)
    flat = {
        **config.flat(),
        "dataset": dataset,
        "model": model,
        "attack": attack.name,
        "strategy": STRATEGIES.canonical(p.strategy),
        "prune_method": PRUNE_METHODS.canonical(p.prune_method),
        "criterion": CRITERIA.canonical(p.criterion),
    }
    # A setting no chosen component reads gets its default, so that two runs differing only
    # in it are one run (one directory). Today's names are kept: a run made before this rule
    # with such a setting at its default hashes as it did.
    used = set(attack.uses) | set(strategy.uses)
    if strategy.prunes:
        used |= {"prune_iters", "prune_method", "criterion", "one_shot", *allocation.rate_fields}
        used |= set(criterion.uses)
        _check_training_data(config, dataset, criterion.needs_data)
    if "conv" not in model_spec.kinds:
        used.discard("prune_rate_conv")
    defaults = defaults_for(dataset)
    for name in COMPONENT_FIELDS - used:
        flat[name] = defaults[name]
    if not strategy.prunes:  # the dense baseline runs one level whatever prune_iters says
        flat["prune_iters"] = 0
    sections = {
        name: cls(**{f.name: flat[f.name] for f in fields(cls)})
        for name, cls in SECTION_CLASSES.items()
    }
    return ExperimentConfig(**sections, seed=config.seed)


# Fields that only some components read (see `validate`); every other field always matters.
COMPONENT_FIELDS = frozenset(
    {
        "step_size",
        "steps",
        "random_start",
        "nfgsm_noise",
        "nfgsm_step",
        "fgsm_rs_step",
        "rewind_iter",
        "prune_iters",
        "prune_method",
        "criterion",
        "prune_rate",
        "prune_rate_output",
        "prune_rate_conv",
        "one_shot",
        "snip_batches",
        "hydra_iters",
        "hydra_lr",
    }
)


def _check_training_data(config: ExperimentConfig, dataset: str, needs_data: bool) -> None:
    """A criterion that draws training batches needs at least one batch of training images."""
    p, t = config.prune, config.train
    if not needs_data or p.prune_iters == 0:
        return
    train = DATASETS.get(dataset).counts()[0] - config.data.valid_size
    if train < t.batch_size:
        raise UserError(
            f"criterion {p.criterion} draws training batches but valid_size "
            f"{config.data.valid_size} leaves {max(train, 0)} training images, fewer than a "
            f"batch of {t.batch_size}: lower --valid-size or --batch-size"
        )


def config_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Inverse of ``ExperimentConfig.to_dict`` (nested), as stored in a run directory.

    A field added after the config was written takes the value that reproduces the old
    behaviour (its ``since_value``), not today's default."""
    flat = flatten_mapping(raw, "stored config")
    for name, meta in FIELD_META.items():
        if "since_value" in meta:
            flat.setdefault(name, meta["since_value"])
    return from_flat(flat)


def replace_fields(config: ExperimentConfig, **overrides: Any) -> ExperimentConfig:
    """A copy with flat-named fields replaced (unknown names are a UserError)."""
    return from_flat({**config.flat(), **overrides})
