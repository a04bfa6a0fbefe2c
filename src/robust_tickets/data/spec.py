"""What a dataset is to this package: its IDX files (name, checksum, shape) and the sources it
can be fetched from, and the (empty) registry the files of `datasets/` add their specs to. Data
only, below both the sources (which deliver a spec's files) and the dataset files (which list the
specs), so that neither needs the other."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from robust_tickets.registry import Registry


class SourceFailed(Exception):
    """This source cannot deliver the dataset here; the message says why in a few words."""


class Source(Protocol):
    def describe(self) -> str: ...

    def provide(self, spec: DatasetSpec, staging: Path, quiet: bool) -> Path: ...


@dataclass(frozen=True)
class IdxFile:
    """One IDX file of a dataset. The SHA-256 is of the *decompressed* bytes, so the same
    check holds for the raw file and any gzip of it (Debian re-compresses its copies)."""

    name: str
    sha256: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    files: dict[str, IdxFile]  # role (train_images, train_labels, test_images, test_labels)
    num_classes: int
    system_dirs: tuple[str, ...] = ()
    how_to_get: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()  # tried in order by `robust-tickets data fetch`

    def input_shape(self) -> tuple[int, ...]:
        """One image's shape as models see it: (channels, height, width)."""
        shape = self.files["train_images"].shape[1:]
        return shape if len(shape) == 3 else (1, *shape)

    def counts(self) -> tuple[int, int]:
        """(training, test) sample counts."""
        return self.files["train_labels"].shape[0], self.files["test_labels"].shape[0]


# Filled by the modules of `robust_tickets.data.datasets`, one dataset each; import it from
# `robust_tickets.data` (or `data.registry`), which imports them all.
DATASETS: Registry[DatasetSpec] = Registry("dataset")


def mnist_files(hashes: tuple[str, str, str, str]) -> dict[str, IdxFile]:
    """The four IDX files of an MNIST-layout dataset (60,000 + 10,000 28x28 images) with these
    SHA-256s (train images, train labels, test images, test labels)."""
    return {
        "train_images": IdxFile("train-images-idx3-ubyte", hashes[0], (60_000, 28, 28)),
        "train_labels": IdxFile("train-labels-idx1-ubyte", hashes[1], (60_000,)),
        "test_images": IdxFile("t10k-images-idx3-ubyte", hashes[2], (10_000, 28, 28)),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte", hashes[3], (10_000,)),
    }
