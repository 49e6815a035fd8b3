"""Manifold and arrival metrics of a path: does it stay on the data, and does it get there?

A controller can score well on classifier confidence and still leave the data manifold
(decoded values far outside the data's range, points far from every real sample) or stall
before it reaches its target. These functions measure that for any backbone and encoder; they
take plain arrays (or a `Trajectory`), a single path ``(n_points, n_features)`` or a batch
``(n_paths, n_points, n_features)``, and return per-point values with the same leading shape.

- `out_of_range_fraction`: decoded values outside the data's range (with a margin).
- `nearest_sample_distance`: distance of each point to its nearest real sample (exact).
- `latent_consistency`: ``||E(D(z)) - z||``, how far a learned encoder moves a decoded point.
- `arrival_step`: the first step whose best-matching unit is in the target.
- `stall_steps`: steps that make no progress toward a target point, and the longest stall.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow import inversion
from protoflow.errors import ConfigError, ValidationError
from protoflow.protocols import Trajectory
from protoflow.validation import check_array, check_bool, check_float, check_int

__all__ = [
    "arrival_step",
    "latent_consistency",
    "nearest_sample_distance",
    "out_of_range_fraction",
    "stall_steps",
]

#: nearest-sample search: rows of points per block are chosen so that one
#: (block, n_reference) float64 distance block holds about this many entries (16 MB)
BLOCK_ENTRIES = 2_000_000


def _paths(X: Any, name: str) -> tuple[np.ndarray, bool]:
    """Validated float64 array as (n_paths, n_points, n_features) and whether it was batched."""
    if isinstance(X, Trajectory):
        X = X.points
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValidationError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.ndim not in (2, 3):
        raise ValidationError(
            f"{name} must have shape (n_points, n_features) or (n_paths, n_points, n_features), "
            f"got shape {arr.shape}"
        )
    batched = arr.ndim == 3
    if batched and arr.shape[0] == 0:
        raise ValidationError(f"{name} holds no paths (shape {arr.shape})")
    flat = check_array(arr.reshape(-1, arr.shape[-1]) if batched else arr, name=name)
    return flat.reshape(arr.shape) if batched else flat[None], batched


def _unbatch(value: np.ndarray, batched: bool) -> Any:
    return value if batched else value[0]


def _bound(value: Any, name: str, n_features: int) -> np.ndarray:
    """A float or a per-feature array as a validated (n_features,) float64 array."""
    if np.ndim(value) == 0 and isinstance(value, int | float | np.number):
        value = np.full(n_features, value, dtype=np.float64)
    arr = check_array(value, name=name, ndim=1)
    if arr.shape != (n_features,):
        raise ValidationError(
            f"{name} must be a float or have shape ({n_features},), got {arr.shape}"
        )
    return arr


def out_of_range_fraction(decoded: Any, low: Any, high: Any, tol: float = 0.05) -> dict[str, Any]:
    """Fraction of decoded values outside the data's range, widened by a margin.

    A value ``x`` is out of range when ``x < low - tol * (high - low)`` or
    ``x > high + tol * (high - low)`` (e.g. pixels of data in [0, 1] below -0.05 or above 1.05
    with the default ``tol``).

    Parameters
    ----------
    decoded : array-like of shape (n_points, n_features) or (n_paths, n_points, n_features)
        A path (or a batch of paths) decoded to data space, e.g. ``encoder.decode(points)``.
    low, high : float, or array-like of shape (n_features,)
        The data's range, e.g. ``X_train.min()`` and ``X_train.max()`` (or per-feature
        ``X_train.min(axis=0)``); ``high >= low`` everywhere.
    tol : float >= 0
        The margin, as a fraction of ``high - low``.

    Returns
    -------
    dict with
        ``per_point`` : ndarray of shape (n_points,) or (n_paths, n_points), the fraction of
        each point's values that are out of range;
        ``per_path`` : float, or ndarray of shape (n_paths,) for a batch, the fraction over
        all values of each path;
        ``overall`` : float, the fraction over all values;
        ``max_excess`` : float, the largest distance of a value outside ``[low, high]``, in
        units of ``high - low`` (0 when every value is inside).

    Raises
    ------
    ValidationError
        Bad shapes, non-finite values or ``high < low``.
    """
    X, batched = _paths(decoded, "decoded")
    n_features = X.shape[-1]
    lo, hi = _bound(low, "low", n_features), _bound(high, "high", n_features)
    if np.any(hi < lo):
        raise ValidationError("high must be >= low (the data's minimum and maximum)")
    tol = check_float("tol", tol, minimum=0.0)
    span = hi - lo
    outside = (X < lo - tol * span) | (X > hi + tol * span)
    scale = np.where(span > 0, span, 1.0)
    excess = np.maximum(np.maximum(lo - X, X - hi), 0.0) / scale
    per_path = outside.mean(axis=(1, 2))
    return {
        "per_point": _unbatch(outside.mean(axis=2), batched),
        "per_path": per_path if batched else float(per_path[0]),
        "overall": float(outside.mean()),
        "max_excess": float(excess.max()),
    }


def nearest_sample_distance(
    points: Any, X_reference: Any, block: int | None = None, *, method: str = "blocked",
    return_index: bool = False,
) -> Any:
    """Euclidean distance from each path point to its nearest real sample.

    The search is exact. With ``method="blocked"`` (the default, numpy only) the points are
    processed in row blocks against the whole reference set: O(n_points * n_reference *
    n_features) time and O(block * n_reference) memory, never a full (n_points, n_reference)
    matrix. The nearest sample is chosen on squared distances and its distance is then
    recomputed directly as ``||p - x||``, so it carries no cancellation error.
    ``method="sklearn"`` uses scikit-learn's ``NearestNeighbors`` (exact too, trees where
    they help), and fails with ImportError when scikit-learn is not installed. The
    pipeline uses ``"blocked"``.

    Parameters
    ----------
    points : array-like of shape (n_points, n_features) or (n_paths, n_points, n_features)
        Path points in input (data) space, e.g. decoded path points; or a `Trajectory` whose
        points live in the reference's space.
    X_reference : array-like of shape (n_reference, n_features)
        The real samples, e.g. the training data.
    block : int >= 1 or None
        Points per block (``"blocked"`` only); default: as many as keep one block at about
        2 million distances.
    method : "blocked" or "sklearn"
    return_index : also return the index of each point's nearest sample.

    Returns
    -------
    ndarray of shape (n_points,) or (n_paths, n_points)
        The distances; with ``return_index``, a tuple (distances, indices) of that shape.
    """
    P, batched = _paths(points, "points")
    R = check_array(X_reference, name="X_reference", n_features=P.shape[-1])
    if method not in ("blocked", "sklearn"):
        raise ConfigError(f"parameter 'method' must be 'blocked' or 'sklearn', got {method!r}")
    flat = P.reshape(-1, P.shape[-1])
    if method == "sklearn":
        try:
            from sklearn.neighbors import NearestNeighbors
        except ImportError as exc:
            raise ImportError("method='sklearn' needs scikit-learn: pip install scikit-learn, "
                              "or use method='blocked'") from exc
        nn = NearestNeighbors(n_neighbors=1).fit(R)
        dist, idx = nn.kneighbors(flat)
        dist, idx = dist[:, 0], idx[:, 0].astype(np.int64)
    else:
        rows = (max(1, BLOCK_ENTRIES // len(R)) if block is None
                else check_int("block", block, minimum=1))
        idx = np.empty(len(flat), dtype=np.int64)
        for lo in range(0, len(flat), rows):
            idx[lo : lo + rows] = np.argmin(inversion.activations(flat[lo : lo + rows], R), axis=1)
        dist = np.linalg.norm(flat - R[idx], axis=1)
    dist = _unbatch(dist.reshape(P.shape[:2]), batched)
    if check_bool("return_index", return_index):
        return dist, _unbatch(idx.reshape(P.shape[:2]), batched)
    return dist


def latent_consistency(Z_path: Any, encoder: Any) -> np.ndarray:
    """``||E(D(z)) - z||`` at each point: how far encoding the decoded point moves it.

    0 (to rounding) for an exact-inverse encoder (identity, PCA at full dimension, or any
    point already in a PCA's range); large values for a learned (auto-)encoder mean the path
    visits codes that do not decode to anything the encoder recognises.

    Parameters
    ----------
    Z_path : array-like of shape (n_points, n_features) or (n_paths, n_points, n_features),
        or a `Trajectory`: latent points.
    encoder : a fitted encoder with ``encode`` and ``decode``.

    Returns
    -------
    ndarray of shape (n_points,) or (n_paths, n_points)
    """
    Z, batched = _paths(Z_path, "Z_path")
    if not all(callable(getattr(encoder, m, None)) for m in ("encode", "decode")):
        raise ValidationError(
            f"encoder must have encode and decode methods (a fitted protoflow encoder), got "
            f"{type(encoder).__name__}"
        )
    flat = Z.reshape(-1, Z.shape[-1])
    back = check_array(encoder.encode(encoder.decode(flat)),
                       name="encoder.encode(encoder.decode(Z))")
    if back.shape != flat.shape:
        raise ValidationError(
            f"encoder.encode(encoder.decode(Z)) has shape {back.shape}, expected {flat.shape}"
        )
    return _unbatch(np.linalg.norm(back - flat, axis=1).reshape(Z.shape[:2]), batched)


def _target_units(target: Any) -> np.ndarray:
    if target is None:
        raise ValidationError("no target: pass target= (a unit or a list of units) or a "
                              "Trajectory that has one")
    if isinstance(target, str | bytes | float):
        raise ValidationError(
            f"target must be a unit index or a list of unit indices, got {target!r}"
        )
    units = np.atleast_1d(np.asarray(target))
    if units.ndim != 1 or units.size == 0 or not np.issubdtype(units.dtype, np.integer):
        raise ValidationError(f"target must be a unit index or a non-empty list of unit indices, "
                              f"got {target!r}")
    if units.min() < 0:
        raise ValidationError(f"target units must be >= 0, got {units.tolist()}")
    return units.astype(np.int64)


def arrival_step(trajectory: Any, target: Any = None) -> Any:
    """The first step whose best-matching unit is the target unit, or one of a target cluster.

    Parameters
    ----------
    trajectory : Trajectory, or its BMUs as an int array of shape (n_points,) or
        (n_paths, n_points)
    target : int (a unit) or list of ints (a cluster of units); default the trajectory's
        own ``target``

    Returns
    -------
    int, or int ndarray of shape (n_paths,) for a batch
        The step index (0 = the start point) of the first arrival, **-1 when the path never
        arrives** (an int either way, so batches stay integer arrays).
    """
    if isinstance(trajectory, Trajectory):
        b = np.asarray(trajectory.bmus)
        target = trajectory.target if target is None else target
    else:
        b = np.asarray(trajectory)
    if b.ndim not in (1, 2) or b.shape[-1] == 0 or not np.issubdtype(b.dtype, np.integer):
        raise ValidationError(f"bmus must be integers of shape (n_points,) or (n_paths, n_points), "
                              f"got {b.dtype} {b.shape}")
    hit = np.isin(b if b.ndim == 2 else b[None], _target_units(target))
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)
    return first if b.ndim == 2 else int(first[0])


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def stall_steps(trajectory: Any, target_point: Any, tol: float = 1e-3, *,
                relative: bool = True) -> dict[str, Any]:
    """Steps that make no progress toward a target point, and the longest run of them.

    With ``d_k = ||z_k - target_point||``, step k (from point k-1 to point k, k = 1..K) stalls
    when ``d_(k-1) - d_k <= tol * d_(k-1)`` (``relative=True``: it closes less than the
    fraction ``tol`` of the remaining distance) or ``<= tol`` (``relative=False``: an absolute
    distance). A step that starts at the target (``d_(k-1) <= 1e-12 * d_0``, nothing left to
    close) never stalls. The relative default does not count a geometric approach (each step
    closing a fixed fraction) or a straight line of at most ``1 / tol`` steps as stalling.

    Parameters
    ----------
    trajectory : Trajectory, or points of shape (n_points, n_features) or
        (n_paths, n_points, n_features)
    target_point : array-like of shape (n_features,), or (n_paths, n_features) for one target
        per path (e.g. the target prototype, or the mean of a target cluster's prototypes)
    tol : float >= 0
    relative : whether ``tol`` is a fraction of the remaining distance

    Returns
    -------
    dict with
        ``mask`` : bool ndarray of shape (K,) or (n_paths, K), True where the step stalls;
        ``n_stalled`` : int, or int ndarray (n_paths,), the number of stalled steps;
        ``longest`` : int, or int ndarray (n_paths,), the longest run of consecutive stalls;
        ``distance`` : ndarray of shape (n_points,) or (n_paths, n_points), the ``d_k``.
    """
    P, batched = _paths(trajectory, "points")
    n_paths, _, n_features = P.shape
    T = np.asarray(target_point)
    if T.ndim == 1:
        T = check_array(T, name="target_point", ndim=1)[None]
    else:
        T = check_array(T, name="target_point")
    if T.shape[1] != n_features or T.shape[0] not in (1, n_paths):
        raise ValidationError(
            f"target_point must have shape ({n_features},) or ({n_paths}, {n_features}), "
            f"got {np.shape(target_point)}"
        )
    tol = check_float("tol", tol, minimum=0.0)
    d = np.linalg.norm(P - T[:, None, :], axis=2)
    prev, cur = d[:, :-1], d[:, 1:]
    threshold = tol * prev if check_bool("relative", relative) else tol
    at_target = prev <= 1e-12 * d[:, :1]
    mask = (prev - cur <= threshold) & ~at_target
    n_stalled = mask.sum(axis=1).astype(np.int64)
    longest = np.array([_longest_run(m) for m in mask], dtype=np.int64)
    return {
        "mask": _unbatch(mask, batched),
        "n_stalled": n_stalled if batched else int(n_stalled[0]),
        "longest": longest if batched else int(longest[0]),
        "distance": _unbatch(d, batched),
    }
