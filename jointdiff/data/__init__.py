"""Datasets: the registry of specs (torch-free) and the loaders built on torchvision and scikit-learn.

The public API is re-exported lazily, so `import jointdiff.data.specs` (the config's path) stays torch-free:

    from jointdiff.data import load_split, load_uint8_split, prepare_dataset, read_manifest, label_mask
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_split": "jointdiff.data.loaders",
    "load_uint8_split": "jointdiff.data.loaders",
    "prepare_dataset": "jointdiff.data.prepare",
    "read_manifest": "jointdiff.data.manifest",
    "label_mask": "jointdiff.data.masking",
    "loader_settings": "jointdiff.data.datasets",
    "InMemoryDataset": "jointdiff.data.datasets",
    "ImageFileDataset": "jointdiff.data.datasets",
    "SPLITS": "jointdiff.data.splits",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
