"""Which prototypes a MUSIC step attracts (targets) and which it preserves, as boolean masks.

Masks have shape (n_points, n_units); they use only the model's prototypes and topology, so
every model (lattice, graph or no topology) is handled by the same code.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from protoflow.errors import ValidationError
from protoflow.topology import Topology


def parse_target(target: Any, n_units: int, mode: str) -> np.ndarray | None:
    """The target as a sorted array of distinct unit indices (None in free mode).

    informed: one unit index; cluster modes: a unit index or a non-empty list of them.
    """
    if mode == "free":
        if target is not None:
            raise ValidationError(f"mode='free' takes target=None, got {target!r}")
        return None
    if target is None:
        raise ValidationError(
            f"mode={mode!r} needs a target (a unit index or a list of units); "
            "use mode='free' to explore without one"
        )
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        units = np.array([int(target)])
    elif mode == "informed":
        raise ValidationError(
            f"mode='informed' takes one unit index, got {target!r}; use mode='cluster' for a list"
        )
    elif isinstance(target, Sequence | np.ndarray) and len(target) > 0:
        units = np.asarray(target)
        if units.ndim != 1 or not np.issubdtype(units.dtype, np.integer):
            raise ValidationError(f"a cluster target must be a list of unit indices, got {target!r}")
        if len(np.unique(units)) != len(units):
            raise ValidationError(f"the cluster target lists a unit twice: {target!r}")
    else:
        raise ValidationError(f"target must be a unit index or a non-empty list of them, got {target!r}")
    if units.min() < 0 or units.max() >= n_units:
        raise ValidationError(f"target {target!r} is out of range for {n_units} units")
    return units.astype(np.intp)


def one_hot(units: np.ndarray, n_units: int) -> np.ndarray:
    """(n_points,) unit indices -> (n_points, n_units) boolean mask."""
    mask = np.zeros((len(units), n_units), dtype=bool)
    mask[np.arange(len(units)), units] = True
    return mask


def knn_mask(act: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """The k prototypes nearest each point, not counting `exclude`.

    act : (n_points, n_units) activations; exclude : (n_points, n_units) bool.
    """
    n, n_units = act.shape
    masked = np.where(exclude, np.inf, act)
    k = min(k, n_units - int(exclude.sum(axis=1).max()))
    mask = np.zeros((n, n_units), dtype=bool)
    if k <= 0:
        return mask
    idx = np.argpartition(masked, k - 1, axis=1)[:, :k]
    np.put_along_axis(mask, idx, True, axis=1)
    return mask & ~exclude


def ring_mask(topology: Topology, bmus: np.ndarray, radius: int, cache: dict[int, np.ndarray]) -> np.ndarray:
    """Units within map distance 0..radius of each point's BMU (the BMU's own cell included).

    Calls ``topology.ring`` once per distinct BMU; `cache` keeps the answers for the whole run.
    """
    mask = np.zeros((len(bmus), topology.n_units), dtype=bool)
    for b in np.unique(bmus):
        if int(b) not in cache:
            cache[int(b)] = topology.ring(int(b), radius, include_self=True)
        rows = np.flatnonzero(bmus == b)
        mask[np.ix_(rows, cache[int(b)])] = True
    return mask


def preserve_mask(
    controller: Any,
    topology: Topology,
    act: np.ndarray,
    exclude: np.ndarray,
    params: dict[str, Any],
    cache: dict[int, np.ndarray],
) -> np.ndarray:
    """The preservation set S of each point (disjoint from `exclude`, the targets)."""
    how = params["preserve"]
    if how == "auto":  # the local set the model allows: its map ring, else nearest prototypes
        how = "ring" if topology.has_topology else "knn"
    if how == "ring" and not topology.has_topology:
        if not getattr(controller, "_warned_no_topology", False):
            warnings.warn(
                f"preserve='ring' needs a map topology, but this model has none "
                f"({type(topology).__name__}); preserving the k={params['k']} nearest "
                "prototypes instead",
                UserWarning,
                stacklevel=5,
            )
            controller._warned_no_topology = True
        how = "knn"
    if how == "all":
        return ~exclude
    if how == "knn":
        return knn_mask(act, exclude, params["k"])
    return ring_mask(topology, act.argmin(axis=1), params["radius"], cache) & ~exclude


def subsample_mask(
    cluster: np.ndarray, n_points: int, n_units: int, subsample: Any, rng: np.random.Generator
) -> np.ndarray:
    """A random part of the cluster per point: `subsample` units (int) or each kept with
    probability `subsample` (float in (0, 1)); at least one unit is always kept."""
    mask = np.zeros((n_points, n_units), dtype=bool)
    if subsample is None:
        mask[:, cluster] = True
        return mask
    m = len(cluster)
    if isinstance(subsample, numbers.Integral):
        size = min(int(subsample), m)
        keys = rng.random((n_points, m))
        chosen = cluster[np.argsort(keys, axis=1)[:, :size]]
        np.put_along_axis(mask, chosen, True, axis=1)
        return mask
    keep = rng.random((n_points, m)) < subsample
    empty = ~keep.any(axis=1)
    keep[np.flatnonzero(empty), rng.integers(m, size=int(empty.sum()))] = True
    mask[:, cluster] = keep
    return mask
