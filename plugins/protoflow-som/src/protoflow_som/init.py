"""Prototype initialisation: random samples, the principal plane, or a given array."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.errors import ConfigError, ValidationError
from protoflow.topology import Lattice
from protoflow.validation import check_array
from protoflow.xp import Workspace

INIT_CHOICES = ("random", "pca")
#: rows per block of the centred data in `pca_plane`
_PCA_BLOCK_ROWS = 4096


def initial_prototypes(
    X: np.ndarray, lattice: Lattice, init: Any, rng: np.random.Generator
) -> np.ndarray:
    """Starting prototypes, shape (rows * cols, n_features), float64.

    X : ndarray (n_samples, n_features). ``init`` is "random" (distinct random samples),
    "pca" (a grid on the plane of the first two principal components) or an array of shape
    (rows * cols, n_features).
    """
    K, D = lattice.n_units, X.shape[1]
    if isinstance(init, str):
        if init == "random":
            return X[sample_indices(X.shape[0], lattice, rng)].astype(np.float64)
        if init == "pca":
            return pca_plane(X, lattice)
        raise ConfigError(
            f"parameter 'init' must be 'random', 'pca' or an array of shape ({K}, {D}); got {init!r}."
        )
    try:
        W = check_array(init, name="init", n_features=D)
    except ValidationError as exc:
        raise ConfigError(f"parameter 'init': {exc}") from exc
    if W.shape[0] != K:
        raise ConfigError(
            f"parameter 'init' has {W.shape[0]} rows but the map has rows * cols = {K} units."
        )
    return W.copy()


def sample_indices(n_samples: int, lattice: Lattice, rng: np.random.Generator) -> np.ndarray:
    """The sorted row indices (n_units,) that init='random' takes: distinct, drawn by `rng`.

    Depends only on n_samples and the generator, so a chunked fit draws the same global rows.
    """
    K = lattice.n_units
    if n_samples < K:
        raise ValidationError(
            f"X has {n_samples} samples but init='random' draws {K} distinct ones "
            f"(rows * cols = {lattice.rows} * {lattice.cols}); use init='pca', a smaller "
            "map, or more data."
        )
    return np.sort(rng.choice(n_samples, size=K, replace=False))


def pca_plane(X: np.ndarray, lattice: Lattice) -> np.ndarray:
    """A grid on the plane of the first two principal components of X.

    The map's longer side follows the first component. Each axis spans +-sqrt(3 * variance)
    along its component, the spread of a uniform distribution with the data's variance.
    Eigenvector signs are fixed (largest entry positive) so the result is deterministic.
    """
    if X.shape[0] < 2:
        raise ValidationError("init='pca' needs at least 2 samples in X.")
    mean = X.mean(axis=0)
    n, d = X.shape
    # the centred rows in blocks through one reused buffer (a centred copy of all of X costs
    # page faults comparable to an epoch on small data)
    rows = min(n, _PCA_BLOCK_ROWS)
    buf = Workspace.for_thread().empty("pca.centred", (rows, d), mean.dtype, X)
    scatter = np.zeros((d, d), dtype=mean.dtype)
    for start in range(0, n, rows):
        block = np.subtract(X[start : start + rows], mean, out=buf[: min(rows, n - start)])
        scatter += block.T @ block
    return plane_from_moments(mean, scatter / (n - 1), lattice)


def plane_from_moments(mean: np.ndarray, cov: np.ndarray, lattice: Lattice) -> np.ndarray:
    """`pca_plane` from the data's mean (n_features,) and covariance (n_features, n_features),
    e.g. streamed over chunks (`protoflow.scale.moments`). Returns (n_units, n_features)."""
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:2]
    vals, vecs = np.maximum(vals[order], 0.0), vecs[:, order]
    signs = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(vecs.shape[1])])
    vecs = vecs * np.where(signs == 0, 1.0, signs)
    xy = lattice.coordinates()
    span = xy.max(axis=0) - xy.min(axis=0)
    unit = np.divide(2 * (xy - xy.min(axis=0)) - span, span, out=np.zeros_like(xy), where=span > 0)
    if span[1] > span[0]:  # more rows than columns: rows follow the first component
        unit = unit[:, ::-1]
    W = np.repeat(mean[None, :], lattice.n_units, axis=0)
    for k in range(vecs.shape[1]):
        W += np.outer(unit[:, k] * np.sqrt(3.0 * vals[k]), vecs[:, k])
    return W
