"""Shared plumbing for the map-quality metrics: which space to measure in, blockwise nearest
units, topology checks and label contingency tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from protoflow import inversion
from protoflow.errors import MetricNotApplicableError, ValidationError
from protoflow.topology import Topology
from protoflow.validation import check_array, check_is_fitted

#: rows per block: a (block, n_units) float64 block stays small however large n_samples is
BLOCK_ROWS = inversion.DEFAULT_BLOCK_ROWS


def measure_space(
    model: Any, Z: Any, encoder: Any = None, *, min_samples: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The prototypes and points to measure with, as float64 prototypes (n_units, n_features)
    and validated points (n_samples, n_features).

    Without `encoder`: the model's prototypes and latent points Z. With `encoder`: the
    prototypes decoded into data space, and Z is read as data X of that width.
    """
    check_is_fitted(model, ["prototypes_"])
    W = np.asarray(model.prototypes_, dtype=np.float64)
    name = "Z"
    if encoder is not None:
        W = check_array(encoder.decode(W), name="decoded prototypes")
        if W.shape[0] != model.prototypes_.shape[0]:
            raise ValidationError(
                f"encoder.decode returned {W.shape[0]} rows for {model.prototypes_.shape[0]} prototypes"
            )
        name = "X"
    Z = check_array(Z, name=name, n_features=W.shape[1], allow_float32=True, min_samples=min_samples)
    return W, Z


def blocks(Z: np.ndarray, rows: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(start, float64 block of rows) over Z, so float32 input is converted a block at a time."""
    for start in range(0, Z.shape[0], rows):
        yield start, np.asarray(Z[start : start + rows], dtype=np.float64)


def two_nearest(Z: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and second best-matching units and the squared distance to the first.

    Z (n_samples, n_features), W (n_units >= 2, n_features) -> b1, b2 (n_samples,) ints and
    d1 (n_samples,) floats. Computed in row blocks: never a full (n_samples, n_units) matrix.
    """
    n = Z.shape[0]
    b1 = np.empty(n, dtype=np.int64)
    b2 = np.empty(n, dtype=np.int64)
    d1 = np.empty(n)
    for start, block in blocks(Z):
        A = inversion.activations(block, W)
        rows = np.arange(len(block))
        sl = slice(start, start + len(block))
        first = np.argmin(A, axis=1)  # two argmins beat an argpartition here
        d1[sl] = A[rows, first]
        A[rows, first] = np.inf
        b1[sl], b2[sl] = first, np.argmin(A, axis=1)
    return b1, b2, d1


def nearest(Z: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-matching unit (n_samples,) and its squared distance (n_samples,), blockwise."""
    n = Z.shape[0]
    b = np.empty(n, dtype=np.int64)
    d = np.empty(n)
    for start, block in blocks(Z):
        A = inversion.activations(block, W)
        sl = slice(start, start + len(block))
        b[sl] = np.argmin(A, axis=1)
        d[sl] = A[np.arange(len(block)), b[sl]]
    return b, d


def require_topology(model: Any, metric: str) -> Topology:
    """The model's topology, or `MetricNotApplicableError` when it has none."""
    topo = getattr(model, "topology_", None)
    if topo is None or not topo.has_topology:
        raise MetricNotApplicableError(
            f"{metric} needs a map topology (a lattice or a graph), but this "
            f"{type(model).__name__} has none (NoTopology, e.g. k-means). Use a SOM or GNG, or "
            f"k-means with topology='knn'."
        )
    return topo


def require_units(W: np.ndarray, minimum: int, metric: str) -> None:
    if W.shape[0] < minimum:
        raise MetricNotApplicableError(
            f"{metric} needs at least {minimum} units; this model has {W.shape[0]}."
        )


def encode_labels(y: Any, n_samples: int) -> tuple[np.ndarray, int]:
    """Class labels (any hashable values) -> codes 0..C-1 (n_samples,) and C."""
    if y is None:
        raise ValidationError("y is None; this metric needs class labels of shape (n_samples,).")
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValidationError(f"y must have shape ({n_samples},), got {arr.shape}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValidationError("y contains NaN or infinity; labels must be finite.")
    classes, codes = np.unique(arr, return_inverse=True)
    return codes.reshape(-1), len(classes)


def contingency(clusters: np.ndarray, n_clusters: int, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts w[k, c] of samples in cluster k with class c, shape (n_clusters, n_classes)."""
    flat = np.bincount(clusters * n_classes + codes, minlength=n_clusters * n_classes)
    return flat.reshape(n_clusters, n_classes)
