"""Your own network: ``--model package.module:function`` or ``--model path/to/file.py:function``.

The function builds any `nn.Module`; it is called as ``function(input_shape, num_classes)``
(``input_shape`` is the dataset's ``(C, H, W)``, ``num_classes`` its number of classes), with
keywords if it names either parameter, or with no arguments if it takes none. The module is a
ticket as any other (`models.ticket`: every ``weight`` of its `nn.Linear` and `nn.Conv*` layers
is prunable, the last one being the output layer, unless it is a `TicketModel` saying otherwise).

Its initialisation is the module's own: the function is called with torch's global random number
generator seeded from the run's seed (and restored afterwards), so a run is reproducible; a fresh
initialisation (strategy ``random``) calls it again under the new seed and takes its values.

The canonical name carries a hash of the source file (``nets.py:build@1a2b3c4d5e``), so it is part
of the run's identity: editing the file makes a new run, never a silent resume of the old one. A
stored name keeps its hash; rebuilding it after the file changed is refused with a one-line error.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from robust_tickets.errors import UserError
from robust_tickets.models.ticket import prunable_names

DIGEST_LENGTH = 10
# (target, function) -> (the function, its file, the file's digest when it was imported)
_FUNCTIONS: dict[tuple[str, str], tuple[Callable[..., object], Path, str]] = {}


def is_user_model(name: str) -> bool:
    """Whether `name` is a ``module:function`` or ``file.py:function`` reference."""
    return ":" in name


def split(name: str) -> tuple[str, str, str | None]:
    """``"nets.py:build@1a2b3c4d5e"`` -> ``("nets.py", "build", "1a2b3c4d5e")``."""
    reference, digest = name.strip(), None
    head, at, tail = reference.rpartition("@")
    if at and len(tail) == DIGEST_LENGTH and all(c in "0123456789abcdef" for c in tail):
        reference, digest = head, tail
    target, _, function = reference.rpartition(":")
    if not target or not function.isidentifier():
        raise UserError(
            f"model {name!r}: write package.module:function or path/to/file.py:function"
        )
    return target, function, digest


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _import(target: str, function: str) -> tuple[Callable[..., object], Path]:
    """The user's function and the file it is defined in."""
    name = f"{target}:{function}"
    if _is_file(target):
        path = Path(target).expanduser()
        if not path.is_file():
            raise UserError(f"model {name}: {target} is not a file: check the path")
        unique = "robust_tickets_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()
        spec = importlib.util.spec_from_file_location(unique[:40], path)
        if spec is None or spec.loader is None:
            raise UserError(f"model {name}: {target} cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any error is theirs to fix
            sys.modules.pop(spec.name, None)
            raise UserError(f"model {name}: importing {target} failed: {_one_line(exc)}") from None
    else:
        if target.split(".")[0] == "robust_tickets":
            raise UserError(f"model {name}: name a registered model by its name, not its module")
        if os.getcwd() not in sys.path:  # as `python -m` would find it
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(target)  # the user's module, named by the user
        except Exception as exc:
            raise UserError(
                f"model {name}: cannot import {target} ({_one_line(exc)}): check the name, "
                "or give the file's path (path/to/file.py:function)"
            ) from None
        path = Path(getattr(module, "__file__", None) or "")
        if not path.is_file():
            raise UserError(f"model {name}: {target} has no source file to hash: give a file")
    found = getattr(module, function, None)
    if not callable(found):
        raise UserError(f"model {name}: {target} has no function {function!r}")
    return found, path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_LENGTH]


def canonical(name: str) -> str:
    """``target:function@digest``: the digest of the source file as it is now, unless `name`
    already carries one (a stored run's, kept as it was: the file is not even read)."""
    target, function, digest = split(name)
    if digest is None:
        _, path = _load(target, function)
        digest = _digest(path)
    return f"{target}:{function}@{digest}"


def _load(target: str, function: str) -> tuple[Callable[..., object], Path]:
    """The function as its source is now: imported once, again after the file changed (a
    notebook editing its own network between runs never trains the old one)."""
    key = (target, function)
    cached = _FUNCTIONS.get(key)
    if cached is not None and _digest(cached[1]) == cached[2]:
        return cached[0], cached[1]
    if cached is not None and not _is_file(target) and target in sys.modules:
        importlib.reload(sys.modules[target])
    found, path = _import(target, function)
    _FUNCTIONS[key] = (found, path, _digest(path))
    return found, path


def _call(fn: Callable[..., object], input_shape: tuple[int, ...], num_classes: int) -> object:
    values = {"input_shape": tuple(input_shape), "num_classes": num_classes}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or extension: the documented call
        return fn(tuple(input_shape), num_classes)
    if set(values) & set(params):
        return fn(**{k: v for k, v in values.items() if k in params})
    signature = inspect.signature(fn)
    for args in ((tuple(input_shape), num_classes), ()):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return fn(*args)
    raise UserError(
        f"{getattr(fn, '__name__', fn)} must take (input_shape, num_classes), or no arguments"
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _fresh(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    target, function, digest = split(name)
    fn, path = _load(target, function)
    if digest is not None and _digest(path) != digest:
        raise UserError(
            f"model {name}: {path} has changed since this run was made (source hash "
            f"{digest}, now {_digest(path)}): restore it to use this run"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = _call(fn, input_shape, num_classes)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"model {name}: {function} raised {_one_line(exc)}") from None
    if not isinstance(model, nn.Module):
        raise UserError(
            f"model {name}: {function} returned {type(model).__name__}, not an nn.Module"
        )
    if not prunable_names(model):
        raise UserError(
            f"model {name}: {type(model).__name__} has no prunable layer (nn.Linear or "
            "nn.Conv*): a ticket needs at least one"
        )
    _check_output(name, model, input_shape, num_classes)
    return model


@torch.no_grad()
def _check_output(
    name: str, model: nn.Module, input_shape: tuple[int, ...], num_classes: int
) -> None:
    training = model.training
    model.eval()  # batch norm's statistics untouched
    try:
        out = model(torch.zeros(2, *input_shape))
    except Exception as exc:
        raise UserError(
            f"model {name} fails on a batch of images of shape {tuple(input_shape)}: "
            f"{_one_line(exc)}"
        ) from None
    finally:
        model.train(training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, num_classes):
        raise UserError(
            f"model {name} gives {shape} for 2 images of shape {tuple(input_shape)}; the "
            f"dataset needs (2, {num_classes}): one logit per class"
        )


def build(name: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The user's module, checked (an nn.Module, a prunable layer, one logit per class)."""
    model = _fresh(name, input_shape, num_classes, seed=0)
    model._robust_tickets_shape = (tuple(input_shape), num_classes)  # what `init` rebuilds
    return model


def init(name: str, model: nn.Module, generator: torch.Generator) -> None:
    """The module's own initialisation under the generator's seed: the function called again
    with torch's global generator seeded from it, its state copied into `model`."""
    shape, classes = _shape_of(model)
    fresh = _fresh(name, shape, classes, seed=generator.initial_seed())
    own = model.state_dict()
    with torch.no_grad():
        for key, value in fresh.state_dict().items():
            own[key].copy_(value)


def _shape_of(model: nn.Module) -> tuple[tuple[int, ...], int]:
    shape = getattr(model, "_robust_tickets_shape", None)
    if shape is None:
        raise RuntimeError("a user model re-initialised that `build` did not make")
    return shape
