"""The three roles every plugin plays, as runtime-checkable protocols, and `Trajectory`.

Shapes use: n_samples points, n_features latent dimensions, n_units prototypes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from protoflow._arrays import array_field, arrays_equal, readonly
from protoflow.topology import Topology


@runtime_checkable
class PrototypeModel(Protocol):
    """Learns prototypes in a latent space.

    Attributes (after `fit`)
    ------------------------
    prototypes_ : ndarray of shape (n_units, n_features)
    topology_ : Topology with ``n_units`` units
    encoder : optional; a model that learns its own encoder (DESOM) exposes it here, and then
        `fit` takes data while `activations`/`bmu` take latent points.
    """

    prototypes_: np.ndarray
    topology_: Topology

    def fit(self, Z: Any, y: Any = None) -> PrototypeModel:
        """Fit on Z of shape (n_samples, n_features); returns self."""
        ...

    def activations(self, Z: Any) -> np.ndarray:
        """Squared Euclidean distances to every prototype, shape (n_samples, n_units)."""
        ...

    def bmu(self, Z: Any) -> np.ndarray:
        """Index of the best-matching (nearest) prototype, shape (n_samples,)."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """Maps raw data X (n_samples, n_inputs) to latent Z (n_samples, n_features) and back."""

    def fit(self, X: Any, y: Any = None) -> Encoder:
        ...

    def encode(self, X: Any) -> np.ndarray:
        """(n_samples, n_inputs) -> (n_samples, n_features)."""
        ...

    def decode(self, Z: Any) -> np.ndarray:
        """(n_samples, n_features) -> (n_samples, n_inputs)."""
        ...


@runtime_checkable
class Controller(Protocol):
    """Moves a latent point by changing its activations."""

    def step(self, model: PrototypeModel, z: Any, target: Any) -> np.ndarray:
        """One step from z (n_features,) (or a batch (n, n_features)); returns the next point."""
        ...

    def run(self, model: PrototypeModel, z0: Any, target: Any, steps: int) -> Trajectory:
        """`steps` steps from z0; returns the `Trajectory`."""
        ...


def _info_converter(value: Any) -> tuple[dict[str, Any], ...]:
    return tuple(dict(v) for v in (value or ()))


def _info_eq(a: tuple[dict[str, Any], ...], b: tuple[dict[str, Any], ...]) -> bool:
    if len(a) != len(b):
        return False
    for da, db in zip(a, b):
        if da.keys() != db.keys():
            return False
        for k in da:
            va, vb = da[k], db[k]
            if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
                if not arrays_equal(va, vb):
                    return False
            elif va != vb and not (va != va and vb != vb):  # NaN == NaN here
                return False
    return True


@attrs.frozen(kw_only=True)
class Trajectory:
    """A path through latent space produced by a controller.

    Attributes
    ----------
    points : ndarray of shape (steps + 1, n_features), or (n_paths, steps + 1, n_features) for a batch
    bmus : int ndarray of shape (steps + 1,), or (n_paths, steps + 1)
    info : one dict per step (step length, solver used, energy terms, ...)
    controller : name of the controller that made it
    target : the target (unit index, list of units, or None)
    """

    points: np.ndarray = array_field()
    bmus: np.ndarray = attrs.field(converter=readonly, eq=attrs.cmp_using(eq=arrays_equal))
    info: tuple[dict[str, Any], ...] = attrs.field(
        factory=tuple, converter=_info_converter, eq=attrs.cmp_using(eq=_info_eq)
    )
    controller: str = ""
    target: Any = None

    @bmus.validator
    def _check_bmus(self, attribute: Any, value: np.ndarray) -> None:
        if value.shape != self.points.shape[:-1]:
            raise ValueError(
                f"bmus has shape {value.shape}, expected {self.points.shape[:-1]} to match points"
            )

    @property
    def n_steps(self) -> int:
        return int(self.points.shape[-2]) - 1

    @property
    def steps(self) -> np.ndarray:
        """Step vectors d_k = z_k - z_(k-1), shape (steps, n_features) (batched: leading axis)."""
        return np.diff(self.points, axis=-2)
