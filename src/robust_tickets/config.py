"""Typed, frozen experiment configuration: defaults are the paper's.

This module is data only (the dataclasses, their field tables, presets, the hash); building a
config from flat values and validating it against the registries of datasets, models, attacks
and pruning components is `robust_tickets.resolve`, which sits above those packages.

A config holds run-wide fields and one `{name, params}` spec per chosen pruning component
(strategy, allocation, criterion), training component (optimizer, learning-rate schedule,
objective) and attack, whose params the component owns. Every field, component and
component setting also has a unique flat name (``eps``, ``criterion``, ``snip_batches`` ...) so
that CLI flags, YAML files and sweep axes all use the same vocabulary. An experiment's identity
is a hash of its run-wide fields and its chosen components' settings (`ExperimentConfig.hash`);
fields added after the first release carry ``since_value`` metadata (settings: `since`) and are
left out of the hash only while they hold that value, so old run directories keep their names
while any two configs that differ still get different directories.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from robust_tickets.components import Spec
from robust_tickets.components import coerce as coerce_value
from robust_tickets.components import number as number  # re-exported: CLI parsers use it
from robust_tickets.errors import UserError
from robust_tickets.names import SETTINGS

_NO_SINCE = object()


def _f(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class DataConfig:
    dataset: str = _f("fashion_mnist", "dataset name (see `robust-tickets data list`)")
    valid_size: int = _f(10_000, "validation = the first N training images; train = the rest")
    test_size: int = _f(0, "evaluate on the first N test images (0: all of them)", since_value=0)
    label_smoothing: float = _f(0.1, "label smoothing on training and validation targets")


@dataclass(frozen=True)
class ModelConfig:
    model: str = _f(
        "dense-300-100",
        "model name from the model registry, or your own network: package.module:function or "
        "path/to/file.py:function (docs/models.md)",
    )


@dataclass(frozen=True)
class AttackConfig:
    """The training attack, a `{name, params}` spec owning its settings
    (`robust_tickets.attacks`: PGD's steps, N-FGSM's noise), and the run-wide threat model."""

    # (a Spec is frozen: one shared default instance is safe)
    attack: Spec = _f(Spec("fgsm"), "attack used for adversarial training and evaluation")  # noqa: RUF009
    eps: float = _f(0.3, "L-inf radius of the attack")
    # The reference calls CleverHans' `attack.generate(x)` without labels, so its attacks
    # ascend the loss of the model's own predictions; that is the default here too.
    attack_labels: str = _f(
        "predicted",
        "labels the attack ascends the loss of: the model's `predicted` ones (the paper's, via "
        "CleverHans; no label leaking) or the `true` classes",
        since_value="true",
    )

    @property
    def params(self) -> Any:
        """The chosen attack's settings (`attack.params`)."""
        return self.attack.params


def implied_objective(flat: dict[str, Any]) -> str:
    """The objective a config without one means: the paper's `mixed` with `adv_train`, else
    `natural` (how every run trained before objectives were chosen). A field's `since_value`
    may be such a function of the flat config: the hash leaves the objective out at it."""
    return "mixed" if flat["adv_train"] else "natural"


CO_ACTIONS = ("warn", "stop", "restore")


@dataclass(frozen=True)
class TrainConfig:
    adv_train: bool = _f(
        False,
        "adversarial training: the paper's 0.5*CE(natural) + 0.5*CE(adversarial) unless "
        "--objective says otherwise (every objective but natural sets it)",
    )
    learning_rate: float = _f(1.2e-3, "learning rate (a schedule multiplies it per step)")
    batch_size: int = _f(60, "training batch size")
    train_iters: int = _f(50_000, "training iterations per pruning level")
    eval_every: int = _f(500, "evaluate on the full validation and test sets every N iterations")
    l1_reg: float = _f(0.0, "L1 penalty on the (masked) weights")
    train_loop: str = _f(
        "steps",
        "`steps`: train_iters steps, evaluation every eval_every steps; `keras`: the original "
        "code's Keras fit loop (int(train_iters / n * batch) epochs of ceil(n / batch) batches, "
        "the last one short; evaluation after in-epoch batches 0, eval_every, ...; labels count "
        "evaluations: docs/faithfulness.md)",
        since_value="steps",
    )
    stop_step: int = _f(
        0,
        "end every level after this many steps of its loop, evaluating there (0: the loop's "
        "full length)",
        since_value=0,
    )
    eval_until: int = _f(
        0,
        "evaluate on the loop's schedule only up to this many steps of a level, then once at "
        "its end (0: to the end; the paper's tables read step 25,021 of 50,040)",
        since_value=0,
    )
    train_epochs: float = _f(
        0.0,
        "train every level ceil(train_epochs * n_train / batch_size) steps, replacing "
        "train_iters (0: train_iters steps)",
        since_value=0.0,
    )
    augment: str = _f(
        "none",
        "training-batch augmentation: `none` or `crop-flip` (zero-pad 4, random crop, random "
        "horizontal flip; seeded per level and step), applied before the attack",
        since_value="none",
    )
    # (a Spec is frozen: one shared default instance is safe)
    optimizer: Spec = _f(  # noqa: RUF009
        Spec("adam"),
        "optimizer: adam (the paper's) or sgd (robust_tickets.optim)",
        since_value="adam",
    )
    lr_schedule: Spec = _f(  # noqa: RUF009
        Spec("constant"),
        "learning-rate schedule over each level's steps: constant, piecewise or cosine",
        since_value="constant",
    )
    # (a Spec is frozen: one shared default instance is safe)
    objective: Spec = _f(  # noqa: RUF009
        Spec("natural"),
        "training loss: natural, mixed (the paper's 50/50; what --adv-train alone means), madry "
        "(CE of the adversarial batch, attacked on the true labels) or trades (CE(natural) + "
        "trades_beta KL(p(x) || p(x_adv)), its KL attack with --attack pgd's settings); "
        "given, it decides adv_train (docs/training.md)",
        since_value=implied_objective,
    )
    co_check: bool = _f(
        False,
        "catastrophic-overfitting check: PGD-10 accuracy (step eps/4, random start, true labels) "
        "of a fixed batch of 256 validation (else test) images every co_every steps, written to "
        "each level's co.json",
        since_value=False,
    )
    co_every: int = _f(
        0, "co_check: steps between checks (0: one epoch, ceil(n_train / batch))", since_value=0
    )
    co_drop: float = _f(
        0.2,
        "co_check: the check fires when PGD accuracy falls more than this (absolute) below its "
        "best so far",
        since_value=0.2,
    )
    co_action: str = _f(
        "warn",
        "co_check: when it fires, `warn` (one line), `stop` (end the level, keeping the best "
        "check's weights) or `restore` (train on, end the level with the best check's weights)",
        since_value="warn",
    )
    loss_form: str = _f(
        "logits",
        "cross-entropy `logits`: exact, from the logits; `clipped`: TF 1.13 Keras's "
        "categorical_crossentropy on softmax probabilities clipped to [1e-7, 1 - 1e-7], as the "
        "original code trained (no gradient through a clipped probability)",
        since_value="logits",
    )

    @property
    def adam(self) -> str:
        """The `adam` optimizer's numerics (`torch` or `keras`; `torch` for any other)."""
        params = self.optimizer.params
        return getattr(params, "variant", "torch") if self.optimizer.name == "adam" else "torch"


@dataclass(frozen=True)
class PruneConfig:
    """The pruning components, each a `{name, params}` spec owning its settings
    (`robust_tickets.pruning`), and the run-wide pruning fields."""

    # (a Spec is frozen: one shared default instance is safe)
    strategy: Spec = _f(Spec("reset"), "what happens to surviving weights after pruning")  # noqa: RUF009
    allocation: Spec = _f(  # noqa: RUF009
        Spec("layerwise"),
        "allocation: the schedule's counts per layer, or over all layers at once",
    )
    criterion: Spec = _f(  # noqa: RUF009
        Spec("magnitude"),
        "pruning criterion: magnitude, random, shuffle, snip or hydra (see docs/criteria.md)",
        since_value="magnitude",
    )
    # `after_level0`: read only once level 0 is trained (how many levels follow it, what they
    # prune from), so runs differing in nothing else share one level 0 (`engine.borrow`); a field
    # without it keeps runs apart. The pruning components say the same of themselves.
    prune_iters: int = _f(20, "pruning levels after the dense level 0", after_level0=True)
    one_shot: bool = _f(
        False,
        "prune the dense level-0 network straight to each level's sparsity (instead of the "
        "previous level's ticket); with strategy `continue` survivors start from its weights",
        since_value=False,
        after_level0=True,
    )
    prune_levels: str = _f(
        "",
        "comma-separated levels of the pruning schedule to train after the dense level 0, "
        "increasing, e.g. 3,8,11,15,18 (the paper's table sparsities in five rounds; "
        "prune_iters becomes their count); empty: every level 1..prune_iters",
        since_value="",
        after_level0=True,
    )

    @property
    def schedule_levels(self) -> tuple[int, ...]:
        """The schedule level (the exponent of the allocation's keep rate) that each pruned
        level 1, 2, ... prunes to."""
        if not self.prune_levels:
            return tuple(range(1, self.prune_iters + 1))
        return parse_levels(self.prune_levels)


def parse_levels(text: str) -> tuple[int, ...]:
    """`prune_levels` as integers: strictly increasing, each at least 1 (ValueError if not)."""
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if levels[0] < 1 or any(b <= a for a, b in itertools.pairwise(levels)):
        raise ValueError(f"{text!r} is not strictly increasing from 1 or more")
    return levels


@dataclass(frozen=True)
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    seed: int = 0

    # ---- flat access -------------------------------------------------------------------
    def specs(self) -> dict[str, Spec]:
        """The chosen components by their flat field (``{"criterion": Spec("snip", ...)}``)."""
        return {key: getattr(getattr(self, s), attr) for key, (s, attr) in SLOTS.items()}

    def flat(self) -> dict[str, Any]:
        """All fields as one flat dict (``{"dataset": ..., "eps": ..., "snip_batches": ...}``):
        each component by name, every component setting by its flat name (the chosen
        components' values; a setting of a component not chosen at its default, the
        dataset's where it has one)."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            for f in fields(SECTION_CLASSES[section]):
                if f.type != "Spec":
                    out[f.name] = getattr(getattr(self, section), f.name)
        out["seed"] = self.seed
        dataset = DATASET_DEFAULTS.get(self.data.dataset, {})
        out.update({name: dataset.get(name, FIELD_DEFAULTS[name]) for name in SETTINGS})
        for key, spec in self.specs().items():
            out[key] = spec.name
            if spec.params is not None:
                out.update(spec.params.flat())
        return out

    # ---- identity ----------------------------------------------------------------------
    def hash(self) -> str:
        """A hash of every run-wide field and of the chosen components' settings.

        Run-wide fields and component names are hashed as always (a field added later is left
        out at its `since_value`). Settings that were flat fields before components owned them
        (`LEGACY_SETTINGS`) are hashed as they were then, so no run directory is renamed;
        any other setting of a chosen component only where it is not at its neutral value."""
        flat = self.flat()
        hashed: dict[str, Any] = {}
        for name in FIELD_META:
            meta = FIELD_META[name]
            since = meta.get("since_value", _NO_SINCE)
            if callable(since):  # a value implied by other fields (the objective by adv_train)
                since = since(flat)
            if name in SETTINGS or flat[name] == since:
                continue
            hashed[name] = flat[name]
        chosen: dict[str, Any] = {}
        neutral: dict[str, Any] = {}
        for key, spec in self.specs().items():
            if spec.params is None:
                raise ValueError(f"{key} {spec.name!r} is not resolved: use resolve.from_flat")
            chosen.update(spec.params.flat())
            neutral.update(spec.params.neutral())
        dataset = DATASET_DEFAULTS.get(self.data.dataset, {})
        for name, (unread, since) in LEGACY_SETTINGS.items():
            value = chosen.get(name, dataset.get(name, unread))
            if since is _ALWAYS or value != since:
                hashed[name] = value
        for name, value in chosen.items():
            if name not in LEGACY_SETTINGS and value != neutral[name]:
                hashed[name] = value
        blob = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    def name(self) -> str:
        """`dataset-model-attack-adv|nat-strategy[-choices]-hash`. A pruning choice that is not
        its default (criterion, one-shot, allocation) is spelled out, so runs that differ in
        one are told apart by name, not only by hash; at their defaults nothing is added, so
        existing directories keep their names."""
        mode = "adv" if self.train.adv_train else "nat"
        prune, default = self.prune, PruneConfig()
        model = model_dir_part(self.model.model)
        parts = [self.data.dataset, model, self.attack.attack.name, mode, prune.strategy.name]
        if prune.criterion.name != default.criterion.name:
            parts.append(f"criterion_{prune.criterion.name}")
        if prune.one_shot != default.one_shot:
            parts.append("one_shot")
        if prune.allocation.name != default.allocation.name:
            parts.append(prune.allocation.name)
        if self.train.objective.name != implied_objective({"adv_train": self.train.adv_train}):
            parts.append(self.train.objective.name)
        return "-".join([*parts, self.hash()])

    def legacy_name(self) -> str:
        """The name before the pruning choices were spelled out (same hash): a run made then
        is found and resumed under it (`store.experiment_dir`)."""
        mode = "adv" if self.train.adv_train else "nat"
        parts = [self.data.dataset, model_dir_part(self.model.model), self.attack.attack.name, mode]
        return "-".join([*parts, self.prune.strategy.name, self.hash()])

    def to_dict(self) -> dict[str, Any]:
        """Nested sections, each component as ``{name, params}`` (all its settings)."""
        return dataclasses.asdict(self)


def model_dir_part(model: str) -> str:
    """The model's part of a run directory's name: a registered model's name as it is; a user's
    ``path/to/nets.py:build@digest`` as ``nets.build`` (no ``/`` or ``:``; the reference and
    its source's digest are in the run's hash)."""
    if ":" not in model:
        return model
    target, _, function = model.rpartition("@")[0].rpartition(":")
    stem = target[: -len(".py")] if target.endswith(".py") else target
    stem = stem.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._=+]", "_", f"{stem}.{function}")


SECTIONS = ("data", "model", "attack", "train", "prune")
SECTION_TYPES = {f.name: f.type for f in fields(ExperimentConfig) if f.name in SECTIONS}
SECTION_CLASSES = {
    "data": DataConfig,
    "model": ModelConfig,
    "attack": AttackConfig,
    "train": TrainConfig,
    "prune": PruneConfig,
}
# The components a config holds: flat field (CLI flag, YAML key, sweep axis) -> (section,
# attribute). `allocation` keeps its flat name of before, `prune_method`.
SLOTS: dict[str, tuple[str, str]] = {
    "attack": ("attack", "attack"),
    "strategy": ("prune", "strategy"),
    "prune_method": ("prune", "allocation"),
    "criterion": ("prune", "criterion"),
    "optimizer": ("train", "optimizer"),
    "lr_schedule": ("train", "lr_schedule"),
    "objective": ("train", "objective"),
}
RENAMED = {"allocation": "prune_method"}  # a spec's attribute, accepted as its flat field

# The flat vocabulary: every run-wide field, each component by its flat field and every
# component setting by its flat name (`names.SETTINGS`, the components' own declarations read
# from their source, as the torch-free `--help` needs them; tests/test_help.py checks the two
# equal).
FIELD_SECTION: dict[str, str] = {}
FIELD_META: dict[str, dict[str, Any]] = {}
FIELD_DEFAULTS: dict[str, Any] = {}
FIELD_TYPES: dict[str, type] = {}
_SLOT_OF = {attr: key for key, (_, attr) in SLOTS.items()}
for _section, _cls in SECTION_CLASSES.items():
    for _fld in fields(_cls):
        _name = _SLOT_OF.get(_fld.name, _fld.name)
        FIELD_SECTION[_name] = _section
        FIELD_META[_name] = dict(_fld.metadata)
        FIELD_DEFAULTS[_name] = _fld.default.name if _name in SLOTS else _fld.default
        FIELD_TYPES[_name] = type(FIELD_DEFAULTS[_name])
FIELD_META["seed"] = {"help": "base seed; each trial derives its own seeds from it"}
FIELD_DEFAULTS["seed"] = 0
FIELD_TYPES["seed"] = int
for _name, (_kind, _default, _help) in SETTINGS.items():
    FIELD_META[_name] = {"help": _help}
    FIELD_DEFAULTS[_name] = _default
    FIELD_TYPES[_name] = _kind

# The settings that were flat fields before the components owned them (frozen history, never
# extended): flat name -> (the value a run whose components do not read it stored, and the
# value at which the hash left it out, or _ALWAYS). `hash` keeps hashing them as it did then.
_ALWAYS = object()
LEGACY_SETTINGS: dict[str, tuple[Any, Any]] = {
    "prune_rate": (0.2, _ALWAYS),
    "prune_rate_output": (0.1, _ALWAYS),
    "prune_rate_conv": (0.1, 0.1),
    "rewind_iter": (0, _ALWAYS),
    "snip_batches": (10, 10),
    "hydra_iters": (500, 500),
    "hydra_lr": (0.1, 0.1),
    "adam": ("torch", "torch"),  # TrainConfig.adam until the optimizer owned it
    # AttackConfig's fields until the attacks owned them; a run on a dataset of its own
    # threat model stored that dataset's value (`DATASET_DEFAULTS`: CIFAR-10's step 2/255)
    "step_size": (0.05, _ALWAYS),
    "steps": (10, _ALWAYS),
    "random_start": (True, _ALWAYS),
    "nfgsm_noise": (2.0, 2.0),
    "nfgsm_step": (1.0, 1.0),
    "fgsm_rs_step": (1.25, 1.25),
}


def coerce(name: str, value: Any) -> Any:
    """`value` of the flat field `name`, typed like its default; a UserError if it is not."""
    return coerce_value(name, FIELD_TYPES[name], value)


# The standard threat model of a dataset where it is not the paper's (Madry et al. for CIFAR-10:
# PGD-10 of step 2/255 at eps 8/255 from a random start, ascending the loss of the true labels):
# defaults for runs on it that do not set these fields.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "cifar10": {
        "eps": 8 / 255,
        "step_size": 2 / 255,
        "steps": 10,
        "random_start": True,
        "attack_labels": "true",
    },
}


# `evaluate`'s default radii (the robustness curve) for a dataset whose threat model is not the
# paper's; the others get 0, 0.05, ..., 0.4 (evaluation.runner.DEFAULT_EPS).
DATASET_EVAL_EPS: dict[str, tuple[float, ...]] = {
    "cifar10": tuple(k / 255 for k in (0, 2, 4, 6, 8, 10, 12, 16)),
}


def flatten_mapping(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept flat keys or nested sections (``train: {train_iters: 10}``) from YAML."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        # `attack: {name: pgd, params: ...}` is the attack's spec, not the attack section
        spec = key in SLOTS and isinstance(value, dict) and "name" in value
        section = (
            value if key in SECTIONS and isinstance(value, dict) and not spec else {key: value}
        )
        for k, v in section.items():
            name = RENAMED.get(str(k), str(k))
            if name in flat:
                raise UserError(f"{source}: {name} is given twice (also as {k}): keep one")
            flat[name] = v
    unknown = sorted(set(flat) - set(FIELD_TYPES))
    if unknown:
        raise UserError(f"{source}: unknown config field(s) {', '.join(unknown)}")
    return flat


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; any problem becomes a one-line UserError."""
    path = Path(path)
    from robust_tickets import yaml_strict

    try:
        raw = yaml_strict.load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist: check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        if isinstance(exc, yaml_strict.DuplicateKey):
            raise UserError(f"config file {path}{line}: {exc.problem}: keep one") from None
        raise UserError(f"config file {path} is not valid YAML{line}: fix its syntax") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping of field: value")
    return raw


# Frankle & Carbin (2019), Figure 2: Adam learning rate, batch 60, conv / fc / output rates.
_CONV_PRESET = {"dataset": "cifar10", "batch_size": 60, "prune_rate": 0.2, "prune_rate_output": 0.1}

# The standard CIFAR recipe (He et al. 2016; Madry et al. 2018): SGD, momentum 0.9, weight
# decay 5e-4, rate 0.1 (decayed by a cosine over each level), batch 128, pad-4 crop + flip.
_CIFAR_SGD = {
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "learning_rate": 0.1,
    "lr_schedule": "cosine",
    "batch_size": 128,
    "augment": "crop-flip",
}

PRESETS: dict[str, dict[str, Any]] = {
    # What the original code ran (docs/faithfulness.md): its `reinit_orig` restarts every level
    # from the dense network's trained weights, its Keras loop trains 60 epochs of 834 batches
    # and labels evaluations by count, and TF 1.13's Keras trained on clipped probabilities with
    # its own Adam. The defaults are what the paper's text describes (the lottery-ticket reset).
    "paper": {
        "strategy": "rewind_trained",
        "train_loop": "keras",
        "adam": "keras",
        "loss_form": "clipped",
    },
    # The convolutional networks of the lottery-ticket literature with their published
    # hyperparameters; the rest (attack, training length, levels) as given or the defaults.
    "lenet5": {"model": "lenet5", "learning_rate": 1.2e-3},
    "conv2": {**_CONV_PRESET, "model": "conv2", "learning_rate": 2e-4, "prune_rate_conv": 0.1},
    "conv4": {**_CONV_PRESET, "model": "conv4", "learning_rate": 3e-4, "prune_rate_conv": 0.1},
    "conv6": {**_CONV_PRESET, "model": "conv6", "learning_rate": 3e-4, "prune_rate_conv": 0.15},
    # Conv-2 on CIFAR-10 with PGD adversarial training in under 10 minutes on 2 CPU cores
    # (sized by measurement: docs/cifar.md). The standard threat model (eps 8/255, the true
    # labels' loss) with a 3-step PGD of step ~2.5*eps/3 for training, Adam at 1e-3 (better
    # than 2e-4 or 2e-3 over so few iterations), 3 levels of 130 iterations evaluated on 250
    # validation and 500 test images: a real but tiny lottery-ticket run whose tickets
    # `evaluate` then attacks with strong attacks.
    "cifar-quick": {
        **_CONV_PRESET,
        "model": "conv2",
        "prune_rate_conv": 0.1,
        "learning_rate": 1e-3,
        "attack": "pgd",
        "steps": 3,
        "step_size": 0.025,
        "adv_train": True,
        "strategy": "reset",
        "train_iters": 130,
        "eval_every": 130,
        "prune_iters": 2,
        "valid_size": 250,
        "test_size": 500,
    },
    # ResNet-18 on CIFAR-10 as the Adversarial Pruning benchmark compares pruned networks
    # (Piras et al. 2024, pralab/AdversarialPruningBenchmark: ResNet-18, unstructured pruning
    # to 90 / 95 / 99% sparsity, CIFAR-10 at L-inf 8/255), trained with lottery-ticket late
    # rewinding (Frankle et al. 2020) and global magnitude pruning; sized for a GPU
    # (docs/cifar.md: its cost per `sweep --dry-run --device cuda`).
    "cifar-resnet": {
        "dataset": "cifar10",
        "model": "preact-resnet18",  # Wong et al. 2020 / Rice et al. 2020's ResNet-18
        # PGD-AT (Madry et al. 2018): CE of PGD-10 examples, step 2/255 at eps 8/255, random
        # start, true labels; the CIFAR-10 defaults spelled out so the preset reads alone
        "objective": "madry",
        "attack": "pgd",
        "eps": 8 / 255,
        "step_size": 2 / 255,
        "steps": 10,
        **_CIFAR_SGD,
        # 100 epochs per level, a usual PGD-AT length (the benchmark fixes none; HYDRA's README
        # adds 20 epochs of score search and a fine-tuning): every level repeats it, since a
        # ticket is retrained in full from its rewound weights, not fine-tuned
        "train_epochs": 100,
        "label_smoothing": 0.0,  # plain cross-entropy, as PGD-AT and the benchmark's models
        "valid_size": 1000,  # 49,000 training images: 383 steps an epoch
        "test_size": 0,  # the whole test set, as the benchmark evaluates
        "eval_every": 3830,  # every 10 epochs
        # global magnitude pruning at r = 1 - 10^-0.1 per schedule level: levels 10, 13 and 20
        # leave 10.0, 5.0 and 1.0% of the weights, the benchmark's sparsities in three rounds
        "prune_method": "global",
        "prune_rate": 1 - 10**-0.1,
        "prune_levels": "10,13,20",
        # late rewinding: survivors restart from level 0's weights after 2 epochs (2 x 383
        # steps), where Frankle et al. find ResNets' tickets stable (rewinding to 0 fails there)
        "strategy": "rewind",
        "rewind_iter": 766,
    },
    # The largest ResNet experiment that gives a *relative* result on 2 CPU cores in about an
    # hour, sized by measurement (docs/cifar.md; the development machine was loaded by other
    # runs: its CPU time per step is the sizing, not its wall time). ResNet-20 with N-FGSM
    # single-step adversarial training (de Jorge et al. 2022: CE of examples from a uniform
    # start in 2 eps, one signed step of eps, no clipping; eps 8/255), the dense network
    # (level 0) and one pruned level: schedule level 7 of the global rate above, 20.0% of the
    # weights left. configs/cifar-cpu.yaml runs it beside its control, a random mask of the same
    # sparsity. One epoch per level: the networks are far from a trained ResNet-20, so compare
    # the three with each other, never with published numbers.
    "cifar-cpu": {
        "dataset": "cifar10",
        "model": "resnet20",  # He et al.'s CIFAR ResNet, open_lth's lottery-ticket network
        "objective": "madry",
        "attack": "nfgsm",  # its defaults: noise 2 eps, step 1 eps
        "eps": 8 / 255,
        **_CIFAR_SGD,  # as cifar-resnet
        # 1 epoch a level (387 steps of 128): ~1.4 CPU-s a step at 1 thread, so the grid's 6
        # jobs x 2 levels take ~55 min on 2 cores, leaving ~20 min for `evaluate`
        "train_epochs": 1,
        "label_smoothing": 0.0,
        "valid_size": 500,  # 49,500 training images
        "test_size": 1000,  # accuracies during training on the first 1,000 test images
        "eval_every": 387,  # a level's length: evaluated before training and at its end
        "prune_method": "global",
        "prune_rate": 1 - 10**-0.1,
        "prune_levels": "7",
        # late rewinding to step 20 (5% of level 0, 2,560 images): Frankle et al. rewind
        # ResNet-20 to a few % of training
        "strategy": "rewind",
        "rewind_iter": 20,
    },
    # The main job (scripts/main.sh): the quick setup carried down to the paper's 1.8% of the
    # weights (18 pruning steps), so its report reaches the paper's sparsest rows; 400 iterations
    # per level, sized by measurement (docs/speed.md) so that the run, its strong-attack check
    # and the report fit the main job's 5 minutes on 2 busy CPU cores.
    "finding": {
        "dataset": "fashion_mnist",
        "attack": "fgsm",
        "adv_train": True,
        "strategy": "reset",
        "train_iters": 400,
        "eval_every": 200,
        "prune_iters": 18,
    },
    # A real but small run: Fashion-MNIST, FGSM adversarial training, down to 8.7% of the
    # weights in a few minutes on 2 CPU cores.
    "quick": {
        "dataset": "fashion_mnist",
        "attack": "fgsm",
        "adv_train": True,
        "strategy": "reset",
        "train_iters": 1000,
        "eval_every": 500,
        "prune_iters": 11,
    },
}
# Run options that presets also set (not part of the experiment's identity).
PRESET_RUN_OPTIONS: dict[str, dict[str, Any]] = {
    "paper": {"trials": 5},
    "quick": {"trials": 2},
    "finding": {"trials": 2},
    "cifar-quick": {"trials": 1},
    "cifar-resnet": {"trials": 1},
    "cifar-cpu": {"trials": 3},
}
