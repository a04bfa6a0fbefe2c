"""Fashion-MNIST (Xiao et al. 2017): 28x28 greyscale clothing, ten classes, MNIST's file layout."""

from __future__ import annotations

from robust_tickets.data.sources import AptPackage, IdxDownload
from robust_tickets.data.spec import DATASETS, DatasetSpec, mnist_files

_FASHION_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST = DATASETS.register("fashion_mnist", aliases=("fashion-mnist", "fmnist"))(
    DatasetSpec(
        name="fashion_mnist",
        files=mnist_files(
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
