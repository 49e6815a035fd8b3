"""Trajectory metrics of the MUSIC paper (spec §4): smoothness and topology-aware structure.

For a path ``z_0..z_K`` with steps ``d_k = z_k - z_(k-1)`` and BMUs ``b_0..b_K``. Every function
takes either a single-path `Trajectory` or ``points`` (K+1, n_features) and, where BMUs are
needed, ``bmus`` (K+1,). For a batch trajectory use `split_paths` first.

Edge cases (the paper leaves them open; decided here):

- Zero-length steps (converged, or a trust radius of zero) have no direction. They are dropped
  before any cosine is taken, so continuity and curvature compare each step with the previous
  *moving* step. A step counts as zero when its length is at most ``1e-12`` times the largest
  step of the path.
- Cosines are clipped to [-1, 1] before ``arccos``.
- Dwell lengths count *points*: a run of m consecutive points with the same BMU is a dwell of
  m, so the dwell lengths of a path sum to K+1.
- A step is within-cell when it does not change the BMU (``b_k == b_(k-1)``), across-cell
  otherwise; curvature at step k is filed by step k.
- Segmented continuity: the mean of the continuities whose two steps both lie inside one dwell
  segment; a segment with fewer than 2 moving steps gives no value.
- Statistics over an empty set are NaN (e.g. no across-cell step, or a path of zero length for
  the geodesic efficiency).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.errors import ValidationError
from protoflow.protocols import Trajectory
from protoflow.validation import check_array

_ZERO_STEP = 1e-12

__all__ = [
    "continuity",
    "cosine_to_first",
    "curvature",
    "dwell_lengths",
    "dwell_stats",
    "geodesic_efficiency",
    "segmented_continuity",
    "split_paths",
    "trajectory_summary",
    "transition_rate",
]


def split_paths(traj: Trajectory) -> list[Trajectory]:
    """A batch `Trajectory` (points (n_paths, K+1, D)) as a list of single-path ones."""
    if traj.points.ndim == 2:
        return [traj]
    return [
        Trajectory(points=p, bmus=b, controller=traj.controller, target=traj.target)
        for p, b in zip(traj.points, traj.bmus)
    ]


def _points(path: Any) -> np.ndarray:
    P = path.points if isinstance(path, Trajectory) else path
    if isinstance(path, Trajectory) and np.ndim(P) != 2:
        raise ValidationError("a batch trajectory holds several paths; use split_paths(traj) first")
    return check_array(P, name="points", min_samples=1)


def _bmus(path: Any, bmus: Any, n_points: int) -> np.ndarray:
    b = path.bmus if isinstance(path, Trajectory) else bmus
    if b is None:
        raise ValidationError("bmus are needed: pass a Trajectory or bmus of shape (n_points,)")
    b = np.asarray(b)
    if b.shape != (n_points,) or not np.issubdtype(b.dtype, np.integer):
        raise ValidationError(f"bmus must be integers of shape ({n_points},), got {b.dtype} {b.shape}")
    return b


def _moving_steps(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps (K, D), their lengths (K,), and the indices of the steps that move."""
    steps = np.diff(P, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    if lengths.size == 0:
        return steps, lengths, np.zeros(0, dtype=np.intp)
    moving = np.flatnonzero(lengths > _ZERO_STEP * lengths.max())
    return steps, lengths, moving


def _cosines(steps: np.ndarray, lengths: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """cos(d_k, d_prev) for consecutive moving steps, shape (len(moving) - 1,)."""
    if len(moving) < 2:
        return np.zeros(0)
    a, b = moving[:-1], moving[1:]
    dots = np.einsum("ij,ij->i", steps[a], steps[b])
    return np.clip(dots / (lengths[a] * lengths[b]), -1.0, 1.0)


def continuity(path: Any) -> np.ndarray:
    """Step-direction continuity ``c_k = cos(d_k, d_(k-1))`` over consecutive moving steps.

    path : Trajectory or points of shape (K+1, n_features) -> ndarray (n_moving_steps - 1,)
    """
    return _cosines(*_moving_steps(_points(path)))


def cosine_to_first(path: Any) -> np.ndarray:
    """Cosine of every moving step with the first moving step, shape (n_moving_steps,)."""
    steps, lengths, moving = _moving_steps(_points(path))
    if len(moving) == 0:
        return np.zeros(0)
    first = steps[moving[0]] / lengths[moving[0]]
    return np.clip(steps[moving] @ first / lengths[moving], -1.0, 1.0)


def transition_rate(path: Any, bmus: Any = None) -> float:
    """``(1/K) #{k : b_k != b_(k-1)}``; NaN for a path without steps."""
    P = _points(path)
    b = _bmus(path, bmus, len(P))
    if len(b) < 2:
        return float("nan")
    return float(np.mean(b[1:] != b[:-1]))


def dwell_lengths(path: Any, bmus: Any = None) -> np.ndarray:
    """Run lengths (in points) of constant BMU, in order; they sum to K+1."""
    b = _bmus(path, bmus, len(_points(path)))
    if b.size == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    return np.diff(np.r_[starts, len(b)])


def _median_iqr(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return float("nan"), float("nan")
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float(med), float(q3 - q1)


def dwell_stats(path: Any, bmus: Any = None) -> tuple[float, float]:
    """(median, IQR) of the dwell lengths."""
    return _median_iqr(dwell_lengths(path, bmus))


def curvature(path: Any, bmus: Any = None) -> dict[str, Any]:
    """Curvature per unit step ``kappa_k = arccos(c_k) / ||d_k||``, split by cell.

    Returns a dict with ``within`` and ``across`` (arrays of kappa for steps that keep or change
    the BMU) and their medians ``median_within`` and ``median_across``.
    """
    P = _points(path)
    b = _bmus(path, bmus, len(P))
    steps, lengths, moving = _moving_steps(P)
    cos = _cosines(steps, lengths, moving)
    k = moving[1:]
    kappa = np.arccos(cos) / lengths[k]
    crossed = b[k + 1] != b[k]
    within, across = kappa[~crossed], kappa[crossed]
    return {
        "within": within,
        "across": across,
        "median_within": float(np.median(within)) if len(within) else float("nan"),
        "median_across": float(np.median(across)) if len(across) else float("nan"),
    }


def geodesic_efficiency(path: Any) -> float:
    """``||z_K - z_0|| / sum_k ||d_k||`` (1 for a straight line); NaN for a path of zero length."""
    P = _points(path)
    total = float(np.linalg.norm(np.diff(P, axis=0), axis=1).sum())
    if total == 0.0:
        return float("nan")
    return float(np.linalg.norm(P[-1] - P[0]) / total)


def segmented_continuity(path: Any, bmus: Any = None) -> np.ndarray:
    """Mean continuity inside each dwell segment that has at least 2 moving steps, in order."""
    P = _points(path)
    b = _bmus(path, bmus, len(P))
    steps, lengths, moving = _moving_steps(P)
    cos = _cosines(steps, lengths, moving)
    # a step k (from point k-1 to k, 0-based index k-1 here) lies in a segment when it keeps the BMU
    inside = b[moving + 1] == b[moving]
    pair_in = inside[:-1] & inside[1:] & (b[moving[:-1] + 1] == b[moving[1:] + 1])
    seg_of_point = np.cumsum(np.r_[0, b[1:] != b[:-1]])
    seg = seg_of_point[moving[1:] + 1][pair_in]
    values = cos[pair_in]
    return np.array([values[seg == s].mean() for s in np.unique(seg)])


def trajectory_summary(path: Any, bmus: Any = None) -> dict[str, float]:
    """The paper's Table 1 metrics for one path, as a dict of floats."""
    c = continuity(path)
    curv = curvature(path, bmus)
    dwell_med, dwell_iqr = dwell_stats(path, bmus)
    seg_med, seg_iqr = _median_iqr(segmented_continuity(path, bmus))
    return {
        "transition_rate": transition_rate(path, bmus),
        "dwell_median": dwell_med,
        "dwell_iqr": dwell_iqr,
        "continuity_mean": float(c.mean()) if len(c) else float("nan"),
        "continuity_median": float(np.median(c)) if len(c) else float("nan"),
        "curvature_within": curv["median_within"],
        "curvature_across": curv["median_across"],
        "geodesic_efficiency": geodesic_efficiency(path),
        "segmented_continuity_median": seg_med,
        "segmented_continuity_iqr": seg_iqr,
    }
