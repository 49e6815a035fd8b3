"""Batch SOM training on chunked data (a dask array or a list of .npy files).

`SOM.fit` sends chunked input here. Each epoch is one Dask map-reduce on the active scheduler
(local threads by default, a ``dask.distributed`` cluster when a ``Client`` exists)::

    stats = sum over chunks of batch.accumulate(chunk, W)     # tasks, tree-summed
    W = batch.update(W, stats, gaussian_kernel(dist, T_e))    # on the client, (n_units, D)

with the same temperature schedule as the in-memory batch epoch (`SOM._epoch`), so with the same
seed and data the prototypes equal the in-memory ones up to float rounding (chunk sums are
added in a different order). Initialisation matches too:

- init="pca": mean and covariance streamed in one pass (`protoflow.scale.moments`, a stable
  pairwise merge), then the same grid on the principal plane (`init.plane_from_moments`);
- init="random": the same generator draws the same global row indices (`init.sample_indices`),
  and only those rows are read;
- an array: used as given.

Only ``algorithm="batch"`` runs chunked (the minibatch and online rules visit samples in a
global random order, which is not map-reduce shaped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from protoflow.errors import ConfigError
from protoflow.neighborhood import exponential_temperature
from protoflow.scale import as_dask_array, map_reduce, moments
from protoflow.topology import Lattice
from protoflow.validation import check_seed
from protoflow_som import batch
from protoflow_som.init import initial_prototypes, plane_from_moments, sample_indices

if TYPE_CHECKING:
    from protoflow_som.model import SOM


def _accumulate(chunk: np.ndarray, W: np.ndarray) -> batch.BatchStats:
    """The map step for one chunk (m, n_features), in the prototypes' working dtype."""
    return batch.accumulate(chunk.astype(W.dtype, copy=False), W)


def initial_prototypes_chunked(
    X: Any, lattice: Lattice, init: Any, rng: np.random.Generator
) -> np.ndarray:
    """`init.initial_prototypes` for a chunked X (n_samples, n_features); (n_units, n_features)."""
    if isinstance(init, str) and init == "pca":
        m = moments(X)
        return plane_from_moments(m.mean, m.covariance, lattice)
    if isinstance(init, str) and init == "random":
        rows = sample_indices(int(X.shape[0]), lattice, rng)
        return np.asarray(X[rows].compute(), dtype=np.float64)
    # an explicit array (or an invalid value): checked against the width only
    return initial_prototypes(np.empty((0, X.shape[1])), lattice, init, rng)


def fit_chunked(model: SOM, X: Any) -> SOM:
    """Train `model` (a `SOM`, algorithm="batch") on chunked X (n_samples, n_features).

    Sets the same fitted attributes as `SOM.fit` and returns the model.
    """
    cfg = model._config()
    if cfg["algorithm"] != "batch":
        raise ConfigError(
            f"parameter 'algorithm'={cfg['algorithm']!r} cannot train on chunked input (a dask "
            "array or .npy files); use algorithm='batch', whose epoch is a map-reduce."
        )
    if cfg.get("omit"):
        raise ConfigError(
            "parameter 'nan_policy'='omit' cannot train on chunked input (a dask array or .npy "
            "files): the chunked epoch and its streamed initialisation need complete data. Load "
            "the data into memory (an ndarray) to train with missing entries, or impute it first."
        )
    if cfg.get("device") is not None:
        raise ConfigError(
            "parameter 'backend': chunked input runs the numpy batch epoch on the Dask "
            "workers; use backend='numpy' (the default)."
        )
    lattice = model._lattice()
    X = as_dask_array(X, name="X")
    rng = check_seed(model.seed)
    W = initial_prototypes_chunked(X, lattice, model.init, rng).astype(cfg["dtype"])
    model.topology_ = lattice
    model.n_features_in_ = int(X.shape[1])
    model._rng = rng
    kernel = batch.KernelTable(lattice.distances())  # gaussian_kernel by lookup, per epoch
    n, epochs = int(X.shape[0]), cfg["epochs"]
    history = np.empty(epochs)
    for e in range(epochs):
        # the in-memory schedule: epoch e sits at e / (epochs - 1) of it
        T = exponential_temperature(e, epochs - 1, cfg["t_max"], cfg["t_min"])
        stats = map_reduce(X, _accumulate, W, name="X")
        W = batch.update(W, stats, kernel(T))
        history[e] = stats.error / n
    model.prototypes_ = W
    model.n_iter_ = epochs
    model.quantization_error_history_ = history
    return model
