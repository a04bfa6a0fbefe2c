"""Every metrics row under a directory, joined with its experiment, trial and level.

This is the stable interface that reports, sweeps, notebooks and checks read
(`robust-tickets results DIR --json`). Accuracies are fractions in [0, 1]; `remaining` is the
percent of prunable weights left at that level. Columns added later come last
(`ADDED_FIELDS`), so a table read by position keeps its columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from robust_tickets.config import ExperimentConfig
from robust_tickets.objectives import OBJECTIVES
from robust_tickets.schedule import level_steps
from robust_tickets.store import (
    ExperimentDir,
    LevelDir,
    experiments_under,
    read_json,
    read_level_info,
    read_level_metrics,
)

# Appended after every other column (of the training and the evaluation rows alike):
# objective: the training loss (natural, mixed, madry, trades); `adv_train` alone cannot tell
#   mixed from madry or trades;
# objective_params: its settings that are not at their defaults, `name=value` joined by commas
#   like `eval_params` ("trades_beta=1.0"; "" at the defaults);
# final_from: where a finished level's final weights come from (done.json `final_weights`):
#   `end`, or `best_check` where the overfitting check put its best check's weights back;
#   "" for a level unfinished or run without the check.
ADDED_FIELDS = ("objective", "objective_params", "final_from")
_FIRST_FIELDS = (
    "experiment",
    "hash",
    "dataset",
    "model",
    "attack",
    "eps",
    "adv_train",
    "strategy",
    "prune_method",
    "criterion",
    "one_shot",
    "train_iters",
    "trial",
    "level",
    "remaining",
    "complete",
    "iteration",
    "label",
    "split",
    "loss",
    "acc",
    "adv_loss",
    "adv_acc",
)
ROW_FIELDS = (*_FIRST_FIELDS, *ADDED_FIELDS)


def objective_params(flat: Mapping[str, Any]) -> str:
    """The chosen objective's settings that are not at their defaults, from a flat config
    (`ExperimentConfig.flat`) or a row of these (which carries them): "trades_beta=1.0", or
    "" where all are."""
    if "objective_params" in flat:
        return str(flat["objective_params"] or "")
    spec = OBJECTIVES.spec(flat["objective"], flat)
    params = spec.params
    if params is None:
        return ""
    changed = {
        params.flat_names[f.name]: getattr(params, f.name)
        for f in fields(params)
        if getattr(params, f.name) != f.default
    }
    return ",".join(f"{k}={v}" for k, v in sorted(changed.items()))


def final_from(level_dir: LevelDir) -> str:
    """done.json's `final_weights.from` ("end", "best_check"), or "" (unfinished, or run
    without the overfitting check, which alone records it)."""
    if not level_dir.is_done():
        return ""
    source = read_json(level_dir.done).get("final_weights")
    return str(source.get("from", "")) if isinstance(source, dict) else ""


def _experiment_fields(config: ExperimentConfig) -> dict[str, Any]:
    flat = config.flat()
    return {
        "experiment": config.name(),
        "hash": config.hash(),
        "dataset": config.data.dataset,
        "model": config.model.model,
        "attack": config.attack.attack.name,
        "eps": config.attack.eps,
        "adv_train": config.train.adv_train,
        "strategy": config.prune.strategy.name,
        "prune_method": config.prune.allocation.name,
        "criterion": config.prune.criterion.name,
        "one_shot": config.prune.one_shot,
        # the level's training steps (the keras loop's 60 epochs are 50,040 steps, not the
        # config's train_iters of 50,000): a row with iteration == train_iters is a level's end
        "train_iters": level_steps(config),
        "objective": flat["objective"],
        "objective_params": objective_params(flat),
    }


def iter_rows(
    roots: str | Path | Sequence[str | Path], *, include_eval: bool = False
) -> Iterator[dict[str, Any]]:
    """Training metrics rows of every experiment under `roots` (each once); with
    `include_eval`, then their evaluation rows (`iter_eval_rows`)."""
    experiments = list(experiments_under(roots))
    for exp in experiments:
        config = exp.config()
        base = _experiment_fields(config)
        for trial, trial_dir in exp.trials():
            for level, level_dir in trial_dir.levels():
                if not level_dir.info.is_file():
                    continue
                info = read_level_info(level_dir.info)
                where = {
                    **base,
                    "trial": trial,
                    "level": level,
                    "remaining": info["remaining"],
                    "complete": level_dir.is_done(),
                    "final_from": final_from(level_dir),
                }
                for row in read_level_metrics(level_dir):
                    yield {**where, **row}
    if include_eval:
        yield from _eval_rows(experiments)


# ---- strong-attack evaluation (`robust-tickets evaluate`) ----------------------------------
# Separate rows with their own `split`, so consumers of the training rows never see them:
# split "robustness": one row per (evaluation attack, eps) and the per-example worst case
#   (eval_attack "worst-case"); acc = fraction of the first n_examples test examples robust;
# split "masking-check": one row per gradient-masking check with flag pass/warn/skip.
# `attack`/`eps` stay the training attack and eps; the evaluation's are eval_attack/eval_eps.
EVAL_ROW_FIELDS = (
    *_FIRST_FIELDS[: _FIRST_FIELDS.index("split") + 1],
    "eval_attack",
    "eval_params",
    "eval_eps",
    "n_examples",
    "correct",
    "acc",
    "role",
    "seconds",
    "check",
    "flag",
    "detail",
    *ADDED_FIELDS,
)


def table_fields(include_eval: bool = False) -> tuple[str, ...]:
    """The columns of `results --csv` (`--eval`: the evaluation rows' too), the added ones
    last."""
    if not include_eval:
        return ROW_FIELDS
    first = (*_FIRST_FIELDS, *(f for f in EVAL_ROW_FIELDS if f not in ROW_FIELDS))
    return (*first, *ADDED_FIELDS)


def iter_eval_rows(roots: str | Path | Sequence[str | Path]) -> Iterator[dict[str, Any]]:
    """The evaluation rows of every experiment under `roots` (each once)."""
    return _eval_rows(experiments_under(roots))


def _eval_rows(experiments: Iterable[ExperimentDir]) -> Iterator[dict[str, Any]]:
    from robust_tickets.evaluation.store import RobustnessDir

    for exp in experiments:
        config = exp.config()
        base = _experiment_fields(config)
        for trial, trial_dir in exp.trials():
            for level, level_dir in trial_dir.levels():
                store = RobustnessDir.of(level_dir)
                if not (store.table.is_file() and level_dir.info.is_file()):
                    continue
                where = {
                    **base,
                    "trial": trial,
                    "level": level,
                    "remaining": read_level_info(level_dir.info)["remaining"],
                    "complete": level_dir.is_done(),
                    "iteration": level_steps(config),
                    "final_from": final_from(level_dir),
                }
                for row in store.read_table():
                    yield {
                        **where,
                        "split": "robustness",
                        "eval_attack": row["attack"],
                        "eval_params": row["params"],
                        "eval_eps": row["eps"],
                        "n_examples": row["n"],
                        "correct": row["correct"],
                        "acc": row["acc"],
                        "role": row["role"],
                        "seconds": row["seconds"],
                    }
                report = store.read_checks()
                for check in report["checks"] if report else []:
                    yield {
                        **where,
                        "split": "masking-check",
                        "eval_eps": report["eps"],
                        "n_examples": report["n"],
                        "check": check["check"],
                        "flag": check["flag"],
                        "detail": check["detail"],
                    }
