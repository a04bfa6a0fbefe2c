"""The package's layers (DESIGN.md): a module never imports one of a higher layer, not even inside
a function or by naming it in a string (a worker's "robust_tickets.x:f"), and no modules import
each other, however indirectly, so the architecture stays readable from the folder list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "robust_tickets"

# Lowest first; a module may import its own layer and any lower one.
LAYERS: list[tuple[str, ...]] = [
    ("__init__", "errors", "registry", "components", "seeds", "progress", "limits", "claims"),
    ("device",),
    ("scan", "names"),
    ("provenance",),
    ("yaml_strict",),
    ("config",),
    ("data", "models"),
    ("attacks", "pruning", "optim", "objectives"),
    ("schedule",),
    ("resolve", "store"),
    ("training",),
    ("engine",),
    ("experiment",),
    ("results", "sweep", "evaluation"),
    ("report",),
    ("cli", "__main__", "api"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

# A string that names a module of the package, alone or with an attribute ("robust_tickets.a.b:f"):
# whoever is handed it imports that module, so it counts as an import of it.
STRING_IMPORT = re.compile(r"robust_tickets(\.\w+)+(:\w+)?")


def _name(path: Path) -> str:
    """src/robust_tickets/models/ticket.py -> 'robust_tickets.models.ticket' (a package's
    __init__.py -> the package)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _unit(module: str) -> str:
    """'robust_tickets.models.ticket' -> 'models'; the package itself -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(
    source: str, modules: set[str] | frozenset[str] = frozenset(MODULES), own: str = ""
) -> set[str]:
    """The package's modules that `source` imports: at its top, inside functions, under
    TYPE_CHECKING, or named in a string. `from a import b` imports a.b if that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, "a relative import: name the module in full"
            for alias in node.names:
                member = f"{node.module}.{alias.name}"
                found.add(member if member in modules else node.module)
        elif isinstance(node, ast.Constant) and STRING_IMPORT.fullmatch(str(node.value)):
            found.add(str(node.value).split(":")[0])
        elif isinstance(name := _imported_by_call(node), ast.JoinedStr) and name.values:
            prefix = name.values[0]  # f"robust_tickets.cli.{name}": a module of that package
            if isinstance(prefix, ast.Constant):
                package = str(prefix.value).rstrip(".")
                children = {m for m in modules if m.rpartition(".")[0] == package} - {own}
                # a package discovering its own modules imports each of them; else the package
                found |= children or {package}
    return {name for name in found if name.split(".")[0] == "robust_tickets"}


def _imported_by_call(node: ast.AST) -> ast.expr | None:
    """The name argument of `importlib.import_module(...)` or `__import__(...)`, if `node` is
    such a call."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return node.args[0] if called in ("import_module", "__import__") else None


def run_time_imports(source: str) -> list[str]:
    """Imports of a module whose name is only known when the code runs (a variable): what hid
    a cycle behind a string handed from module to module. An f-string that starts with the
    package's name counts as an import of the module it names up to its first field."""
    found = []
    for node in ast.walk(ast.parse(source)):
        name = _imported_by_call(node)
        if name is None or isinstance(name, ast.Constant):
            continue
        prefix = name.values[0] if isinstance(name, ast.JoinedStr) and name.values else None
        if not (isinstance(prefix, ast.Constant) and str(prefix.value).startswith("robust_")):
            found.append(ast.unparse(name))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or not (strongly connected
    components of more than one module, or a module importing itself)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1 or module in graph.get(module, ()):
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return found


# The one import upwards: the package re-exports the Python API lazily (a module-level
# `__getattr__`, docs/architecture.md), so `robust_tickets.load_ticket` works and `import
# robust_tickets` stays light. It runs only when such a name is asked for, after the package is
# imported, so it is neither a layering nor an import-order cycle.
LAZY_EXPORTS = {"robust_tickets": {"robust_tickets.api"}}


def _edges(name: str) -> set[str]:
    found = imports(MODULES[name].read_text(), own=name) & set(MODULES)
    return found - LAZY_EXPORTS.get(name, set())


GRAPH = {name: _edges(name) for name in MODULES}


def test_every_module_has_a_layer():
    units = {_unit(name) for name in MODULES}
    assert units <= set(RANK), f"add {sorted(units - set(RANK))} to LAYERS"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_higher_layer(name):
    own = _unit(name)
    found = imports(MODULES[name].read_text()) - LAZY_EXPORTS.get(name, set())
    upward = sorted(m for m in found if RANK[_unit(m)] > RANK[own])
    assert not upward, f"{own} (layer {RANK[own]}) imports {upward}"


def test_no_modules_import_each_other():
    assert cycles(GRAPH) == []


# Modules that import a module named at run time on purpose: the user's own, never the package's.
# models/user.py imports `--model package.module:function`'s module and refuses one of ours.
USER_CODE = {"robust_tickets.models.user": ["target"]}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_module_named_at_run_time(name):
    assert run_time_imports(MODULES[name].read_text()) == USER_CODE.get(name, [])


def test_the_checks_see_hidden_imports_and_cycles():
    source = """
import os
from robust_tickets import claims, __version__
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from robust_tickets.store import LevelDir
WORKER = "robust_tickets.engine.pool:worker"
NOT_A_NAME = "see robust_tickets.store for the layout"
def later():
    from robust_tickets.experiment import run_experiment
    importlib.import_module(f"robust_tickets.cli.{name}")
"""
    assert imports(source) == {
        "robust_tickets",
        "robust_tickets.claims",
        "robust_tickets.store",
        "robust_tickets.engine.pool",
        "robust_tickets.experiment",
        # a package's modules named by a prefix: each module of it (discovery)
        *(m for m in MODULES if m.rpartition(".")[0] == "robust_tickets.cli"),
    }
    assert imports('import_module(f"robust_tickets.cli.{n}")', own="robust_tickets.cli.main")
    assert "robust_tickets.cli.main" not in imports(
        'import_module(f"robust_tickets.cli.{n}")', own="robust_tickets.cli.main"
    )
    assert run_time_imports(source) == []
    assert run_time_imports("importlib.import_module(target.split(':')[0])") == [
        "target.split(':')[0]"
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
