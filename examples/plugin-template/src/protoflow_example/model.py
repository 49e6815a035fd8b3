"""`RandomSamples`: n_units distinct samples of the data become the prototypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow import Graph, NoTopology, PrototypeModelBase
from protoflow.params import Choice, Int, Schema, Seed
from protoflow.validation import check_array, check_int, check_seed


class RandomSamples(PrototypeModelBase):
    """Prototypes drawn without replacement from the training data.

    Parameters
    ----------
    n_units : int, default 16
        Number of prototypes.
    topology : {"none", "knn"}, default "none"
        "knn" links each prototype to its `k` nearest other prototypes (a `Graph`).
    k : int, default 3
        Neighbours per prototype for ``topology="knn"``.
    seed : int or None
        Seed for the draw.

    Attributes
    ----------
    prototypes_ : ndarray of shape (n_units, n_features)
    topology_ : NoTopology or Graph
    n_features_in_ : int
    """

    # Every constructor parameter, declared once: `fit` checks the values with it and
    # `protoflow config validate` reads the same declaration (the kit checks they agree).
    parameters = Schema(n_units=Int(1), topology=Choice("none", "knn"), k=Int(1), seed=Seed())

    def __init__(self, n_units: int = 16, topology: str = "none", k: int = 3, seed: int | None = None):
        self.n_units = n_units
        self.topology = topology
        self.k = k
        self.seed = seed

    def fit(self, Z: Any, y: Any = None) -> RandomSamples:
        """Z : array-like of shape (n_samples, n_features). Returns self."""
        p = self.validated_params()
        n_units = p["n_units"]
        Z = check_array(Z, name="Z", min_samples=n_units)
        rng = check_seed(p["seed"])
        W = Z[rng.choice(len(Z), size=n_units, replace=False)].copy()
        if p["topology"] == "knn":
            k = check_int("k", p["k"], minimum=1, maximum=max(n_units - 1, 1))  # relates two
            d = ((W[:, None] - W[None]) ** 2).sum(-1)
            np.fill_diagonal(d, np.inf)
            nearest = np.argsort(d, axis=1)[:, :k]
            edges = [(i, int(j)) for i in range(n_units) for j in nearest[i]]
            self.topology_ = Graph(n_units, edges)
        else:
            self.topology_ = NoTopology(n_units)
        self.prototypes_ = W
        self.n_features_in_ = Z.shape[1]
        return self
