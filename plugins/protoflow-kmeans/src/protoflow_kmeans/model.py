"""`KMeansPrototypes`: scikit-learn's k-means centres as a protoflow prototype model."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow import Graph, NoTopology, PrototypeModelBase
from protoflow.errors import ConfigError, ValidationError
from protoflow.missing import NAN_POLICIES, MissingDataMixin, check_observed
from protoflow.params import Choice, Int, Schema, Seed
from protoflow.scale import is_chunked
from protoflow.validation import check_array, check_int, check_seed

#: above this many samples, ``algorithm="auto"`` switches to MiniBatchKMeans: full Lloyd
#: iterations then cost several seconds per run on two cores, and minibatches lose little QE.
MINIBATCH_THRESHOLD = 100_000


def knn_graph(W: np.ndarray, k: int) -> Graph:
    """Join each prototype to its k nearest other prototypes (symmetrised, so degrees >= k).

    W : ndarray of shape (n_units, n_features); 1 <= k < n_units.
    """
    n = W.shape[0]
    w2 = np.einsum("ij,ij->i", W, W)
    d = w2[:, None] + w2[None, :] - 2.0 * (W @ W.T)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    return Graph(n, np.column_stack([np.repeat(np.arange(n), k), nearest.ravel()]))


class KMeansPrototypes(MissingDataMixin, PrototypeModelBase):
    """k-means centres as prototypes (scikit-learn's KMeans, or MiniBatchKMeans on large data).

    Parameters
    ----------
    n_units : int, default 64
        Number of centres (64: the DESOM paper's 8x8 map, for like-for-like comparisons).
    topology : {"none", "knn"}, default "none"
        "none": `NoTopology` (controllers fall back to nearest prototypes). "knn": a `Graph`
        joining each centre to its `k` nearest centres, for controllers that want neighbours.
    k : int, default 4
        Neighbours per centre for ``topology="knn"`` (1 <= k < n_units).
    algorithm : {"auto", "lloyd", "minibatch"}, default "auto"
        "lloyd": `sklearn.cluster.KMeans`; "minibatch": `MiniBatchKMeans`; "auto": minibatch
        when n_samples > `minibatch_threshold`.
    minibatch_threshold : int, default 100_000
    max_iter : int, default 300
        Lloyd iterations (KMeans) or passes over the data (MiniBatchKMeans).
    n_init : int, default 1
        Restarts (k-means++ each); the best inertia is kept.
    batch_size : int, default 4096
        Minibatch size for MiniBatchKMeans.
    seed : int or None
    nan_policy : {"raise", "omit"}, default "raise"
        "raise": NaN in the data is a ValidationError. "omit": NaN marks a missing entry;
        data holding NaN is clustered by a NaN-aware Lloyd iteration
        (``protoflow_kmeans.missing``: assignment by the rescaled observed-coordinate distance of
        `protoflow.missing`, centres as per-feature means of the observed values, scikit-learn's tolerance, k-means++
        starts on the mean-imputed data), whatever `algorithm` says; complete data still
        goes to scikit-learn. A row without any observed value is a ValidationError; chunked
        input is refused. `activations`/`bmu` of data with NaN use the rescaled distances, and
        `impute` fills missing entries from the nearest centre.

    Attributes
    ----------
    prototypes_ : ndarray of shape (n_units, n_features)
    topology_ : NoTopology or Graph
    inertia_ : float
        Sum of squared distances to the nearest centre (as scikit-learn reports it).
    n_iter_ : int
    algorithm_ : str
        "lloyd" or "minibatch", as resolved ("lloyd" for the NaN-aware iteration).
    n_features_in_ : int
    """

    parameters = Schema(
        n_units=Int(1),
        topology=Choice("none", "knn"),
        k=Int(1),
        algorithm=Choice("auto", "lloyd", "minibatch"),
        minibatch_threshold=Int(0),
        max_iter=Int(1),
        n_init=Int(1),
        batch_size=Int(1),
        seed=Seed(),
        nan_policy=Choice(*NAN_POLICIES, doc='"raise": NaN is an error; "omit": NaN is missing'),
    )

    def __init__(
        self,
        n_units: int = 64,
        topology: str = "none",
        k: int = 4,
        algorithm: str = "auto",
        minibatch_threshold: int = MINIBATCH_THRESHOLD,
        max_iter: int = 300,
        n_init: int = 1,
        batch_size: int = 4096,
        seed: int | None = None,
        nan_policy: str = "raise",
    ) -> None:
        self.n_units = n_units
        self.topology = topology
        self.k = k
        self.algorithm = algorithm
        self.minibatch_threshold = minibatch_threshold
        self.max_iter = max_iter
        self.n_init = n_init
        self.batch_size = batch_size
        self.seed = seed
        self.nan_policy = nan_policy

    def fit(self, Z: Any, y: Any = None) -> KMeansPrototypes:
        """Z : array-like of shape (n_samples >= n_units, n_features), or chunked data (a dask
        array or a list of .npy files: Lloyd iterations as Dask map-reduces, see
        `protoflow_kmeans.chunked`). y is ignored. Returns self."""
        from sklearn.cluster import KMeans, MiniBatchKMeans

        p = self.validated_params()  # the declared checks, as `config validate` runs them
        n_units = p["n_units"]
        if p["topology"] == "knn":
            if n_units < 2:
                raise ConfigError("parameter 'topology'='knn' needs n_units >= 2.")
            check_int("k", p["k"], minimum=1, maximum=n_units - 1)
        threshold, max_iter, n_init = p["minibatch_threshold"], p["max_iter"], p["n_init"]
        batch_size = p["batch_size"]
        omit = p["nan_policy"] == "omit"
        if is_chunked(Z):  # a dask array or .npy files: chunked Lloyd iterations
            if omit:
                raise ConfigError(
                    "parameter 'nan_policy'='omit' cannot cluster chunked input (a dask array "
                    "or .npy files); load the data into memory (an ndarray) to cluster it with "
                    "missing entries, or impute it first."
                )
            from protoflow_kmeans.chunked import fit_chunked

            return fit_chunked(self, Z, n_units=n_units, max_iter=max_iter, n_init=n_init)
        rng = check_seed(self.seed)
        random_state = int(rng.integers(2**31 - 1))
        Z = check_array(Z, name="Z", allow_nan=omit)
        if Z.shape[0] < n_units:
            raise ValidationError(
                f"Z has {Z.shape[0]} samples, fewer than n_units={n_units}: k-means needs at "
                "least one sample per centre. Lower n_units or pass more data."
            )
        if omit and np.isnan(Z).any():
            from protoflow_kmeans.missing import lloyd_masked

            check_observed(Z, "Z")
            W, inertia, n_iter = lloyd_masked(Z, n_units, max_iter=max_iter, n_init=n_init, rng=rng)
            return self._fitted(W, n_units, inertia, n_iter, "lloyd", Z.shape[1])
        algorithm = self.algorithm
        if algorithm == "auto":
            algorithm = "minibatch" if Z.shape[0] > threshold else "lloyd"
        if algorithm == "minibatch":
            est = MiniBatchKMeans(
                n_units, max_iter=max_iter, n_init=n_init, batch_size=batch_size,
                random_state=random_state,
            )
        else:
            est = KMeans(n_units, max_iter=max_iter, n_init=n_init, random_state=random_state)
        est.fit(Z)
        W = np.ascontiguousarray(est.cluster_centers_, dtype=np.float64)
        return self._fitted(W, n_units, float(est.inertia_), int(est.n_iter_), algorithm, Z.shape[1])

    def _fitted(self, W: np.ndarray, n_units: int, inertia: float, n_iter: int, algorithm: str,
                n_features: int) -> KMeansPrototypes:
        """Set the fitted attributes from centres W (n_units, n_features); returns self."""
        self.prototypes_ = W
        self.topology_ = knn_graph(W, self.k) if self.topology == "knn" else NoTopology(n_units)
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.algorithm_ = algorithm
        self.n_features_in_ = int(n_features)
        return self
