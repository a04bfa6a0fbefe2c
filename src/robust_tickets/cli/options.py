"""CLI flags generated from the config dataclasses, so every config field is a flag.

Nothing here imports torch (the registries do): `--help` must answer at once. Building the
config (`robust_tickets.resolve`) is imported only when a command runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robust_tickets.config import (
    FIELD_DEFAULTS,
    FIELD_META,
    FIELD_TYPES,
    PRESET_RUN_OPTIONS,
    PRESETS,
    ExperimentConfig,
    flatten_mapping,
    load_yaml,
    number,
)
from robust_tickets.errors import UserError
from robust_tickets.names import FIELD_CHOICES

FLAG_ALIASES = {
    "strategy": ["--experiment"],
    "prune_method": ["--allocation"],
    "learning_rate": ["--lr"],  # what most people type; argparse would read it as --lr-schedule
}
RUN_OPTION_KEYS = ("trials", "output", "device", "data_dir", "threads", "jobs")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (``--train-iters``), defaulting to "not given"."""
    group = parser.add_argument_group("experiment (defaults: the paper's)")
    for name, kind in FIELD_TYPES.items():
        flags = [f"--{name.replace('_', '-')}", *FLAG_ALIASES.get(name, [])]
        help_text = f"{FIELD_META[name]['help']} (default: {FIELD_DEFAULTS[name]})"
        if name in FIELD_CHOICES:
            help_text += f"; one of: {', '.join(FIELD_CHOICES[name])}"
        if kind is bool:
            group.add_argument(
                *flags,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                *flags,
                dest=name,
                type=number if kind is float else kind,
                default=argparse.SUPPRESS,
                metavar=name.upper(),
                help=help_text,
            )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named preset")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE.yaml",
        help="YAML file of config fields (flat or by section); flags override it",
    )


def resolve_config(args: argparse.Namespace) -> tuple[ExperimentConfig, dict[str, Any]]:
    """Defaults < preset < config file < flags. Returns the config and run options found."""
    # imports torch: only once a command runs
    from robust_tickets.resolve import expand_specs, from_flat

    values: dict[str, Any] = {}
    run_options: dict[str, Any] = {}
    preset = getattr(args, "preset", None)
    file_values: dict[str, Any] = {}
    if args.config is not None:
        raw = load_yaml(args.config)
        for key in RUN_OPTION_KEYS:
            if key in raw:
                run_options[key] = raw.pop(key)
        preset = raw.pop("preset", None) if preset is None else preset
        raw.pop("preset", None)
        # a component given as {name, params} becomes flat names first, so flags override it
        file_values = expand_specs(flatten_mapping(raw, str(args.config)))
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(
                f"unknown preset {preset!r}: choose one of {', '.join(sorted(PRESETS))}"
            )
        values.update(PRESETS[preset])
        run_options = {**PRESET_RUN_OPTIONS.get(preset, {}), **run_options}
    values.update(file_values)
    values.update({k: v for k, v in vars(args).items() if k in FIELD_TYPES})
    return from_flat(values), run_options


def comma_list(kind, what: str | None = None):
    """An argparse type: "1,2" or "1 2" -> (1, 2) of `kind`; anything else a usage error."""

    def parse(text: str):
        try:
            return tuple(kind(part) for part in text.replace(",", " ").split())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a list of {what or kind.__name__}: {text!r}"
            ) from None

    return parse
