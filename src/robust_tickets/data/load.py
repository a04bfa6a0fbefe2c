"""Load a dataset as tensors, verified by checksum, and split it the paper's way."""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from robust_tickets.data.idx import read_verified
from robust_tickets.data.locate import candidate_dirs, find_file, locate
from robust_tickets.data.registry import DATASETS
from robust_tickets.data.spec import DatasetSpec
from robust_tickets.errors import UserError


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 in [0, 1], shape [N, C, H, W]
    y: torch.Tensor  # int64 class indices, shape [N]

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Splits:
    train: Split
    valid: Split
    test: Split
    num_classes: int


def refetch_hint(spec: DatasetSpec) -> str:
    return f"delete it and run `robust-tickets data fetch {spec.name}`"


def read_dir(spec: DatasetSpec, directory: Path) -> dict[str, np.ndarray]:
    """Every file of `spec` from `directory`, each verified (SHA-256, shape) before use."""
    arrays = {}
    for role, file in spec.files.items():
        path = find_file(directory, file.name)
        if path is None:
            raise UserError(
                f"{directory / file.name} is missing: run `robust-tickets data fetch {spec.name}`"
            )
        arrays[role] = read_verified(path, file.sha256, file.shape, refetch_hint(spec))
    return arrays


def load_arrays(spec: DatasetSpec, data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    directory = locate(spec, data_dir)
    if directory is None:
        searched = ", ".join(str(d) for d in candidate_dirs(spec, data_dir))
        raise UserError(
            f"dataset {spec.name} not found (searched {searched}): get it with {spec.how_to_get}"
        )
    return read_dir(spec, directory)


def _images(array: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(array)).to(torch.float32).div_(255.0)
    return x.unsqueeze(1) if x.dim() == 3 else x


def load_splits(name: str, valid_size: int = 10_000, data_dir: str | Path | None = None) -> Splits:
    """Validation = the first `valid_size` training images, train = the rest, plus the test set."""
    spec = DATASETS.get(name)
    arrays = load_arrays(spec, data_dir)
    x_all, y_all = (
        _images(arrays["train_images"]),
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
    )
    if valid_size >= len(y_all):
        raise UserError(
            f"valid_size {valid_size} leaves no training data ({spec.name} has {len(y_all)} "
            "training images): choose a smaller --valid-size"
        )
    test = Split(
        _images(arrays["test_images"]), torch.from_numpy(arrays["test_labels"].astype(np.int64))
    )
    return Splits(
        train=Split(x_all[valid_size:].contiguous(), y_all[valid_size:].contiguous()),
        valid=Split(x_all[:valid_size].contiguous(), y_all[:valid_size].contiguous()),
        test=test,
        num_classes=spec.num_classes,
    )


_DIGESTS: list[tuple[tuple, list[weakref.ref], str]] = []  # the last few, newest last


def splits_digest(splits: Splits) -> str:
    """sha256 of every split's images and labels (dtype, shape, bytes) and the class count:
    what a trained level saw, whether read from the verified files or handed in by a caller
    (whose tensors no config names). Cached while the same, unmodified tensors live, so the
    trials of one run hash their data once."""
    tensors = [
        t
        for f in fields(splits)
        if f.name != "num_classes"
        for t in (getattr(splits, f.name).x, getattr(splits, f.name).y)
    ]
    # in-place edits bump a tensor's version; the weak references tell a reused id apart
    try:
        key: tuple | None = (
            splits.num_classes,
            *((id(t), t.data_ptr(), t._version) for t in tensors),
        )
    except RuntimeError:  # inference-mode tensors keep no version: hash them every time
        key = None
    for cached, refs, digest in _DIGESTS:
        if cached == key and all(r() is t for r, t in zip(refs, tensors, strict=True)):
            return digest
    h = hashlib.sha256(f"classes={splits.num_classes}".encode())
    for t in tensors:
        array = t.detach().cpu().contiguous().numpy()
        h.update(f"|{array.dtype}{tuple(array.shape)}|".encode())
        if array.size:  # an empty split (no validation images) has no bytes to cast
            h.update(memoryview(array).cast("B"))
    digest = h.hexdigest()
    if key is not None:
        _DIGESTS.append((key, [weakref.ref(t) for t in tensors], digest))
        del _DIGESTS[:-4]
    return digest
