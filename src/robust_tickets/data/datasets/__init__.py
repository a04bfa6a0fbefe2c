"""One module per dataset, each registering its `DatasetSpec` in `DATASETS` (data/spec.py):
its files with their SHA-256s, where it may already be on disk, and the sources to fetch it from.
Every module here is imported, so adding a dataset is adding its file."""

import importlib
import pkgutil

# The prefix spelled out (not __name__): tests/test_layers.py reads it as importing each module.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"robust_tickets.data.datasets.{_module.name}")
