"""`GrowingNeuralGas`: Fritzke's (1995) Growing Neural Gas as a protoflow prototype model."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow import Graph, PrototypeModelBase
from protoflow.missing import NAN_POLICIES, MissingDataMixin, check_observed, mean_impute
from protoflow.params import Choice, Float, Int, Schema, Seed
from protoflow.progress import Progress
from protoflow.validation import check_array, check_seed


class GrowingNeuralGas(MissingDataMixin, PrototypeModelBase):
    """Growing Neural Gas (Fritzke, "A Growing Neural Gas Network Learns Topologies", NIPS 7,
    1995), faithful to the paper's algorithm.

    Starts from two units placed on two random training samples. For each sample: find the
    nearest unit s1 and the second nearest s2; age s1's edges; add the *squared* distance to
    s1's error; move s1 by ``eps_b`` and its graph neighbours by ``eps_n`` towards the sample;
    refresh (or create) the edge s1-s2 with age 0; delete s1's edges older than ``max_age`` and
    the units this leaves without edges. Every ``insert_every`` samples, while there are fewer
    than ``max_units`` units, insert a unit halfway between the unit q of largest error and its
    neighbour f of largest error (replacing the edge q-f by q-r-f), multiply the errors of q and f
    by ``alpha`` and give the new unit q's new error. Then all errors decay by ``decay``.

    The defaults are the paper's (also those of MDP and Smile): lambda = 100, eps_b = 0.2,
    eps_n = 0.006, alpha = 0.5, a_max = 50, d = 0.995. The number of units grows by one every
    ``insert_every`` samples, so ``max_units`` is reached after about
    ``(max_units - 2) * insert_every`` samples; training goes on for ``epochs`` passes over the
    data (each in a fresh seeded order) whether or not the size is reached.

    Parameters
    ----------
    max_units : int, default 100
        Upper bound on the number of units (>= 2).
    epochs : int, default 10
        Passes over the training data.
    eps_b : float, default 0.2
        Step size of the winner, in (0, 1].
    eps_n : float, default 0.006
        Step size of the winner's graph neighbours, in [0, 1].
    max_age : int, default 50
        Edges older than this are removed (a_max).
    insert_every : int, default 100
        A unit is inserted every this many samples (lambda).
    alpha : float, default 0.5
        Error reduction of q and f on insertion, in [0, 1].
    decay : float, default 0.995
        Per-sample multiplicative error decay d, in (0, 1].
    seed : int or None
        Seeds the two initial samples and each epoch's sample order.
    nan_policy : {"raise", "omit"}, default "raise"
        "raise": NaN in the data is a ValidationError. "omit": NaN marks a missing entry
        (`protoflow.missing`): the two nearest units are found over a sample's observed
        coordinates with the squared distance rescaled by the observed fraction, that
        rescaled squared distance is the error added, and the winner and its neighbours move
        along the observed coordinates only. The two initial units are mean-imputed samples.
        A row without any observed value is a ValidationError. `activations`/`bmu` of data
        with NaN use the rescaled distances, and `impute` fills missing entries from the
        nearest unit.

    Attributes
    ----------
    prototypes_ : ndarray of shape (n_units, n_features)
    topology_ : Graph
        The learned edges; map distance = number of hops. Every unit has at least one edge,
        but the graph may have several components.
    edge_ages_ : ndarray of shape (n_edges,)
        Age of each edge of ``topology_.edges`` (same order).
    errors_ : ndarray of shape (n_units,)
        Accumulated (decayed) squared error of each unit.
    n_steps_ : int
        Samples presented in total.
    n_features_in_ : int
    """

    parameters = Schema(
        max_units=Int(2),
        epochs=Int(1),
        eps_b=Float(0.0, 1.0, strict_min=True),
        eps_n=Float(0.0, 1.0),
        max_age=Int(1),
        insert_every=Int(1),
        alpha=Float(0.0, 1.0),
        decay=Float(0.0, 1.0, strict_min=True),
        seed=Seed(),
        nan_policy=Choice(*NAN_POLICIES, doc='"raise": NaN is an error; "omit": NaN is missing'),
    )

    def __init__(
        self,
        max_units: int = 100,
        epochs: int = 10,
        eps_b: float = 0.2,
        eps_n: float = 0.006,
        max_age: int = 50,
        insert_every: int = 100,
        alpha: float = 0.5,
        decay: float = 0.995,
        seed: int | None = None,
        nan_policy: str = "raise",
    ) -> None:
        self.max_units = max_units
        self.epochs = epochs
        self.eps_b = eps_b
        self.eps_n = eps_n
        self.max_age = max_age
        self.insert_every = insert_every
        self.alpha = alpha
        self.decay = decay
        self.seed = seed
        self.nan_policy = nan_policy

    def _checked_params(self) -> dict[str, Any]:
        """The engine's settings, checked against `parameters` (as `config validate` does)."""
        p = self.validated_params()
        return {k: p[k] for k in ("max_units", "eps_b", "eps_n", "max_age", "insert_every", "alpha", "decay")}

    def fit(self, Z: Any, y: Any = None) -> GrowingNeuralGas:
        """Grow the network on Z.

        Z : array-like of shape (n_samples >= 2, n_features). y is ignored. Returns self.
        """
        params = self._checked_params()
        epochs = self.epochs  # checked with the rest by _checked_params
        omit = self.validated_params()["nan_policy"] == "omit"
        rng = check_seed(self.seed)
        Z = check_array(Z, name="Z", min_samples=2, allow_nan=omit)
        Z = np.ascontiguousarray(Z)
        observed = None
        start = Z
        if omit and np.isnan(Z).any():
            observed = check_observed(Z, "Z")
            start = mean_impute(Z, name="Z")
        # the numba engine is imported on the first fit, not with the plugin: every protoflow
        # session imports the registered models, and numba costs a few tenths of a second
        from protoflow_gng import _engine

        W0 = start[rng.choice(len(Z), size=2, replace=False)]
        state = _engine.GNGState(W0, params["max_units"])
        step = 0
        with Progress(epochs, "gng epochs") as bar:  # drawn on a terminal only, never when quiet
            for _ in range(epochs):
                step = state.run(Z, rng.permutation(len(Z)), step, observed=observed, **params)
                bar.update()
        W, edges, ages, errors = state.export()
        self.prototypes_ = W
        self.topology_ = Graph(len(W), edges)
        self.edge_ages_ = ages
        self.errors_ = errors
        self.n_steps_ = step
        self.n_features_in_ = Z.shape[1]
        return self
