"""Adding a model, attack, criterion or dataset is adding one file: each package imports every
module of its own (pkgutil), and every module there registers something unless it is listed
below as a helper, so a file that registers nothing (a typo in the decorator, a forgotten call)
fails here instead of silently offering nothing."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# package -> (where its registry lives, the modules of it that register nothing)
PACKAGES: dict[str, tuple[str, frozenset[str]]] = {
    "robust_tickets.models": (
        "robust_tickets.models.registry:MODELS",
        frozenset({"registry", "ticket", "backend", "fast_mlp", "init", "cifar"}),
    ),
    "robust_tickets.attacks": (
        "robust_tickets.attacks.base:ATTACKS",
        # the base type, and the compositions evaluation builds out of registered attacks
        frozenset({"base", "labels", "restarts", "transfer"}),
    ),
    "robust_tickets.pruning.criteria": (
        "robust_tickets.pruning.criteria.base:CRITERIA",
        frozenset({"base"}),
    ),
    "robust_tickets.data.datasets": ("robust_tickets.data.spec:DATASETS", frozenset()),
}

# In a fresh interpreter: import only each package, then report which of its modules got
# imported and which module each registered name came from.
_PROBE = """
import importlib, json, pkgutil, sys
out = {}
for package, where in json.loads(sys.argv[1]).items():
    pkg = importlib.import_module(package)
    path, _, attr = where.partition(":")
    registry = getattr(importlib.import_module(path), attr)
    modules = [sys.modules[f"{package}.{m.name}"] for m in pkgutil.iter_modules(pkg.__path__)]
    def origin(obj):  # a component registry's `cls` gives the class, its `get` an instance
        if isinstance(obj, type):  # a class: where it is defined
            return obj.__module__
        if hasattr(obj, "build"):  # a ModelSpec: where its builder is defined
            return obj.build.__module__
        # a spec (a DatasetSpec): the module that keeps it under a name
        return next((m.__name__ for m in modules if obj in vars(m).values()), None)
    out[package] = {
        "files": sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)),
        "imported": sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                           if f"{package}.{m.name}" in sys.modules),
        "origins": {name: origin(getattr(registry, "cls", registry.get)(name))
                    for name in registry.names()},
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def found() -> dict[str, dict]:
    where = {package: registry for package, (registry, _) in PACKAGES.items()}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(where)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "PATH": ""},
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_importing_a_package_imports_every_module_of_it(found, package):
    files, imported = found[package]["files"], found[package]["imported"]
    assert files == imported, (
        f"{package} does not import {sorted(set(files) - set(imported))}: its __init__.py must "
        "import every module of the package (pkgutil), not a list"
    )


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_module_registers_something_or_is_a_known_helper(found, package):
    helpers = PACKAGES[package][1]
    origins = found[package]["origins"]
    registering = {str(module).rpartition(".")[2] for module in origins.values()}
    files = set(found[package]["files"])
    silent = sorted(files - registering - helpers)
    assert not silent, (
        f"{package}: {silent} register nothing: register the model/attack/criterion/dataset "
        f"there, or (for a module of shared code) add it to the helpers in {__file__}"
    )
    assert not helpers & registering, f"{sorted(helpers & registering)} register: not helpers"
    assert helpers <= files, f"helpers {sorted(helpers - files)} are no files of {package}"
    assert all(str(m).startswith(f"{package}.") for m in origins.values()), origins


def test_discovery_sees_a_new_file(tmp_path):
    """What the packages' loop does, on a package made here: a module dropped in is imported."""
    package = tmp_path / "plugins_probe"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import importlib, pkgutil\n"
        "FOUND = []\n"
        "for _m in pkgutil.iter_modules(__path__):\n"
        "    importlib.import_module(f'plugins_probe.{_m.name}')\n"
    )
    (package / "new_one.py").write_text(
        "import plugins_probe\nplugins_probe.FOUND.append('new_one')\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import plugins_probe  # type: ignore[import-not-found]

        assert plugins_probe.FOUND == ["new_one"]
        assert [m.name for m in pkgutil.iter_modules(plugins_probe.__path__)] == ["new_one"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("plugins_probe")]:
            del sys.modules[name]
