"""Offline data loaders. Each returns a `Dataset` (X, y, image_shape, name).

Built-in names (registered through the core's plugin, like any third-party loader):
``digits``, ``gmm``, ``mnist``, ``fashion-mnist``, ``idx`` and ``file``. Use
`load_dataset(name, **params)` to load by name, as the pipeline does.
"""

from __future__ import annotations

from typing import Any

from protoflow.data._dataset import Dataset
from protoflow.data.files import load_file
from protoflow.data.idx import load_fashion_mnist, load_idx, load_mnist, read_idx
from protoflow.data.synthetic import load_digits, load_gmm

__all__ = [
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_file",
    "load_gmm",
    "load_idx",
    "load_mnist",
    "read_idx",
]


def load_dataset(name: str, **params: Any) -> Dataset:
    """Load a registered dataset by name, e.g. ``load_dataset("gmm", n_features=10, seed=0)``."""
    from protoflow.registry import get_registry

    data = get_registry().create("dataset", name, **params)
    if not isinstance(data, Dataset):
        raise TypeError(f"dataset loader {name!r} returned {type(data).__name__}, not a Dataset")
    return data
