"""Tiny deterministic datasets for the conformance kit and tests (no network)."""

from __future__ import annotations

import numpy as np


def blobs(n_samples: int = 120, n_features: int = 5, n_centers: int = 3, seed: int = 0) -> np.ndarray:
    """Gaussian blobs, shape (n_samples, n_features), float64."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_centers, n_features))
    labels = np.arange(n_samples) % n_centers
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def labelled_blobs(
    n_samples: int = 120, n_features: int = 5, n_centers: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`blobs` and their labels (n_samples,)."""
    X = blobs(n_samples, n_features, n_centers, seed)
    return X, np.arange(n_samples) % n_centers


def with_missing(X: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """A copy of X (n_samples, n_features) with about `fraction` of its entries set to NaN, at
    random with `seed`; every row keeps at least its first value (missing-data tests and
    benchmarks)."""
    rng = np.random.default_rng(seed)
    out = np.array(X, dtype=np.float64, copy=True)
    out[rng.random(out.shape) < fraction] = np.nan
    empty = np.isnan(out).all(axis=1)
    out[empty, 0] = np.asarray(X, dtype=np.float64)[empty, 0]
    return out
