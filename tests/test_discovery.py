"""Adding a model, attack, criterion or dataset is adding one file: each package imports every
module of its own (pkgutil), and every module there registers something unless it is listed
below as a helper, so a file that registers nothing (a typo in the decorator, a forgotten call)
fails here instead of silently offering nothing."""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# package -> (where its registry lives, the modules of it that register nothing)
PACKAGES: dict[str, tuple[str, frozenset[str]]] = {
    "robust_tickets.models": (
        "robust_tickets.models.registry:MODELS",
        frozenset({"registry", "ticket", "backend", "fast_mlp", "init", "cifar", "user"}),
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
    "robust_tickets.objectives": (
        "robust_tickets.objectives.base:OBJECTIVES",
        frozenset({"base", "losses"}),  # what an objective is; the cross-entropy forms
    ),
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


# docs/architecture.md's worked examples as the files they are (the bodies that run are not
# what the scanner reads): dropped into a copy of the package, each is found by the scan that
# `--help` uses (robust_tickets.names), no list edited.
EXAMPLE_FILES = {
    "pruning/criteria/taylor.py": """
from dataclasses import dataclass

from robust_tickets.components import Params, setting
from robust_tickets.pruning.criteria.base import CRITERIA, Criterion


@CRITERIA.add
class Taylor(Criterion):
    name = "taylor"
    needs_data = True

    @dataclass(frozen=True)
    class Params(Params):
        batches: int = setting(4, "training batches the first-order score is summed over")

        def validate(self) -> None:
            self.require(self.batches >= 1, "batches", "must be at least 1")
""",
    "models/mlp3.py": """
import math

from robust_tickets.models.dense import DenseNet
from robust_tickets.models.init import glorot
from robust_tickets.models.registry import MODELS, ModelSpec


def _mlp3(input_shape, classes):
    return DenseNet([math.prod(input_shape), 512, 512, 512, classes])


MODELS.register("mlp3")(ModelSpec(build=_mlp3, init=glorot(normal=False)))
""",
    "attacks/rfgsm.py": """
from dataclasses import dataclass

from robust_tickets.attacks.base import ATTACKS, BackendAttack
from robust_tickets.components import Params, setting


@ATTACKS.add
class RFGSM(BackendAttack):
    name = "rfgsm"

    @dataclass(frozen=True)
    class Params(Params):
        alpha: float = setting(0.5, "the random step, in multiples of eps")
""",
    "data/datasets/kmnist.py": """
from robust_tickets.data.spec import DATASETS, DatasetSpec

KMNIST = DATASETS.register("kmnist")(DatasetSpec(name="kmnist", files=(), num_classes=10))
""",
}


def test_a_component_file_dropped_in_is_on_the_help_page(tmp_path):
    """What `--help` offers is read from the package's files (robust_tickets.scan): a new
    model, attack, criterion or dataset file is found with its settings, nothing else edited."""
    from robust_tickets import names
    from robust_tickets.scan import scan

    package = tmp_path / "robust_tickets"
    shutil.copytree(SRC / "robust_tickets", package, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in EXAMPLE_FILES.items():
        (package / name).write_text(source)
    found = scan(package, names.FOLDERS, names.KINDS)
    added = {"criterion": "taylor", "model": "mlp3", "attack": "rfgsm", "dataset": "kmnist"}
    for field, choices in names.FIELD_CHOICES.items():
        expected = sorted([*choices, *([added[field]] if field in added else [])])
        assert list(found.names[field]) == expected, field
    assert found.settings == {
        **names.SETTINGS,
        "taylor_batches": (
            int,
            4,
            "criterion `taylor`: training batches the first-order score is summed over",
        ),
        "rfgsm_alpha": (float, 0.5, "attack `rfgsm`: the random step, in multiples of eps"),
    }


# What the models declared before their kinds were derived (results must not change: the
# allocation is fitted to these, resolve.py).
KINDS_BEFORE = {
    "conv2": ("conv", "fc", "output"),
    "conv4": ("conv", "fc", "output"),
    "conv6": ("conv", "fc", "output"),
    "dense-300-100": ("fc", "output"),
    "lenet5": ("conv", "fc", "output"),
    "mnist-cnn": ("conv", "fc", "output"),
    "preact-resnet18": ("conv", "output"),
    "resnet20": ("conv", "output"),
    "vgg16-bn": ("conv", "output"),
    "wrn": ("conv", "output"),
}


def test_a_models_layer_kinds_are_derived_not_declared():
    from robust_tickets.data import DATASETS
    from robust_tickets.models import MODELS

    for name in MODELS:
        spec = MODELS.get(name)
        for dataset in DATASETS:
            shape = DATASETS.get(dataset).input_shape()
            if spec.fits(shape) is None:
                assert spec.layer_kinds(shape) == KINDS_BEFORE[name], (name, dataset)


# docs/architecture.md's worked examples, registered for one test each (monkeypatch undoes it).


def test_the_worked_example_model(monkeypatch):
    import math

    from robust_tickets.models import MODELS, ModelSpec, create_model
    from robust_tickets.models.dense import DenseNet
    from robust_tickets.models.init import glorot
    from robust_tickets.models.ticket import layer_kinds

    def _mlp3(input_shape, classes):
        return DenseNet([math.prod(input_shape), 512, 512, 512, classes])

    monkeypatch.setitem(MODELS._items, "mlp3", ModelSpec(build=_mlp3, init=glorot(normal=False)))
    model = create_model("mlp3", (1, 28, 28), 10, seed=0)
    assert MODELS.get("mlp3").layer_kinds((1, 28, 28)) == ("fc", "output")
    assert list(layer_kinds(model).values()) == ["fc", "fc", "fc", "output"]


def test_the_worked_example_attack(monkeypatch):
    from dataclasses import dataclass

    import pytest
    import torch

    from robust_tickets import components
    from robust_tickets.attacks import ATTACKS, BackendAttack, make_attack
    from robust_tickets.attacks.base import loss_input_grad, project, uniform
    from robust_tickets.components import setting
    from robust_tickets.config import FIELD_DEFAULTS, FIELD_TYPES, SETTINGS
    from robust_tickets.errors import UserError
    from robust_tickets.models import create_model
    from robust_tickets.resolve import from_flat

    class RFGSM(BackendAttack):
        name = "rfgsm"

        @dataclass(frozen=True)
        class Params(components.Params):  # (a module-level file imports Params itself)
            alpha: float = setting(0.5, "the random step, in multiples of eps")

            def validate(self) -> None:
                self.require(0 <= self.alpha <= 1, "alpha", "must be in [0, 1]")

        def perturb(self, backend, x, y, generator, start):
            step = self.params.alpha * self.eps
            x0 = x + step * (2 * uniform(x, generator) - 1).sign()
            grad = loss_input_grad(backend, x0, y)
            return project(x0 + (self.eps - step) * grad.sign(), x, self.eps)

    # what `@ATTACKS.add` would do, and the line names.py would read from the file (as
    # test_a_component_file_dropped_in_is_on_the_help_page shows), undone after the test
    monkeypatch.setitem(ATTACKS._items, "rfgsm", RFGSM)
    for table, value in ((FIELD_TYPES, float), (FIELD_DEFAULTS, 0.5), (SETTINGS, (float, 0.5, ""))):
        monkeypatch.setitem(table, "rfgsm_alpha", value)
    config = from_flat({"attack": "rfgsm", "rfgsm_alpha": "0.25", "eps": 0.1, "adv_train": True})
    assert (
        config.attack.attack
        == from_flat({"attack": {"name": "rfgsm", "params": {"alpha": 0.25}}}).attack.attack
    )
    assert config.name() != from_flat({"attack": "rfgsm", "eps": 0.1, "adv_train": True}).name()
    with pytest.raises(UserError, match="rfgsm_alpha must be in"):
        from_flat({"attack": "rfgsm", "rfgsm_alpha": 2})
    model = create_model("dense-300-100", (1, 28, 28), 10, seed=0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
    x_adv = make_attack(config.attack)(model, x, y, torch.Generator().manual_seed(1))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


def test_the_worked_example_dataset(monkeypatch):
    from robust_tickets.data import DATASETS
    from robust_tickets.data.sources import IdxDownload
    from robust_tickets.data.spec import DatasetSpec, mnist_files

    kmnist = DatasetSpec(
        name="kmnist",
        files=mnist_files(("0" * 64, "1" * 64, "2" * 64, "3" * 64)),
        num_classes=10,
        how_to_get="`robust-tickets data fetch kmnist`",
        sources=(IdxDownload("https://example.invalid/kmnist/"),),
    )
    monkeypatch.setitem(DATASETS._items, "kmnist", kmnist)
    assert DATASETS.get("kmnist").input_shape() == (1, 28, 28)
    assert DATASETS.get("kmnist").counts() == (60_000, 10_000)
