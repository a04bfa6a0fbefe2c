"""Datasets: IDX reading, the dataset registry, locating and loading verified files."""

from robust_tickets.data.load import Split, Splits, load_splits, splits_digest
from robust_tickets.data.registry import DATASETS
from robust_tickets.data.spec import DatasetSpec, IdxFile

__all__ = ["DATASETS", "DatasetSpec", "IdxFile", "Split", "Splits", "load_splits", "splits_digest"]
