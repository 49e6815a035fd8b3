"""The paper's baselines (spec §3): straight-line interpolation and unconstrained radial steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow import inversion
from protoflow.base import ControllerBase
from protoflow.errors import ConfigError
from protoflow.params import Any_, Float, Schema
from protoflow.protocols import Trajectory
from protoflow.validation import check_int
from protoflow_music import sets


def _goal(model: Any, target: Any) -> np.ndarray:
    """The target prototype, or the mean of a cluster's prototypes: shape (n_features,)."""
    W = np.asarray(model.prototypes_, dtype=np.float64)
    mode = "informed" if np.ndim(target) == 0 and target is not None else "cluster"
    return W[sets.parse_target(target, W.shape[0], mode)].mean(axis=0)


def _check_step_lengths(value: Any) -> np.ndarray:
    """Non-negative finite step lengths of shape (steps,) or (n_paths, steps), as float64."""
    try:
        lengths = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        lengths = np.full((0, 0, 0), np.nan)
    if lengths.ndim not in (1, 2) or not np.isfinite(lengths).all() or (lengths < 0).any():
        raise ConfigError(
            "parameter 'step_lengths' must be non-negative finite lengths of shape "
            "(steps,) or (n_paths, steps)"
        )
    return lengths


def step_lengths_of(trajectory: Trajectory) -> np.ndarray:
    """Lengths of a trajectory's steps: (steps,) or (n_paths, steps); feed them to
    ``RadialController(step_lengths=...)`` to compare at equal step lengths."""
    return np.linalg.norm(trajectory.steps, axis=-1)


class LinearController(ControllerBase):
    """Straight line from z0 to the target prototype (or the mean of a cluster's prototypes),
    in equal steps: ``z_k = z0 + (k / steps) (goal - z0)``, so the path ends on the goal.

    `step` alone jumps to the goal (the one-step line). No parameters.
    """

    name = "linear"
    supported_targets = ("unit", "cluster")
    parameters = Schema()

    def __init__(self) -> None:
        pass

    def _step_with_info(
        self, model: Any, z: np.ndarray, target: Any, state: Any
    ) -> tuple[np.ndarray, dict[str, Any]]:
        goal = _goal(model, target)
        z_next = np.broadcast_to(goal, z.shape).copy()
        return z_next, {"step_length": np.linalg.norm(z_next - z, axis=-1)}

    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        """Interpolate from z0 (n_features,) or (n, n_features) to the goal in `steps` steps."""
        steps = check_int("steps", steps, minimum=0)
        z0 = self._check_point(model, z0)
        goal = _goal(model, target)
        frac = np.linspace(0.0, 1.0, steps + 1) if steps else np.zeros(1)
        P = z0[..., None, :] + frac[:, None] * (goal - z0)[..., None, :]
        W = np.asarray(model.prototypes_)
        bmus = inversion.bmu(P.reshape(-1, P.shape[-1]), W).reshape(P.shape[:-1])
        lengths = np.linalg.norm(np.diff(P, axis=-2), axis=-1)
        info = [{"step_length": lengths[..., k]} for k in range(steps)]
        return Trajectory(points=P, bmus=bmus, info=info, controller=self.name, target=target)


class RadialController(ControllerBase):
    """Unconstrained steps along ``-(z - w_t)`` (w_t: the target prototype or the cluster
    mean), ignoring every other activation: the paper's free-evolution baseline.

    Parameters
    ----------
    step_length : float > 0, optional
        Fixed step length in latent units.
    step_lengths : array-like of shape (steps,) or (n_paths, steps), optional
        The length of each step, e.g. `step_lengths_of` a MUSIC trajectory, for a comparison at
        identical step lengths. Takes precedence over `step_length`.
    trust : float > 0, default 0.05
        Used when neither is given: each step is `trust` x the distance from z to its BMU
        prototype (MUSIC's default relative trust radius).

    A step never passes the goal: it stops there when the requested length is longer.
    """

    name = "radial"
    supported_targets = ("unit", "cluster")
    parameters = Schema(
        step_length=Float(0.0, strict_min=True, optional=True),
        step_lengths=Any_(lambda name, v: _check_step_lengths(v)),
        trust=Float(0.0, strict_min=True),
    )

    def __init__(self, step_length: float | None = None, step_lengths: Any = None, trust: float = 0.05) -> None:
        self.step_length = step_length
        self.step_lengths = step_lengths
        self.trust = trust

    def _start(self, model: Any, z0: np.ndarray, target: Any) -> dict[str, Any]:
        lengths = self.validated_params()["step_lengths"]
        if lengths is not None:
            if lengths.ndim == 2 and (z0.ndim == 1 or lengths.shape[0] != z0.shape[0]):
                raise ConfigError(
                    f"parameter 'step_lengths' has {lengths.shape[0]} rows for a batch of "
                    f"{1 if z0.ndim == 1 else z0.shape[0]} starting points"
                )
        return {"goal": _goal(model, target), "lengths": lengths, "k": 0}

    def _step_with_info(
        self, model: Any, z: np.ndarray, target: Any, state: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        toward = state["goal"] - z
        dist = np.linalg.norm(toward, axis=-1)
        lengths, k = state["lengths"], state["k"]
        if lengths is not None:
            if k >= lengths.shape[-1]:
                raise ConfigError(
                    f"parameter 'step_lengths' holds {lengths.shape[-1]} steps; step {k + 1} was asked for"
                )
            length = lengths[..., k]
        elif self.step_length is not None:
            length = float(self.step_length)
        else:
            act = inversion.activations(np.atleast_2d(z), np.asarray(model.prototypes_))
            length = self.trust * np.sqrt(np.maximum(act.min(axis=1), 0.0)).reshape(dist.shape)
        state["k"] = k + 1
        length = np.minimum(length, dist)
        scale = np.divide(length, dist, out=np.zeros_like(dist), where=dist > 0)
        z_next = z + np.asarray(scale)[..., None] * toward
        return z_next, {"step_length": length}
