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

Memory: BMUs are found in row blocks (`bmus`), so the largest temporary is a (rows, n_units)
matrix of 4 MB (32 MB on a GPU), never the full (n_samples, n_units) one.

Backends: every function here is one body over the array-API namespace of its arguments
(`protoflow.xp`): numpy arrays give numpy results, torch tensors (any device) give tensors on
that device, so ``SOM(backend="torch")`` runs this same code. The missing-data functions at the
end are numpy only.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse

from protoflow.inversion import BMU_BLOCK_BYTES, PreparedRows, bmu_search, scoring_matrix
from protoflow.missing import masked_bmu
from protoflow.neighborhood import gaussian_kernel
from protoflow.xp import (
    Workspace,
    asarray_like,
    bincount,
    device,
    namespace,
    scatter_add,
    to_numpy,
)

#: bytes budget for one (rows, n_units) block of scores on the CPU (`bmu_search`'s default:
#: the scores stay in cache for the argmax pass)
_BLOCK_BYTES = BMU_BLOCK_BYTES
#: the same on an accelerator, where large products are what keeps it busy
_DEVICE_BLOCK_BYTES = 1 << 25


class BatchStats(NamedTuple):
    """Sufficient statistics of one batch epoch (or of a chunk of it).

    sums : array (n_units, n_features), float64: sum of the rows whose BMU is each unit
    counts : array (n_units,), float64: number of rows whose BMU is each unit
    sq_error : float: sum over rows of the squared distance to the BMU
    error : float: sum over rows of the distance to the BMU (QE = error / n_samples)

    The arrays are in the library and on the device of the chunk (numpy for numpy data).
    """

    sums: Any
    counts: Any
    sq_error: float
    error: float

    def __add__(self, other: object) -> BatchStats:  # type: ignore[override]
        if not isinstance(other, BatchStats):
            return NotImplemented
        return BatchStats(*(a + b for a, b in zip(self, other, strict=True)))

    @property
    def n_samples(self) -> int:
        return round(float(self.counts.sum()))


def bmus(chunk: Any, S: Any, *, workspace: Workspace | None = None,
         prepared: PreparedRows | None = None) -> tuple[Any, Any]:
    """BMU and squared distance of each row, computed in blocks (`protoflow.inversion.bmu_search`
    with this module's block budgets: about 4 MB of scores on the CPU, 32 MB on a GPU).

    chunk : array (n, n_features); S : `scoring_matrix` of the prototypes, same dtype, library
    and device; workspace : reused block buffers (`protoflow.xp.Workspace`), e.g. one per fit;
    prepared : `protoflow.inversion.PreparedRows` of this chunk, made once per fit.
    Returns (bmu (n,) int64, squared distance (n,) float64, clipped at 0), there.
    """
    on_cpu = str(device(S)) == "cpu"
    return bmu_search(chunk, S, block_bytes=_BLOCK_BYTES if on_cpu else _DEVICE_BLOCK_BYTES,
                      workspace=workspace, prepared=prepared)


def accumulate(chunk: Any, W: Any, *, S: Any = None, workspace: Workspace | None = None,
               prepared: PreparedRows | None = None) -> BatchStats:
    """The map step: per-unit sums and counts of one chunk under prototypes W.

    Parameters
    ----------
    chunk : array of shape (n, n_features), float64 or float32 (same dtype as W); numpy, or a
        tensor on the compute device
    W : array of shape (n_units, n_features), the current prototypes (chunk's library/device)
    S : optional precomputed ``scoring_matrix(W)`` (reuse it across the chunks of an epoch)
    workspace : optional `protoflow.xp.Workspace` for the BMU search's buffers: pass the same
        one to every epoch of a fit (not shared between threads)
    prepared : optional `protoflow.inversion.PreparedRows` of this same chunk (float64): the
        BMU search's float32 rows, made once for all the epochs of a fit

    Returns
    -------
    BatchStats with sums (n_units, n_features) and counts (n_units,) in float64.
    """
    xp = namespace(chunk, W)
    K, D = W.shape
    if S is None:
        S = scoring_matrix(W)
    b, d2 = bmus(chunk, S, workspace=workspace, prepared=prepared)
    sums = xp.zeros((K, D), dtype=xp.float64, device=device(W))
    # float64 sums in row blocks of <= 32 MB: no full float64 copy of a float32 chunk
    rows = max(256, _DEVICE_BLOCK_BYTES // (8 * max(D, 1)))
    n = chunk.shape[0]
    for start in range(0, n, rows):
        stop = min(start + rows, n)  # in bounds, every axis indexed: what the standard allows
        scatter_add(b[start:stop], chunk[start:stop, ...], K, out=sums)
    return BatchStats(sums, bincount(b, K), float(xp.sum(d2)), float(xp.sum(xp.sqrt(d2))))


class KernelTable:
    """``gaussian_kernel(distances, T)`` for many temperatures T, computed by lookup.

    Lattice map distances are whole hop counts, so the Gaussian takes only max(d) + 1 distinct
    values: evaluating exp once per distinct distance and gathering is exactly the same matrix,
    about 5x faster than exp over all n_units^2 pairs (which otherwise rivals the BMU search on
    large maps). Distances that are not all finite whole numbers (e.g. a graph with
    unreachable units) use `gaussian_kernel` directly.

    distances : ndarray (n_units, n_units), the topology's map distances.
    like : optional array whose library and device the kernels are made in (e.g. the training
        data tensor); None gives numpy.
    """

    #: above this many entries the gather index is stored as int32 (half the memory, slower)
    _INTP_MAX_ENTRIES = 1 << 23

    def __init__(self, distances: np.ndarray, *, like: Any = None) -> None:
        self.distances = distances
        self.like = np.empty(0) if like is None else like
        d = np.asarray(distances, dtype=np.float64)
        self._index: Any = None
        # whole hop counts: checked on the integer cast itself, with no (n_units, n_units)
        # float temporaries (NaN and inf fail the range test, a fraction the comparison)
        if d.size and d.min() >= 0 and d.max() < 2**31:
            dtype = np.intp if d.size <= self._INTP_MAX_ENTRIES else np.int32
            index = d.astype(dtype if isinstance(self.like, np.ndarray) else np.int64)
            if np.array_equal(index, d):
                self._index = asarray_like(index, self.like)
                self._levels = np.arange(int(d.max()) + 1, dtype=np.float64)

    def __call__(self, temperature: float, rows: Any = None, *, workspace: Workspace | None = None) -> Any:
        """The kernel (n_units, n_units), float64, at temperature T > 0, or only its `rows`
        (an integer array (m,), e.g. the BMUs of a minibatch): shape (m, n_units). In the
        library and on the device of `like`. With a `protoflow.xp.Workspace` the full kernel
        is written into its buffer "kernel" (valid until the next such call; numpy only)."""
        if self._index is None:
            d = self.distances if rows is None else self.distances[to_numpy(rows)]
            return asarray_like(gaussian_kernel(d, temperature), self.like)
        xp = namespace(self._index)
        index = self._index if rows is None else xp.take(self._index, rows, axis=0)
        levels = asarray_like(gaussian_kernel(self._levels, temperature), index)
        if workspace is not None and rows is None and isinstance(index, np.ndarray):
            # the lookup straight into a reused buffer; the index is in range by construction
            # (mode="clip": no check, which with out= would also go through a temporary)
            out = workspace.empty("kernel", index.shape, np.float64, index)
            return np.take(levels, index, out=out, mode="clip")
        return xp.reshape(xp.take(levels, xp.reshape(index, (-1,))), index.shape)


#: maps of at most this many units share their numpy `KernelTable` across models
#: (`shared_kernel_table`): 1,024 units hold 16 MB (distances and gather index)
SHARED_TABLE_MAX_UNITS = 1024


def shared_kernel_table(topology: Any) -> KernelTable | None:
    """The numpy `KernelTable` of a small `topology` (at most `SHARED_TABLE_MAX_UNITS` units),
    built once per equal topology (a hashable value such as `protoflow.topology.Lattice`) and
    reused by every model in the process; None for larger or unhashable topologies (build
    their own). Rebuilding the table and the map distances for each new model costs, on a
    20x20 map, page faults comparable to two epochs on digits."""
    if topology.n_units > SHARED_TABLE_MAX_UNITS:
        return None
    try:
        return _shared_table(topology)
    except TypeError:  # unhashable
        return None


@functools.lru_cache(maxsize=8)
def _shared_table(topology: Any) -> KernelTable:
    return KernelTable(topology.distances())


def update(W: Any, stats: BatchStats, kernel: Any) -> Any:
    """The reduce step's result: Kohonen's batch rule.

    ``w_k = (H @ sums)_k / (H @ counts)_k`` with H = kernel (n_units, n_units), symmetric
    neighbourhood weights. A unit whose weighted count is zero (no data anywhere within reach
    of the kernel: a dead unit) keeps its previous prototype.

    Returns a new array of W's shape (n_units, n_features), dtype and library.
    """
    xp = namespace(W, stats.sums, kernel)
    # one product for both (a second pass over the K x K kernel costs as much as the first)
    both = kernel @ xp.concat([stats.sums, stats.counts[:, None]], axis=1)
    num, den = both[:, :-1], both[:, -1]
    alive = den > float(np.finfo(np.float64).tiny)  # a Python float: any array library takes it
    new = num / xp.where(alive, den, 1.0)[:, None]
    if not bool(xp.all(alive)):  # the rare dead unit keeps its prototype
        new = xp.where(alive[:, None], new, xp.astype(W, xp.float64))
    return xp.astype(new, W.dtype, copy=False)


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
