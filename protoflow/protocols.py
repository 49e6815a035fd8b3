"""The three roles every plugin plays, as runtime-checkable protocols, and `Trajectory`.

Shapes use: n_samples points, n_features latent dimensions, n_units prototypes.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from protoflow._arrays import array_field, arrays_equal, readonly
from protoflow.topology import Topology


@runtime_checkable
class PrototypeModel(Protocol):
    """Learns prototypes in a latent space.

    Attributes
    ----------
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
        """Fit on X of shape (n_samples, n_inputs); returns self."""
        ...

    def encode(self, X: Any) -> np.ndarray:
        """(n_samples, n_inputs) -> (n_samples, n_features)."""
        ...

    def decode(self, Z: Any) -> np.ndarray:
        """(n_samples, n_features) -> (n_samples, n_inputs)."""
        ...


@runtime_checkable
class Controller(Protocol):
    """Moves a latent point by changing its activations.

    A controller may declare, as the class attribute ``supported_targets``, which of the
    `TARGET_KINDS` its `run` accepts (default ``("unit",)``); the pipeline, the CLI and the
    conformance kit read it through `supported_targets`.
    """

    def step(self, model: PrototypeModel, z: Any, target: Any) -> np.ndarray:
        """One step from z (n_features,) (or a batch (n, n_features)); returns the next point."""
        ...

    def run(self, model: PrototypeModel, z0: Any, target: Any, steps: int) -> Trajectory:
        """`steps` steps from z0; returns the `Trajectory`."""
        ...


#: what a controller can steer toward: one unit index, a list of unit indices, or nothing
TARGET_KINDS = ("unit", "cluster", "none")


def target_kind(target: Any) -> str:
    """The kind of a controller target: ``"none"`` for None, ``"unit"`` for one integer unit
    index, ``"cluster"`` for a sequence (or 1-D array) of unit indices.

    Raises `protoflow.ValidationError` for anything else (a float, a string, a 2-D array).
    """
    from protoflow.errors import ValidationError

    if target is None:
        return "none"
    if isinstance(target, numbers.Integral | np.integer) and not isinstance(target, bool | np.bool_):
        return "unit"
    if (isinstance(target, np.ndarray) and target.ndim == 1) or (
        isinstance(target, Sequence) and not isinstance(target, str | bytes)
    ):
        return "cluster"
    raise ValidationError(
        f"a target must be a unit index, a list of unit indices or None, got {target!r}"
    )


def supported_targets(controller: Any) -> tuple[str, ...]:
    """The target kinds a controller (an instance, or its class/factory) declares through its
    ``supported_targets`` attribute; ``("unit",)`` when it declares none."""
    declared = getattr(controller, "supported_targets", ("unit",))
    return tuple(declared)


def check_target_supported(controller: Any, kind: str, name: str | None = None) -> None:
    """Raise `protoflow.ConfigError` when `controller` does not declare the target `kind`.

    controller : an instance or its class/factory; name : how to call it in the message.
    """
    from protoflow.errors import ConfigError

    accepted = supported_targets(controller)
    if kind not in accepted:
        label = name or getattr(controller, "name", None) or getattr(controller, "__name__", None) \
            or type(controller).__name__
        raise ConfigError(
            f"controller {label!r} cannot steer toward a {kind} target; it accepts: "
            f"{', '.join(accepted)}. Choose another target or another controller."
        )


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
    info : tuple of one dict per step, ``len(info) == n_steps``. Keys are the controller's own
        (documented by each controller; e.g. MUSIC records ``step_length``, the solver route
        and energy terms); values are floats, strings or, for a batch, arrays of shape
        (n_paths,). Nothing in the core interprets them beyond writing them to metrics.
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

    def __repr__(self) -> str:
        """Shapes, controller and target, not the arrays, e.g. ``Trajectory(controller='music',
        target=3, n_steps=20, points=(21, 2), bmus=(21,), info=20 x ['step_length', ...])``."""
        target = repr(self.target.tolist() if isinstance(self.target, np.ndarray) else self.target)
        if len(target) > 40:
            target = target[:37] + "..."
        keys = sorted({k for d in self.info for k in d})
        shown = ", ".join(repr(k) for k in keys[:4]) + (", ..." if len(keys) > 4 else "")
        info = f"{len(self.info)} x [{shown}]" if self.info else "()"
        return (
            f"Trajectory(controller={self.controller!r}, target={target}, n_steps={self.n_steps}, "
            f"points={tuple(self.points.shape)}, bmus={tuple(self.bmus.shape)}, info={info})"
        )

    @property
    def n_steps(self) -> int:
        """The number of steps taken (points along the path minus one)."""
        return int(self.points.shape[-2]) - 1

    @property
    def steps(self) -> np.ndarray:
        """Step vectors d_k = z_k - z_(k-1), shape (steps, n_features) (batched: leading axis)."""
        return np.diff(self.points, axis=-2)
