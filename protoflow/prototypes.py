"""`PrototypeSet`: a model for prototypes that came from elsewhere (MiniSom, somoclu,
scikit-learn's KMeans, a file), so they can be inverted and steered without retraining."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.base import PrototypeModelBase
from protoflow.errors import ConfigError
from protoflow.topology import Lattice, NoTopology, Topology
from protoflow.validation import check_array


class PrototypeSet(PrototypeModelBase):
    """A fixed codebook.

    Unlike trained models it is usable at once: ``prototypes_`` and ``topology_`` are set by
    the constructor from its arguments, and `fit` only checks the data's width.

    Parameters
    ----------
    prototypes : array-like of shape (n_units, n_features), or (rows, cols, n_features) for a
        lattice codebook (then the topology defaults to ``Lattice(rows, cols)``, numbered
        row-major). For maps trained elsewhere use `from_minisom`, `from_somoclu` or
        `from_sklearn` (see `protoflow.interop`): they also import hexagonal and toroidal
        layouts with the library's row offsets and unit order.
    topology : Topology, optional
        Defaults to `NoTopology` (or the lattice implied by a 3-D codebook).

    Attributes
    ----------
    prototypes_ : ndarray of shape (n_units, n_features)
    topology_ : Topology
    n_features_in_ : int
    """

    def __init__(self, prototypes: Any = None, topology: Topology | None = None) -> None:
        self.prototypes = prototypes
        self.topology = topology
        if prototypes is not None:
            self._build()

    @classmethod
    def from_minisom(cls, som: Any) -> PrototypeSet:
        """A MiniSom map (rect or hex), exactly; see `protoflow.interop.from_minisom`.

        Parameters
        ----------
        som : minisom.MiniSom, weights of shape (x, y, n_features).

        Returns
        -------
        PrototypeSet with (x * y) units, unit ``j * x + i`` holding MiniSom's neuron (i, j).
        """
        from protoflow import interop

        return interop.from_minisom(som)

    @classmethod
    def from_somoclu(cls, som: Any, *, neighbors: str = "lattice") -> PrototypeSet:
        """A somoclu map (rect or hex, planar or toroid), exactly; see
        `protoflow.interop.from_somoclu`.

        Parameters
        ----------
        som : somoclu.Somoclu, codebook of shape (n_rows, n_columns, dim).
        neighbors : "lattice" | "kernel" (hexagonal maps only).

        Returns
        -------
        PrototypeSet with (n_rows * n_columns) units, unit ``row * n_columns + col``.
        """
        from protoflow import interop

        return interop.from_somoclu(som, neighbors=neighbors)

    @classmethod
    def from_sklearn(cls, kmeans: Any, topology: str = "none", k: int = 4) -> PrototypeSet:
        """A fitted scikit-learn KMeans / MiniBatchKMeans; see `protoflow.interop.from_sklearn`.

        Parameters
        ----------
        kmeans : fitted estimator, ``cluster_centers_`` of shape (n_clusters, n_features).
        topology : "none" | "knn".
        k : neighbours per centre for "knn".

        Returns
        -------
        PrototypeSet with n_clusters units, unit k = cluster k.
        """
        from protoflow import interop

        return interop.from_sklearn(kmeans, topology, k)

    def _build(self) -> None:
        P = np.asarray(self.prototypes) if self.prototypes is not None else None
        if P is None:
            raise ConfigError("PrototypeSet needs 'prototypes' (an array (n_units, n_features)).")
        topo = self.topology
        if P.ndim == 3:
            rows, cols, _ = P.shape
            P = P.reshape(rows * cols, -1)
            topo = topo if topo is not None else Lattice(rows, cols)
        W = check_array(P, name="prototypes", allow_float32=True, copy=True)
        if topo is None:
            topo = NoTopology(W.shape[0])
        if not isinstance(topo, Topology):
            raise ConfigError(
                f"parameter 'topology' must be a protoflow Topology, got {type(topo).__name__}"
            )
        if topo.n_units != W.shape[0]:
            raise ConfigError(
                f"parameter 'topology' has {topo.n_units} units but there are {W.shape[0]} prototypes"
            )
        self.prototypes_ = W
        self.topology_ = topo
        self.n_features_in_ = W.shape[1]

    def fit(self, Z: Any = None, y: Any = None) -> PrototypeSet:
        """Nothing to learn; checks Z's width when given. Returns self."""
        self._build()
        if Z is not None:
            check_array(Z, name="Z", n_features=self.n_features_in_)
        return self

    def _protoflow_get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"topology_": {"__topology__": self.topology_.to_dict()}}, {
            "prototypes_": self.prototypes_
        }

    def _protoflow_set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._protoflow_set_state(meta, arrays)
        self.prototypes = self.prototypes_
        self.topology = self.topology_
        self.n_features_in_ = self.prototypes_.shape[1]
