"""Offline loaders that need no files: scikit-learn's digits and the paper's Gaussian mixture."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.data._dataset import Dataset
from protoflow.validation import check_float, check_int, check_seed


def _subsample(X: np.ndarray, y: np.ndarray, n_samples: Any, seed: Any) -> tuple[np.ndarray, np.ndarray]:
    if n_samples is None:
        return X, y
    n = check_int("n_samples", n_samples, minimum=1, maximum=len(X))
    keep = np.sort(check_seed(seed).choice(len(X), size=n, replace=False))
    return X[keep], y[keep]


def load_digits(n_samples: int | None = None, seed: Any = None) -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels scaled to [0, 1].

    n_samples : keep a random subset of this size (drawn with `seed`); default all.
    Returns a Dataset with X (n_samples, 64), labels 0-9 and image_shape (8, 8).
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # optional extra
        raise ImportError(
            "the 'digits' dataset needs scikit-learn: pip install 'protoflow-core[data]'"
        ) from exc
    bunch = sk_load_digits()
    X, y = _subsample(bunch.data / 16.0, bunch.target.astype(np.int64), n_samples, seed)
    return Dataset(X=X, y=y, image_shape=(8, 8), name="digits")


def triangle_means(n_features: int, separation: float) -> np.ndarray:
    """The three component means, shape (3, n_features): an equilateral triangle of
    circumradius `separation` in the first two coordinates, zero elsewhere."""
    angles = np.deg2rad([90.0, 210.0, 330.0])
    means = np.zeros((3, n_features))
    means[:, 0] = separation * np.cos(angles)
    means[:, 1] = separation * np.sin(angles)
    return means


def load_gmm(
    n_samples: int = 3000,
    n_features: int = 10,
    separation: float = 3.0,
    spread: float = 1.0,
    noise: float = 0.1,
    seed: Any = None,
) -> Dataset:
    """The MUSIC paper's synthetic set: a 3-component Gaussian mixture whose means form a
    triangle in the first two coordinates; the other coordinates hold small isotropic noise.

    Parameters
    ----------
    n_samples : total number of points (components drawn with equal probability).
    n_features : dimension D >= 2 (the paper uses 10).
    separation : circumradius of the triangle of means.
    spread : standard deviation within a component in the first two coordinates.
    noise : standard deviation of the remaining D - 2 coordinates.
    seed : drives every draw.

    Returns a Dataset with X (n_samples, n_features) and component labels 0, 1, 2.
    """
    n = check_int("n_samples", n_samples, minimum=3)
    d = check_int("n_features", n_features, minimum=2)
    sep = check_float("separation", separation, minimum=0.0)
    spread = check_float("spread", spread, minimum=0.0, strict_min=True)
    noise = check_float("noise", noise, minimum=0.0)
    rng = check_seed(seed)
    y = rng.integers(0, 3, size=n)
    scale = np.full(d, noise)
    scale[:2] = spread
    X = triangle_means(d, sep)[y] + rng.normal(size=(n, d)) * scale
    return Dataset(X=X, y=y.astype(np.int64), name=f"gmm (D={d})")
