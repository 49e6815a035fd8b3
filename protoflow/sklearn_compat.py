"""scikit-learn citizenship for protoflow's models and encoders, without importing scikit-learn.

`protoflow.base.PrototypeModelBase` and `protoflow.base.EncoderBase` build on what is here, so
every plugin that inherits them is a scikit-learn estimator: it can be cloned, grid-searched,
cross-validated, put in a `sklearn.pipeline.Pipeline` and checked with
`sklearn.utils.estimator_checks.check_estimator` (see ``docs/sklearn.md``).

scikit-learn stays optional: nothing here imports it at module level, so ``import protoflow``
never loads it. Only `estimator_tags` imports it, when scikit-learn asks an estimator for its
tags (scikit-learn >= 1.6 defines the `Tags` dataclasses); without scikit-learn it raises an
`AttributeError`, which is what scikit-learn's own ``hasattr`` probes expect.

The MiniSom-style helpers (`winner`, `distance_map`, `activation_response`, `win_map`,
`labels_map`) answer in (row, col) grid coordinates and need a model whose topology is a
`protoflow.topology.Lattice`; any other topology raises `protoflow.TopologyError`.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from protoflow.errors import NotFittedError, TopologyError, ValidationError
from protoflow.topology import Lattice
from protoflow.validation import check_is_fitted, is_fitted

__all__ = [
    "activation_response",
    "check_fitted",
    "check_input_shape",
    "distance_map",
    "estimator_tags",
    "labels_map",
    "lattice_of",
    "min_distances",
    "reject_sparse",
    "win_map",
    "winner",
]

#: rows per block when computing distances to the nearest prototype (as `protoflow.inversion`)
_BLOCK_ROWS = 1024


def estimator_tags(role: str, *, deterministic: bool = True) -> Any:
    """The scikit-learn `Tags` of a protoflow estimator.

    Parameters
    ----------
    role : "model" (a clusterer with `transform`, like `sklearn.cluster.KMeans`) or
        "encoder" (a transformer).
    deterministic : False marks the estimator ``non_deterministic`` (results vary between
        fits even with the same parameters).

    Returns
    -------
    sklearn.utils.Tags

    Raises
    ------
    AttributeError
        When scikit-learn (>= 1.6) is not installed, so that ``hasattr(est, "__sklearn_tags__")``
        style probes see no tags instead of crashing.
    """
    try:
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags
    except ImportError as exc:  # absent, or older than 1.6 (no Tags dataclasses)
        raise AttributeError(
            "estimator tags need scikit-learn >= 1.6 (pip install 'scikit-learn>=1.6')"
        ) from exc
    return Tags(
        estimator_type="clusterer" if role == "model" else None,
        target_tags=TargetTags(required=False),
        transformer_tags=TransformerTags(preserves_dtype=["float64"]),
        input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False),
        non_deterministic=not deterministic,
        requires_fit=True,
    )


@functools.cache
def _sklearn_not_fitted_class() -> type[NotFittedError]:
    """`protoflow.NotFittedError` that is also scikit-learn's ``NotFittedError``."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    return type("NotFittedError", (NotFittedError, SklearnNotFittedError), {
        "__module__": NotFittedError.__module__,
        "__doc__": NotFittedError.__doc__,
    })


def check_fitted(obj: Any, attributes: list[str] | None = None) -> None:
    """Raise `protoflow.NotFittedError` when `obj` is not fitted (as
    `protoflow.validation.check_is_fitted`).

    When scikit-learn is already imported (never imported here), the error is also an instance
    of ``sklearn.exceptions.NotFittedError``, so scikit-learn code that catches its own class
    catches it too.
    """
    if is_fitted(obj, attributes):
        return
    cls: type[NotFittedError] = NotFittedError
    if "sklearn" in sys.modules:
        try:
            cls = _sklearn_not_fitted_class()
        except ImportError:  # pragma: no cover - a broken scikit-learn install
            cls = NotFittedError
    raise cls(f"this {type(obj).__name__} is not fitted yet; call fit(...) before using it.")


def check_input_shape(X: Any, name: str = "X") -> None:
    """Messages in scikit-learn's words for input that protoflow refuses anyway: sparse
    matrices (`TypeError`), complex numbers, 1-D arrays and arrays with no features
    (`ValidationError`). Decided from ``X.shape``/``X.dtype`` alone, without converting X."""
    reject_sparse(X, name)
    dtype = getattr(X, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "") == "c":
        raise ValidationError(
            f"Complex data not supported: {name} is complex; protoflow works with real numbers "
            "only."
        )
    shape = getattr(X, "shape", None)
    if not isinstance(shape, tuple):
        return
    if len(shape) == 1:
        raise ValidationError(
            f"{name} must be 2-dimensional (n_samples, n_features), got shape {shape}. Reshape "
            "your data: x.reshape(1, -1) for a single sample, x.reshape(-1, 1) for one feature."
        )
    if len(shape) == 2 and shape[1] == 0:
        raise ValidationError(
            f"{name} has 0 features; each sample needs at least one (0 feature(s) "
            f"(shape={shape}) while a minimum of 1 is required)."
        )


def reject_sparse(X: Any, name: str = "X") -> None:
    """Raise `TypeError` for a scipy sparse matrix or array (protoflow computes on dense arrays).

    Decided from the type's module, so scipy.sparse is never imported for dense input.
    """
    module = type(X).__module__ or ""
    if module.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a sparse {type(X).__name__}; protoflow works on dense arrays. "
            f"Convert it first with {name}.toarray() (if it fits in memory)."
        )


def min_distances(Z: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to its nearest prototype, blockwise.

    Z : ndarray (n_samples, n_features); W : ndarray (n_units, n_features) -> (n_samples,).
    """
    from protoflow.inversion import activations

    out = np.empty(Z.shape[0], dtype=np.float64)
    for start in range(0, Z.shape[0], _BLOCK_ROWS):
        block = Z[start : start + _BLOCK_ROWS]
        out[start : start + len(block)] = activations(block, W).min(axis=1)
    return np.sqrt(out)


# -- MiniSom-style conveniences ------------------------------------------------------------


def lattice_of(model: Any, what: str) -> Lattice:
    """The fitted model's `Lattice` topology; `TopologyError` naming `what` otherwise."""
    check_is_fitted(model, ["prototypes_"])
    topo = getattr(model, "topology_", None)
    if not isinstance(topo, Lattice):
        family = type(topo).__name__ if topo is not None else "None"
        raise TopologyError(
            f"{what} answers in (row, col) grid coordinates, which needs a Lattice topology; "
            f"this {type(model).__name__} has a {family} topology. Use predict (unit indices) "
            "instead."
        )
    return topo


def winner(model: Any, x: Any) -> tuple[int, int]:
    """Grid coordinates (row, col) of the best-matching unit of one point x (n_features,)."""
    lattice = lattice_of(model, "winner")
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValidationError(
            f"winner takes one point of shape (n_features,), got shape {x.shape}; use "
            "predict for several points."
        )
    unit = int(model.predict(x.reshape(1, -1))[0])
    row, col = lattice.grid_position(unit)
    return int(row), int(col)


def distance_map(model: Any, scaling: str = "mean") -> np.ndarray:
    """The U-matrix: each unit's mean (or summed) Euclidean distance to its lattice neighbours,
    divided by the largest such value (MiniSom's normalisation), shape (rows, cols).

    The neighbours are the lattice's own (4 on "rect", 6 on "hex", wrapping on a torus);
    MiniSom's rectangular map uses 8 (diagonals included). All zeros when every prototype
    coincides.
    """
    lattice = lattice_of(model, "distance_map")
    if scaling not in ("mean", "sum"):
        raise ValidationError(f"scaling must be 'mean' or 'sum', got {scaling!r}.")
    W = np.asarray(model.prototypes_, dtype=np.float64)
    n = lattice.n_units
    um = np.zeros(n)
    for unit in range(n):
        nb = lattice.neighbors(unit)
        if len(nb):
            d = np.linalg.norm(W[nb] - W[unit], axis=1)
            um[unit] = d.mean() if scaling == "mean" else d.sum()
    top = um.max()
    if top > 0:
        um = um / top
    return um.reshape(lattice.shape)


def activation_response(model: Any, X: Any) -> np.ndarray:
    """How many points of X (n_samples, n_features) each unit wins, shape (rows, cols) ints."""
    lattice = lattice_of(model, "activation_response")
    counts = np.bincount(model.predict(X), minlength=lattice.n_units)
    return counts.reshape(lattice.shape)


def win_map(model: Any, X: Any, return_indices: bool = False) -> defaultdict[tuple[int, int], list[Any]]:
    """Points of X (n_samples, n_features) grouped by the (row, col) of their BMU.

    Returns a ``defaultdict(list)`` (as MiniSom's): units that win nothing are absent and read
    as ``[]``. Values are lists of rows of X (ndarrays of shape (n_features,)), or of row
    indices with ``return_indices=True``.
    """
    lattice = lattice_of(model, "win_map")
    X_arr = np.asarray(X)
    rows, cols = lattice.grid_position(model.predict(X_arr))
    out: defaultdict[tuple[int, int], list[Any]] = defaultdict(list)
    for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
        out[(r, c)].append(i if return_indices else X_arr[i])
    return out


def labels_map(model: Any, X: Any, y: Any) -> defaultdict[tuple[int, int], Counter[Any]]:
    """For each (row, col), a `collections.Counter` of the labels y (n_samples,) of the points
    of X (n_samples, n_features) it wins (MiniSom's ``labels_map``)."""
    lattice = lattice_of(model, "labels_map")
    labels = y.tolist() if isinstance(y, np.ndarray) else list(y)
    X_arr = np.asarray(X)
    if X_arr.ndim != 2 or len(labels) != X_arr.shape[0]:
        raise ValidationError(
            f"labels_map needs one label per point: X has shape {X_arr.shape}, y has "
            f"{len(labels)} labels."
        )
    rows, cols = lattice.grid_position(model.predict(X_arr))
    out: defaultdict[tuple[int, int], Counter[Any]] = defaultdict(Counter)
    for r, c, label in zip(rows.tolist(), cols.tolist(), labels):
        out[(r, c)][label] += 1
    return out
