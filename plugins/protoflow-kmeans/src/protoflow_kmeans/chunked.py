"""Lloyd's k-means on chunked data (a dask array or a list of .npy files).

`KMeansPrototypes.fit` sends chunked input here. Each Lloyd iteration is one Dask map-reduce on
the active scheduler (local threads by default, a ``dask.distributed`` cluster when a ``Client``
exists): per chunk, nearest centres, per-centre sums and counts and the inertia; summed in a
tree; the client divides. Iterations stop as scikit-learn's Lloyd does: when the squared centre
shift is at most ``TOL * mean(per-feature variance)`` (variance streamed in one pass), or after
`max_iter`.

Initialisation: `n_units` distinct rows drawn uniformly by the seeded generator (global
indices; only those rows are read). The in-memory plugin uses scikit-learn's k-means++, so the
two do not start alike; with the same initial centres the chunked run equals an in-memory Lloyd
run up to float rounding (tested against a NumPy Lloyd and scikit-learn's ``KMeans``). A centre
that loses all its points keeps its position (scikit-learn instead moves it to a far point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import sparse

from protoflow import NoTopology
from protoflow.errors import ConfigError, ValidationError
from protoflow.inversion import bmu
from protoflow.scale import as_dask_array, map_reduce, moments
from protoflow.validation import check_seed
from protoflow_kmeans.model import knn_graph

if TYPE_CHECKING:
    from protoflow_kmeans.model import KMeansPrototypes

#: scikit-learn's default relative tolerance (KMeans(tol=1e-4)), used by the in-memory fit too
TOL = 1e-4


class LloydStats(NamedTuple):
    """Per-centre sums (n_units, n_features), counts (n_units,) and inertia (sum of squared
    distances to the nearest centre) of a chunk; NamedTuples add field by field in map_reduce."""

    sums: np.ndarray
    counts: np.ndarray
    inertia: float


def lloyd_stats(chunk: np.ndarray, centers: np.ndarray) -> LloydStats:
    """The map step: nearest centre of each row of chunk (m, n_features), then sums/counts."""
    chunk = chunk.astype(np.float64, copy=False)  # as the in-memory fit: float64 throughout
    labels = bmu(chunk, centers)
    K, m = len(centers), len(chunk)
    resid = chunk - centers[labels]
    # a sparse (K, m) indicator times the chunk: O(m * n_features), no dense (m, K) matrix
    indicator = sparse.csr_matrix((np.ones(m), (labels, np.arange(m))), shape=(K, m))
    return LloydStats(
        np.asarray(indicator @ chunk), np.bincount(labels, minlength=K).astype(np.float64),
        float(np.einsum("ij,ij->", resid, resid)),
    )


def lloyd_update(centers: np.ndarray, stats: LloydStats) -> np.ndarray:
    """New centres: the mean of each centre's points; an empty centre stays where it was."""
    out = centers.copy()
    alive = stats.counts > 0
    out[alive] = stats.sums[alive] / stats.counts[alive, None]
    return out


def fit_chunked(
    model: KMeansPrototypes, Z: Any, *, n_units: int, max_iter: int, n_init: int
) -> KMeansPrototypes:
    """Fit `model` on chunked Z (n_samples, n_features); parameters already validated by
    `KMeansPrototypes.fit`. Sets the same fitted attributes; ``algorithm_`` is "lloyd"."""
    if model.algorithm == "minibatch":
        raise ConfigError(
            "parameter 'algorithm'='minibatch' cannot train on chunked input (a dask array or "
            ".npy files); use 'lloyd' or 'auto', which run chunked Lloyd iterations."
        )
    if n_init != 1:
        raise ConfigError(
            f"parameter 'n_init'={n_init}: chunked input runs one Lloyd start (each costs a pass "
            "over the data per iteration); use n_init=1."
        )
    Z = as_dask_array(Z, name="Z")
    n = int(Z.shape[0])
    if n < n_units:
        raise ValidationError(
            f"Z has {n} samples, fewer than n_units={n_units}: k-means needs at least one "
            "sample per centre. Lower n_units or pass more data."
        )
    rng = check_seed(model.seed)
    rows = np.sort(rng.choice(n, size=n_units, replace=False))
    centers = np.asarray(Z[rows].compute(), dtype=np.float64)
    tol = TOL * float(np.mean(moments(Z, name="Z").variance))
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        stats = map_reduce(Z, lloyd_stats, centers, name="Z")
        new = lloyd_update(centers, stats)
        shift = float(np.sum((new - centers) ** 2))
        centers = new
        if shift <= tol:
            break
    # the last stats were measured before the last update: measure the final centres' inertia
    inertia = stats.inertia if shift == 0.0 else map_reduce(Z, lloyd_stats, centers, name="Z").inertia
    model.prototypes_ = centers
    model.topology_ = knn_graph(centers, model.k) if model.topology == "knn" else NoTopology(n_units)
    model.inertia_ = float(inertia)
    model.n_iter_ = n_iter
    model.algorithm_ = "lloyd"
    model.n_features_in_ = int(Z.shape[1])
    return model
