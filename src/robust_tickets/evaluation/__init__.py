"""Honest robustness: strong attacks, robustness curves over eps, gradient-masking checks.

`runner.evaluate_experiment` evaluates saved tickets; `attacks.EVAL_ATTACKS` is the registry of
evaluation attacks; results live in each level's ``robustness/`` directory (`store`) and are read
back as rows by `robust_tickets.results.iter_eval_rows`; `figures` plots them.
"""

from robust_tickets.evaluation.attacks import (
    EVAL_ATTACKS,
    AttackContext,
    EvalAttack,
    EvalSettings,
    eval_attack,
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
    "EvalAttack",
    "EvalOptions",
    "EvalSettings",
    "Thresholds",
    "eval_attack",
    "evaluate_experiment",
    "load_ticket",
    "robust_examples",
    "run_checks",
    "worst_case",
]
