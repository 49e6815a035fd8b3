"""Stage 1: load the dataset and split it into train and test rows (seeded)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from protoflow.data import Dataset
from protoflow.errors import ValidationError
from protoflow.pipeline.context import RunContext

__all__ = ["Split", "data_summary", "load_split"]


@attrs.define(eq=False)
class Split:
    """The dataset and its seeded train/test split.

    Attributes
    ----------
    dataset : the loaded dataset
    train, test : sorted row indices of the train and test split
    """

    dataset: Dataset
    train: np.ndarray
    test: np.ndarray
    _reference: np.ndarray | None = attrs.field(default=None, init=False, repr=False)

    @property
    def y_train(self) -> np.ndarray | None:
        """Labels of the train rows, or None."""
        return None if self.dataset.y is None else self.dataset.y[self.train]

    @property
    def y_test(self) -> np.ndarray | None:
        """Labels of the test rows, or None."""
        return None if self.dataset.y is None else self.dataset.y[self.test]

    def reference(self) -> np.ndarray:
        """The training rows without missing values (float64), computed once."""
        if self._reference is None:
            X = np.asarray(self.dataset.X[self.train], dtype=np.float64)
            self._reference = X[np.isfinite(X).all(axis=1)]
        return self._reference


def load_split(ctx: RunContext) -> Split:
    """Load the config's dataset (a relative ``path`` is tried against the config's folder)
    and split it with the run's seed and ``[run] test_size``.

    Parameters
    ----------
    ctx : the run's context

    Returns
    -------
    Split
    """
    t0 = time.perf_counter()
    spec = ctx.config.data
    params = dict(spec.params)
    path = params.get("path")
    if isinstance(path, str) and ctx.config.base_dir and not Path(path).expanduser().exists():
        alt = Path(ctx.config.base_dir) / path
        if alt.exists():  # relative to the config file
            params["path"] = str(alt)
    ctx.stage(f"loading data {spec.name!r}")
    data = ctx.registry.create("dataset", spec.name, **params)
    if not isinstance(data, Dataset):
        raise ValidationError(f"dataset loader {spec.name!r} returned {type(data).__name__}")
    n = data.n_samples
    n_test = max(1, round(ctx.config.run.test_size * n))
    if n - n_test < 2:
        raise ValidationError(f"the dataset has {n} samples: too few to split for training")
    perm = np.random.default_rng(ctx.seed).permutation(n)
    ctx.timed("data", t0)
    return Split(data, np.sort(perm[n_test:]), np.sort(perm[:n_test]))


def data_summary(split: Split) -> dict[str, Any]:
    """The ``data`` entry of ``metrics.json``.

    Parameters
    ----------
    split : the loaded split

    Returns
    -------
    dict with name, n_train, n_test, n_features, n_classes and image_shape
    """
    data = split.dataset
    return {
        "name": data.name,
        "n_train": len(split.train),
        "n_test": len(split.test),
        "n_features": data.n_features,
        "n_classes": None if data.y is None else len(np.unique(data.y)),
        "image_shape": None if data.image_shape is None else list(data.image_shape),
    }
