"""Honest robustness: strong attacks, robustness curves over eps, gradient-masking checks.

`runner.evaluate_experiment` evaluates saved tickets; `attacks.EVAL_ATTACKS` is the registry of
evaluation attacks (named presets over `robust_tickets.attacks.Attack`, components owning their
strength settings; `presets(settings)` builds them at an evaluation's); results live in each
level's ``robustness/`` directory (`store`) and are read back as rows by
`robust_tickets.results.iter_eval_rows`; `figures` plots them.
"""

from robust_tickets.evaluation.attacks import (
    EVAL_ATTACKS,
    AttackContext,
    EvalPreset,
    eval_preset,
    presets,
)
from robust_tickets.evaluation.checks import Thresholds, run_checks
from robust_tickets.evaluation.robustness import robust_examples, worst_case
from robust_tickets.evaluation.runner import (
    DEFAULT_ATTACKS,
    DEFAULT_EPS,
    EvalOptions,
    evaluate_experiment,
    load_ticket,
)

__all__ = [
    "DEFAULT_ATTACKS",
    "DEFAULT_EPS",
    "EVAL_ATTACKS",
    "AttackContext",
    "EvalOptions",
    "EvalPreset",
    "Thresholds",
    "eval_preset",
    "evaluate_experiment",
    "load_ticket",
    "presets",
    "robust_examples",
    "run_checks",
    "worst_case",
]
