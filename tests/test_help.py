"""`--help` without torch, its choices read from the source equal to the registries, and
docs/cli.md against the parser."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from robust_tickets import names
from robust_tickets.cli.main import build_parser, main
from robust_tickets.scan import scan

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


# config field -> the package that exports its registry, under the name names.KINDS gives it
PACKAGES = {
    "dataset": "robust_tickets.data",
    "model": "robust_tickets.models",
    "attack": "robust_tickets.attacks",
    "strategy": "robust_tickets.pruning",
    "prune_method": "robust_tickets.pruning",
    "criterion": "robust_tickets.pruning",
    "optimizer": "robust_tickets.optim",
    "lr_schedule": "robust_tickets.optim",
    "objective": "robust_tickets.objectives",
}


def _registries() -> dict[str, object]:
    """The live registries (importing them imports torch), by config field."""
    return {
        field: getattr(importlib.import_module(package), names.KINDS[field].registry)
        for field, package in PACKAGES.items()
    }


def test_the_scanned_kinds_are_the_registries():
    """names.KINDS names each registry by its variable (the one `_registries` imports), and
    says which hold components."""
    from robust_tickets.components import ComponentRegistry
    from robust_tickets.resolve import REGISTRIES

    registries = _registries()
    assert list(names.KINDS) == list(registries) == list(names.FIELD_CHOICES)
    for field, kind in names.KINDS.items():
        assert kind.components == isinstance(registries[field], ComponentRegistry), field
        assert REGISTRIES.get(field, registries[field]) is registries[field], field


@pytest.mark.parametrize("field", sorted(names.FIELD_CHOICES))
def test_scanned_names_are_exactly_the_registered_ones(field):
    registry = _registries()[field]
    assert list(names.FIELD_CHOICES[field]) == registry.names(), (
        f"robust_tickets.names read the {field} names {names.FIELD_CHOICES[field]} from the "
        f"source (robust_tickets/scan.py), the registry has {registry.names()}: register each "
        f"in a file under {', '.join(names.FOLDERS)} as {names.KINDS[field].registry}"
        + (".add on its class" if names.KINDS[field].components else '.register("name")(...)')
        + ", its name a string literal (no loop), so that `--help` sees it without torch"
    )


def test_scanned_settings_are_the_components_own():
    from robust_tickets.components import flag_help
    from robust_tickets.resolve import REGISTRIES

    own = flag_help(REGISTRIES)
    for flat in sorted(set(own) | set(names.SETTINGS)):
        assert names.SETTINGS.get(flat) == own.get(flat), (
            f"robust_tickets.names read the setting {flat} from the components' source "
            f"(robust_tickets/scan.py) as {names.SETTINGS.get(flat)}, their Params declare "
            f"{own.get(flat)}: declare it in the class body as "
            '`name: type = setting(default, "help", flat=...)`, its default and help literals '
            "or module constants"
        )
    # and in flag_help's order (the order of the flags in `run --help`)
    assert list(names.SETTINGS) == list(own)
    for flat, (kind, default, _) in names.SETTINGS.items():
        assert type(default) is kind, flat


def test_names_is_a_fresh_scan():
    fresh = scan(Path(names.__file__).resolve().parent, names.FOLDERS, names.KINDS)
    assert fresh.names == names.FIELD_CHOICES
    assert list(fresh.settings.items()) == list(names.SETTINGS.items())


def test_evaluate_help_defaults_are_the_evaluation_defaults():
    """`evaluate`'s strength flags are the evaluation presets' settings (flat name, default,
    help as their `Params` declare them), and its other defaults the runner's."""
    from robust_tickets.cli import evaluate
    from robust_tickets.evaluation.attacks import EVAL_ATTACKS
    from robust_tickets.evaluation.runner import DEFAULT_ATTACKS, DEFAULT_BATCH, EvalOptions

    assert evaluate.DEFAULT_ATTACKS == DEFAULT_ATTACKS
    assert evaluate.BATCH_SIZE == DEFAULT_BATCH == EvalOptions().batch_size
    owned: dict[str, set] = {}
    for flat, _, f in EVAL_ATTACKS.settings():
        owned.setdefault(flat, set()).add((f.default, f.metadata["help"]))
    assert {flat: found.pop() for flat, found in owned.items() if len(found) == 1} == dict(
        evaluate.ATTACK_SETTINGS
    ), "robust_tickets/cli/evaluate.py ATTACK_SETTINGS differs from the presets' Params"


def test_help_of_every_command_imports_no_torch():
    commands = [[], *([name] for name in _commands()), ["data", "list"], ["data", "fetch"]]
    script = (
        "import contextlib, io, sys\n"
        "from robust_tickets.cli.main import main\n"
        f"for argv in {commands!r}:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        "            main([*argv, '--help'])\n"
        "        except SystemExit as exit:\n"
        "            assert exit.code == 0, (argv, exit.code)\n"
        "    assert 'usage:' in out.getvalue(), argv\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout[:500]


def _commands() -> list[str]:
    return sorted(_subparsers(build_parser()))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_run_help_lists_every_registered_choice(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["run", "--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    run = _subparsers(build_parser())["run"]
    for field, registry in _registries().items():
        action = next(a for a in run._actions if a.dest == field)
        for name in registry.names():
            assert name in action.help, (field, name)
        # and on the page the user sees
        assert f"one of: {', '.join(registry.names())}" in text.replace("- ", "-"), field
    # point 6: the way to make a tiny run fast is on the help page
    assert "--valid-size" in run.description and "--test-size" in run.description


# ---- docs/cli.md against the parser -------------------------------------------------------
def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of `parser` and of its subcommands (data list/fetch), no --help."""
    found = {
        option
        for action in parser._actions
        for option in action.option_strings
        if option not in ("-h", "--help")
    }
    for child in _subparsers(parser).values():
        found |= _flags(child)
    return found


def _sections() -> dict[str, str]:
    """docs/cli.md's text under each `## \\`robust-tickets COMMAND\\`` heading, and its
    introduction (before the first heading) under ''."""
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    sections = {"": parts[0]}
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        match = re.fullmatch(r"`robust-tickets (\w+)`", heading.strip())
        if match:
            sections[match.group(1)] = body
    return sections


def _documented(text: str) -> set[str]:
    """Flags written in backticks: `--x`, `-x`, `--[no-]x` (both spellings), `--x VALUE`."""
    found: set[str] = set()
    fenced = re.findall(r"^```.*?$(.*?)^```", text, flags=re.M | re.S)
    inline = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    for code in [*fenced, *re.findall(r"`([^`\n]+)`", inline)]:
        for flag in re.findall(r"(?<![\w-])(--\[no-\][a-z][a-z0-9-]*|--?[a-z][a-z0-9-]*)", code):
            if flag.startswith("--[no-]"):
                found |= {f"--{flag[7:]}", f"--no-{flag[7:]}"}
            else:
                found.add(flag)
    return found


def test_docs_cli_md_documents_every_flag_of_every_command():
    parser = build_parser()
    sections = _sections()
    commands = _subparsers(parser)
    lacking = set(commands) - set(sections)
    assert not lacking, f"docs/cli.md lacks sections for {lacking}"
    top = _flags(parser) - {f for c in commands.values() for f in _flags(c)}
    assert top <= _documented(sections[""]), top - _documented(sections[""])
    for name, sub in commands.items():
        missing = _flags(sub) - _documented(sections[name])
        assert not missing, f"docs/cli.md's `robust-tickets {name}` section lacks {sorted(missing)}"


def test_docs_cli_md_names_no_flag_a_command_lacks():
    sections = _sections()
    for name, sub in _subparsers(build_parser()).items():
        # long options only: a `-x` may be another program's; `COMMAND --help` is argparse's
        stale = {f for f in _documented(sections[name]) if f.startswith("--")} - _flags(sub)
        stale.discard("--help")
        assert not stale, f"docs/cli.md's `robust-tickets {name}` section names {sorted(stale)}"


def test_doc_check_sees_a_missing_flag():
    """The checker itself: a flag the text does not mention is reported missing."""
    assert "--snip-batches" in _documented("| `--snip-batches` | 10 |")
    assert {"--one-shot", "--no-one-shot"} <= _documented("`--[no-]one-shot`")
    assert "--hydra-lr" not in _documented("| `--hydra-iters` | 500 | and hydra-lr |")
