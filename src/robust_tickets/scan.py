"""The registered names and the components' settings, read from the source with `ast`.

`robust-tickets <command> --help` lists the names a run accepts and every component setting
with its type, default and help; importing the registries to learn them would import torch
(2-3 s). So `robust_tickets.names` reads them from the files instead, with `scan`: in the
folders that hold the components it finds

- each ``REGISTRY.register("name", ...)``, as a decorator or called on a value: the name (a
  string literal or a module constant; aliases are not listed, they are accepted, not offered);
- each ``@REGISTRY.add`` on a class (a `Component`): its `name` and its `Params` (its own or a
  base class's), whose fields ``x: type = setting(default, "help", flat=...)`` give the flat
  name (``flat=`` or ``<component>_<field>``, as `Component.__init_subclass__` makes it), the
  type (the annotation), the default and the help. A default or help may be a literal, an
  implicitly concatenated string, simple arithmetic (``8/255``, ``-1``) or a module constant.

Nothing is imported and nothing runs. What the scanner cannot read (a name built in a loop, a
default computed by a call, a use of a registry it does not know) is a `ScanError` naming the
file and line, never a name silently left out; tests/test_help.py checks what it finds against
the live registries, so a registration it cannot see at all fails there.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_tickets.components import joined_help

TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_SETTING_ARGS = ("default", "help")
_SETTING_KEYWORDS = frozenset({"default", "help", "flat", "since"})


class ScanError(Exception):
    """Source the scanner cannot read; the message starts with ``path:line:``."""


@dataclass(frozen=True)
class Found:
    """What `scan` read: config field -> its names (sorted), and flat setting name -> (type,
    default, help), in the order `components.flag_help` gives them."""

    names: dict[str, tuple[str, ...]]
    settings: dict[str, tuple[type, Any, str]]
    sources: tuple[Path, ...] = ()  # every file read: what the result depends on


@dataclass
class _Component:
    kind: str  # the config field
    name: str
    module: _Module
    node: ast.ClassDef


def scan(package: Path, folders: tuple[str, ...], kinds: Mapping[str, tuple[str, bool]]) -> Found:
    """The names and settings registered in the `.py` files under `folders` (relative to
    `package`, the directory of the package, with their subfolders), for the registries
    `kinds` names: config field -> (the registry's variable, whether it holds components,
    registered with ``@REGISTRY.add``, or plain objects, ``REGISTRY.register("name")``)."""
    reader = _Reader(package)
    field_of = {registry: key for key, (registry, _) in kinds.items()}
    holds_components = {key: components for key, (_, components) in kinds.items()}
    uses = re.compile(rf"\b({'|'.join(map(re.escape, field_of))})\s*\.\s*(register|add)\b")
    files = sorted({p for folder in folders for p in (package / folder).rglob("*.py")})
    names: dict[str, dict[str, str]] = {key: {} for key in kinds}
    components: list[_Component] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        if not uses.search(text):  # most helpers register nothing: not worth parsing
            continue
        module = reader.module(path, text)
        lines = {text.count("\n", 0, match.start()) + 1 for match in uses.finditer(text)}
        for registry, name, node, cls in _registrations(module, set(field_of), lines):
            key = field_of[registry]
            if holds_components[key] != (cls is not None):
                how = (
                    f"@{registry}.add on its class"
                    if holds_components[key]
                    else f'{registry}.register("name")(...)'
                )
                raise module.error(node, f"register this {key} with {how}")
            if name in names[key]:
                raise module.error(node, f"{key} {name!r} is registered twice: {names[key][name]}")
            names[key][name] = f"{module.where}:{node.lineno}"
            if cls is not None:
                components.append(_Component(key, name, module, cls))
    order = {key: i for i, key in enumerate(kinds)}
    components.sort(key=lambda c: (order[c.kind], c.name))
    settings: dict[str, tuple[type, Any, str]] = {}
    readers: dict[str, list[tuple[str, str, str]]] = {}
    for component in components:
        for flat, kind, default, text, where in reader.settings(component):
            before = settings.get(flat)
            if before is not None and before[:2] != (kind, default):
                raise ScanError(f"{where}: {flat}: components disagree on its type or default")
            readers.setdefault(flat, []).append((component.kind, component.name, text))
            settings[flat] = (kind, default, joined_help(readers[flat]))
    return Found(
        {key: tuple(sorted(found)) for key, found in names.items()},
        settings,
        tuple(sorted({*files, *reader.modules})),
    )


def _registrations(
    module: _Module, registries: set[str], lines: set[int]
) -> Iterator[tuple[str, str, ast.AST, ast.ClassDef | None]]:
    """(registry, name, node, the class for `add`) of each registration in `module` on one of
    `lines` (where the source names a registry's `register` or `add`); every other use of
    ``REGISTRY.register`` / ``REGISTRY.add`` is a ScanError."""
    nodes = list(_spanning(module.tree, lines))
    seen: set[int] = set()  # the REGISTRY.x attributes read as a registration
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                registry = _use(decorator, registries, "add")
                if registry is not None:
                    seen.add(id(decorator))
                    yield registry, module.component_name(node), decorator, node
        elif isinstance(node, ast.Call):
            registry = _use(node.func, registries, "register")
            if registry is not None:
                seen.add(id(node.func))
                if not node.args:
                    raise module.error(node, f"{registry}.register without a name")
                try:
                    name = module.value(node.args[0])
                except ScanError:
                    name = None
                if not isinstance(name, str):
                    raise module.error(
                        node,
                        f"cannot read the name {module.source(node.args[0])} registered here: "
                        f'write it as a string literal, one {registry}.register("name") per name',
                    )
                yield registry, name, node, None
    for node in nodes:
        registry = _use(node, registries, "register") or _use(node, registries, "add")
        if registry is not None and id(node) not in seen:
            raise module.error(
                node,
                f"cannot read this use of {module.source(node)}: register with "
                f'{registry}.register("name", ...) or @{registry}.add on a class',
            )


def _spanning(tree: ast.AST, lines: set[int]) -> Iterator[ast.AST]:
    """The nodes of `tree` whose source (decorators included) spans one of `lines`: all that
    can hold a registration, without walking the rest of the module."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in reversed(list(ast.iter_child_nodes(node))):  # yielded in source order
            first = getattr(child, "lineno", None)
            if first is not None:
                decorators = getattr(child, "decorator_list", ())
                first = min([first, *(d.lineno for d in decorators)])
                last = getattr(child, "end_lineno", None) or first
                if not any(first <= line <= last for line in lines):
                    continue
            todo.append(child)


def _use(node: ast.AST, registries: set[str], method: str) -> str | None:
    """The registry if `node` is ``REGISTRY.method``."""
    if (
        isinstance(node, ast.Attribute)
        and node.attr == method
        and isinstance(node.value, ast.Name)
        and node.value.id in registries
    ):
        return node.value.id
    return None


class _Reader:
    """Modules of the package parsed on demand (once each), and what their classes declare."""

    def __init__(self, package: Path) -> None:
        self.package = package
        self.modules: dict[Path, _Module] = {}

    def module(self, path: Path, text: str | None = None) -> _Module:
        if path not in self.modules:
            relative = path.relative_to(self.package.parent)
            if text is None:
                text = path.read_text(encoding="utf-8")
            try:
                tree = ast.parse(text, filename=str(relative))
            except SyntaxError as error:
                raise ScanError(f"{relative.as_posix()}:{error.lineno}: {error.msg}") from None
            self.modules[path] = _Module(relative.as_posix(), text, tree, self)
        return self.modules[path]

    def find(self, dotted: str) -> _Module | None:
        """The package's module `dotted`, if it is one of its files."""
        parts = dotted.split(".")
        if parts[0] != self.package.name:
            return None
        base = self.package.joinpath(*parts[1:])
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return self.module(path)
        return None

    def settings(self, component: _Component) -> Iterator[tuple[str, type, Any, str, str]]:
        """(flat name, type, default, help, where) of each setting of `component`."""
        found = component.module.find_params(component.node, set())
        if found is None:
            return
        module, owner, params = found
        prefix = module.own_name(owner)
        if prefix is None:
            raise module.error(owner, f"{owner.name} declares Params but no name of its own")
        for base in params.bases:
            plain = isinstance(base, ast.Name) and base.id == "Params"
            dotted = ast.unparse(base) in ("components.Params", "robust_tickets.components.Params")
            if not (plain or dotted):
                raise module.error(
                    base, f"{owner.name}.Params must subclass components.Params itself"
                )
        for statement in params.body:
            if not isinstance(statement, ast.AnnAssign):
                continue  # methods, docstrings; a plain assignment is no dataclass field
            if _is_classvar(statement.annotation):
                continue
            yield module.setting(statement, prefix.replace("-", "_"))


def _is_classvar(annotation: ast.expr) -> bool:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith("ClassVar")
    return (isinstance(node, ast.Name) and node.id == "ClassVar") or (
        isinstance(node, ast.Attribute) and node.attr == "ClassVar"
    )


class _Module:
    """A parsed module: its classes, constants and imports, and readers of its values."""

    def __init__(self, where: str, text: str, tree: ast.Module, reader: _Reader) -> None:
        self.where = where  # for messages: robust_tickets/attacks/pgd.py
        self.text = text
        self.tree = tree
        self.reader = reader
        self.classes: dict[str, ast.ClassDef] = {}
        self.values: dict[str, ast.expr] = {}  # module constants
        self.imported: dict[str, tuple[str, str]] = {}  # from a import b as c: c -> (a, b)
        self.modules: dict[str, str] = {}  # import a.b as c: c -> a.b
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                if isinstance(node.targets[0], ast.Name):
                    self.values[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                if isinstance(node.target, ast.Name):
                    self.values[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.modules[alias.asname] = alias.name

    def error(self, node: ast.AST, what: str) -> ScanError:
        return ScanError(f"{self.where}:{getattr(node, 'lineno', 0)}: {what}")

    def source(self, node: ast.AST) -> str:
        """`node` as the file spells it."""
        return ast.get_source_segment(self.text, node) or ast.unparse(node)

    def lookup(self, name: str, depth: int = 0) -> tuple[_Module, ast.AST] | None:
        """Where `name` (a class or a constant) of this module is defined: here, or in the
        package's module it is imported from (followed through re-exports)."""
        if name in self.classes:
            return self, self.classes[name]
        if name in self.values:
            return self, self.values[name]
        if name in self.imported and depth < 8:
            source, attr = self.imported[name]
            other = self.reader.find(source)
            found = None if other is None else other.lookup(attr, depth + 1)
            if found is not None:
                return found
            other = self.reader.find(f"{source}.{attr}")  # from a package import a module
            if other is not None:
                return other, other.tree
        return None

    def resolve(self, node: ast.expr) -> tuple[_Module, ast.AST] | None:
        """What the name or dotted name `node` refers to, if the package defines it."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            outer = self.resolve(node.value)
            if outer is not None and isinstance(outer[1], ast.Module):
                return outer[0].lookup(node.attr)
            if isinstance(node.value, ast.Name) and node.value.id in self.modules:
                other = self.reader.find(self.modules[node.value.id])
                return None if other is None else other.lookup(node.attr)
        return None

    def value(self, node: ast.expr, depth: int = 0) -> Any:
        """The value of a literal, of simple arithmetic on literals, or of a module constant."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.value(node.operand, depth))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.value(node.left, depth), self.value(node.right, depth)
            try:
                return _BINARY[type(node.op)](left, right)
            except (TypeError, ArithmeticError) as error:
                raise self.error(node, f"cannot compute {self.source(node)}: {error}") from None
        if isinstance(node, (ast.Name, ast.Attribute)) and depth < 8:
            found = self.resolve(node)
            if found is not None and isinstance(found[1], ast.expr):
                return found[0].value(found[1], depth + 1)
        raise self.error(
            node,
            f"cannot read {self.source(node)}: write a literal, simple arithmetic on literals "
            "or a module constant",
        )

    def own_name(self, cls: ast.ClassDef) -> str | None:
        """The `name` the class body sets, if it sets one."""
        for statement in cls.body:
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets = [statement.target]
            else:
                continue
            if any(isinstance(t, ast.Name) and t.id == "name" for t in targets):
                value = self.value(statement.value)  # type: ignore[arg-type]
                if not isinstance(value, str):
                    raise self.error(statement, f"{cls.name}.name is not a string")
                return value
        return None

    def bases(self, cls: ast.ClassDef) -> Iterator[tuple[_Module, ast.ClassDef]]:
        """The class's base classes the package defines (others declare nothing to read)."""
        for base in cls.bases:
            found = self.resolve(base)
            if found is not None and isinstance(found[1], ast.ClassDef):
                yield found  # type: ignore[misc]

    def component_name(self, cls: ast.ClassDef, seen: set[int] | None = None) -> str:
        """The registered name of a component class: its `name`, its own or inherited."""
        seen = set() if seen is None else seen
        own = self.own_name(cls)
        if own is not None:
            return own
        seen.add(id(cls))
        for module, base in self.bases(cls):
            if id(base) not in seen:
                try:
                    return module.component_name(base, seen)
                except ScanError:
                    continue
        raise self.error(cls, f'{cls.name} has no `name = "..."` the scanner can read')

    def find_params(
        self, cls: ast.ClassDef, seen: set[int]
    ) -> tuple[_Module, ast.ClassDef, ast.ClassDef] | None:
        """(module, class, its nested `Params`) of the first class in `cls`'s bases, itself
        first, that declares a `Params`; None when none does."""
        seen.add(id(cls))
        for statement in cls.body:
            if isinstance(statement, ast.ClassDef) and statement.name == "Params":
                return self, cls, statement
        for module, base in self.bases(cls):
            if id(base) not in seen:
                found = module.find_params(base, seen)
                if found is not None:
                    return found
        return None

    def setting(self, statement: ast.AnnAssign, prefix: str) -> tuple[str, type, Any, str, str]:
        """(flat name, type, default, help, where) of ``x: type = setting(...)``."""
        where = f"{self.where}:{statement.lineno}"
        target = statement.target
        if not isinstance(target, ast.Name):
            raise self.error(statement, f"cannot read the field {self.source(target)}")
        call = statement.value
        func = call.func if isinstance(call, ast.Call) else None
        if not (
            (isinstance(func, ast.Name) and func.id == "setting")
            or (isinstance(func, ast.Attribute) and func.attr == "setting")
        ):
            raise self.error(statement, f"declare {target.id} with setting(default, help)")
        assert isinstance(call, ast.Call)
        if len(call.args) > len(_SETTING_ARGS) or any(k.arg is None for k in call.keywords):
            raise self.error(call, f"{target.id}: setting(default, help, flat=..., since=...)")
        given: dict[str, ast.expr] = dict(zip(_SETTING_ARGS, call.args, strict=False))
        for keyword in call.keywords:
            if keyword.arg not in _SETTING_KEYWORDS or keyword.arg in given:
                raise self.error(keyword, f"{target.id}: setting() has no {keyword.arg}= here")
            given[str(keyword.arg)] = keyword.value
        if "default" not in given or "help" not in given:
            raise self.error(call, f"{target.id}: setting() needs a default and a help")
        annotation = statement.annotation
        spelled = (
            annotation.value
            if isinstance(annotation, ast.Constant)
            else getattr(annotation, "id", None)
        )
        kind = TYPES.get(spelled) if isinstance(spelled, str) else None
        if kind is None:
            raise self.error(annotation, f"{target.id}: its type must be bool, int, float or str")
        default = self.value(given["default"])
        if type(default) is not kind:
            raise self.error(
                given["default"],
                f"{target.id}: its default {default!r} is no {kind.__name__}, as annotated",
            )
        text = self.value(given["help"])
        flat = self.value(given["flat"]) if "flat" in given else f"{prefix}_{target.id}"
        if not isinstance(text, str) or not isinstance(flat, str):
            raise self.error(call, f"{target.id}: its help and flat name must be strings")
        return flat, kind, default, text, where


__all__ = ["TYPES", "Found", "ScanError", "scan"]
