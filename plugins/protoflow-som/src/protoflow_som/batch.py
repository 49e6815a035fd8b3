"""Kohonen's batch SOM epoch as a map step over chunks and a reduce/update step.

One batch epoch is::

    stats = sum(accumulate(chunk, W) for chunk in chunks)     # map + reduce
    W_new = update(W, stats, kernel)                           # once per epoch

`accumulate` is a pure function of one chunk and the current prototypes: it finds each row's
best-matching unit (BMU) blockwise and returns per-unit sums of the rows, per-unit counts and the
sum of squared quantization errors (`BatchStats`). Stats from different chunks add (`BatchStats.
__add__`), so the same two functions serve a single array, data arriving in pieces, or a
distributed map-reduce. `update` is Kohonen's batch rule ``w_k = sum_j h_kj S_j / sum_j h_kj n_j``
with h the neighbourhood kernel (`protoflow.neighborhood.gaussian_kernel` of the map distances).

Memory: BMUs are found in row blocks of `block_rows(n_units)` rows, so the largest temporary is a
(block_rows, n_units) matrix of a few MB, never the full (n_samples, n_units) one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse

from protoflow.missing import masked_bmu
from protoflow.neighborhood import gaussian_kernel

#: bytes budget for one (rows, n_units) block of scores
_BLOCK_BYTES = 1 << 25


def block_rows(n_units: int, itemsize: int = 8) -> int:
    """Rows per block so that a (rows, n_units) score block takes about 32 MB (256..16384)."""
    return int(np.clip(_BLOCK_BYTES // max(1, n_units * itemsize), 256, 16384))


class BatchStats(NamedTuple):
    """Sufficient statistics of one batch epoch (or of a chunk of it).

    sums : ndarray (n_units, n_features), float64: sum of the rows whose BMU is each unit
    counts : ndarray (n_units,), float64: number of rows whose BMU is each unit
    sq_error : float: sum over rows of the squared distance to the BMU
    error : float: sum over rows of the distance to the BMU (QE = error / n_samples)
    """

    sums: np.ndarray
    counts: np.ndarray
    sq_error: float
    error: float

    def __add__(self, other: object) -> BatchStats:  # type: ignore[override]
        if not isinstance(other, BatchStats):
            return NotImplemented
        return BatchStats(*(a + b for a, b in zip(self, other, strict=True)))

    @property
    def n_samples(self) -> int:
        return round(float(self.counts.sum()))


def scoring_matrix(W: np.ndarray) -> np.ndarray:
    """``[W, -||w||^2 / 2]``, shape (n_units, n_features + 1).

    For a row z, ``[z, 1] @ scoring_matrix(W).T = z.w - ||w||^2/2`` whose argmax is the BMU
    (``||z - w||^2 = ||z||^2 - 2 (z.w - ||w||^2/2)``), so a block costs one matrix product
    and one argmax pass.
    """
    W64 = np.asarray(W, dtype=np.float64)
    return np.hstack([W, (-0.5 * np.einsum("ij,ij->i", W64, W64))[:, None].astype(W.dtype)])


def bmus(chunk: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BMU and squared distance of each row, computed in blocks.

    chunk : ndarray (n, n_features); S : `scoring_matrix` of the prototypes, same dtype.
    Returns (bmu (n,) int64, squared distance (n,) float64, clipped at 0).
    """
    n, d = chunk.shape
    K = S.shape[0]
    rows = block_rows(K, S.dtype.itemsize)
    out = np.empty(n, dtype=np.int64)
    d2 = np.empty(n, dtype=np.float64)
    aug = np.empty((min(rows, n), d + 1), dtype=S.dtype)
    aug[:, d] = 1.0
    # one score buffer for all blocks: a fresh (rows, K) array per block costs page faults
    # comparable to the product itself
    scores_buf = np.empty((min(rows, n), K), dtype=S.dtype)
    St = S.T
    for start in range(0, n, rows):
        block = chunk[start : start + rows]
        m = len(block)
        a = aug[:m]
        a[:, :d] = block
        scores = np.matmul(a, St, out=scores_buf[:m])
        idx = scores.argmax(axis=1)
        out[start : start + m] = idx
        best = np.take_along_axis(scores, idx[:, None], axis=1)[:, 0].astype(np.float64)
        b64 = block.astype(np.float64, copy=False)
        d2[start : start + m] = np.einsum("ij,ij->i", b64, b64) - 2.0 * best
    np.maximum(d2, 0.0, out=d2)  # cancellation can leave tiny negatives
    return out, d2


def accumulate(chunk: np.ndarray, W: np.ndarray, *, S: np.ndarray | None = None) -> BatchStats:
    """The map step: per-unit sums and counts of one chunk under prototypes W.

    Parameters
    ----------
    chunk : ndarray of shape (n, n_features), float64 or float32 (same dtype as W)
    W : ndarray of shape (n_units, n_features), the current prototypes
    S : optional precomputed ``scoring_matrix(W)`` (reuse it across the chunks of an epoch)

    Returns
    -------
    BatchStats with sums (n_units, n_features) and counts (n_units,) in float64.
    """
    K, D = W.shape
    if S is None:
        S = scoring_matrix(W)
    b, d2 = bmus(chunk, S)
    n = len(b)
    counts = np.bincount(b, minlength=K).astype(np.float64)
    # A sparse one-hot (K, n) times the chunk: O(n * D), no dense (n, K) indicator.
    onehot = sparse.csr_matrix((np.ones(n), (b, np.arange(n))), shape=(K, n))
    sums = np.asarray(onehot @ chunk.astype(np.float64, copy=False))
    return BatchStats(sums.reshape(K, D), counts, float(d2.sum()), float(np.sqrt(d2).sum()))


class KernelTable:
    """``gaussian_kernel(distances, T)`` for many temperatures T, computed by lookup.

    Lattice map distances are whole hop counts, so the Gaussian takes only max(d) + 1 distinct
    values: evaluating exp once per distinct distance and gathering is exactly the same matrix,
    about 5x faster than exp over all n_units^2 pairs (which otherwise rivals the BMU search on
    large maps). Distances that are not all finite whole numbers (e.g. a graph with
    unreachable units) use `gaussian_kernel` directly.

    distances : ndarray (n_units, n_units), the topology's map distances.
    """

    #: above this many entries the gather index is stored as int32 (half the memory, slower)
    _INTP_MAX_ENTRIES = 1 << 23

    def __init__(self, distances: np.ndarray) -> None:
        self.distances = distances
        d = np.asarray(distances, dtype=np.float64)
        self._index: np.ndarray | None = None
        if d.size and np.isfinite(d).all() and d.min() >= 0 and d.max() < 2**31 and (d == np.round(d)).all():
            dtype = np.intp if d.size <= self._INTP_MAX_ENTRIES else np.int32
            self._index = d.astype(dtype)
            self._levels = np.arange(int(d.max()) + 1, dtype=np.float64)

    def __call__(self, temperature: float) -> np.ndarray:
        """The kernel (n_units, n_units), float64, at temperature T > 0."""
        if self._index is None:
            return gaussian_kernel(self.distances, temperature)
        return np.take(gaussian_kernel(self._levels, temperature), self._index)


def update(W: np.ndarray, stats: BatchStats, kernel: np.ndarray) -> np.ndarray:
    """The reduce step's result: Kohonen's batch rule.

    ``w_k = (H @ sums)_k / (H @ counts)_k`` with H = kernel (n_units, n_units), symmetric
    neighbourhood weights. A unit whose weighted count is zero (no data anywhere within reach
    of the kernel: a dead unit) keeps its previous prototype.

    Returns a new array of W's shape and dtype.
    """
    num = kernel @ stats.sums
    den = kernel @ stats.counts
    alive = den > np.finfo(np.float64).tiny
    out = np.array(W, dtype=np.float64, copy=True)
    out[alive] = num[alive] / den[alive, None]
    return out.astype(W.dtype, copy=False)


# -- missing data (nan_policy="omit") ------------------------------------------------------------


class MaskedBatchStats(NamedTuple):
    """Sufficient statistics of one batch epoch over data with missing (NaN) entries.

    sums : ndarray (n_units, n_features), float64: per unit, the sum of the observed values of
        the rows whose BMU it is (missing entries add nothing)
    counts : ndarray (n_units, n_features), float64: per unit and feature, how many of those
        rows observe the feature
    sq_error : float: sum over rows of the rescaled squared distance to the BMU
        (`protoflow.missing.masked_sq_distances`)
    error : float: sum over rows of its square root
    """

    sums: np.ndarray
    counts: np.ndarray
    sq_error: float
    error: float

    def __add__(self, other: object) -> MaskedBatchStats:  # type: ignore[override]
        if not isinstance(other, MaskedBatchStats):
            return NotImplemented
        return MaskedBatchStats(*(a + b for a, b in zip(self, other, strict=True)))


def accumulate_masked(chunk: np.ndarray, W: np.ndarray) -> MaskedBatchStats:
    """`accumulate` for a chunk with missing (NaN) entries.

    BMUs use the rescaled observed-coordinate distance (`protoflow.missing.masked_bmu`); each
    row adds its observed values to its BMU's sums and its observed-feature indicator to the
    BMU's per-feature counts.

    Parameters
    ----------
    chunk : ndarray of shape (n, n_features); every row has an observed value
    W : ndarray of shape (n_units, n_features), complete prototypes

    Returns
    -------
    MaskedBatchStats with sums and counts of shape (n_units, n_features).
    """
    K, D = W.shape
    b, d2 = masked_bmu(chunk, W, return_distance=True)
    n = len(b)
    observed = ~np.isnan(chunk)
    onehot = sparse.csr_matrix((np.ones(n), (b, np.arange(n))), shape=(K, n))
    sums = np.asarray(onehot @ np.where(observed, chunk, 0.0).astype(np.float64, copy=False))
    counts = np.asarray(onehot @ observed.astype(np.float64))
    return MaskedBatchStats(sums.reshape(K, D), counts.reshape(K, D), float(d2.sum()),
                            float(np.sqrt(d2).sum()))


def update_masked(W: np.ndarray, stats: MaskedBatchStats, kernel: np.ndarray) -> np.ndarray:
    """Kohonen's batch rule per feature over the observed values.

    ``w_kf = (H @ sums)_kf / (H @ counts)_kf``; a unit and feature with zero weighted count
    (no observed value within reach of the kernel) keeps its previous value, so the
    prototypes stay finite. Returns a new array of W's shape (n_units, n_features) and dtype.
    """
    num = kernel @ stats.sums
    den = kernel @ stats.counts
    alive = den > np.finfo(np.float64).tiny
    out = np.array(W, dtype=np.float64, copy=True)
    out[alive] = num[alive] / den[alive]
    return out.astype(W.dtype, copy=False)
