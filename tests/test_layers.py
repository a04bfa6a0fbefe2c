"""The package's layers: a module never imports one of a higher layer (DESIGN.md), not even
inside a function, so the architecture stays readable from the folder list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "robust_tickets"

# Lowest first; a module may import its own layer and any lower one.
LAYERS: list[tuple[str, ...]] = [
    (
        "__init__",
        "errors",
        "registry",
        "components",
        "seeds",
        "progress",
        "prestart",
        "limits",
        "claims",
    ),
    ("names",),
    ("provenance",),
    ("yaml_strict",),
    ("config",),
    ("data", "models"),
    ("schedule",),
    ("attacks", "pruning"),
    ("resolve", "store"),
    ("training",),
    ("trial",),
    ("level_pool",),
    ("experiment",),
    ("results", "sweep", "evaluation"),
    ("report",),
    ("cli", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """'robust_tickets.models.ticket' -> 'models'; the package itself -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            if node.module == "robust_tickets":  # from robust_tickets import claims, ...
                found += [f"robust_tickets.{alias.name}" for alias in node.names]
    return [name for name in found if name.startswith("robust_tickets")]


def test_every_module_has_a_layer():
    units = {
        _unit("robust_tickets." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts))
        for p in _modules()
    }
    assert units <= set(RANK), f"add {sorted(units - set(RANK))} to LAYERS"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    own = _unit("robust_tickets." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    upward = [name for name in _imports(path) if RANK.get(_unit(name), -1) > RANK[own]]
    assert not upward, f"{own} (layer {RANK[own]}) imports {upward}"
