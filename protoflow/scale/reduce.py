"""Map-reduce over row chunks: per-chunk statistics added up in a tree on the active scheduler.

A batch SOM epoch, a Lloyd (k-means) epoch and a streamed covariance all have this shape::

    total = fn(chunk_1, *args) + fn(chunk_2, *args) + ...     # one task per chunk, tree sum

`map_reduce` builds that graph with ``dask.delayed`` (the shared arguments, e.g. the current
prototypes, are sent once, not once per task) and computes it with ``dask.compute``, so it runs
on local threads by default and on a ``dask.distributed`` cluster when a ``Client`` exists. The
tasks are pure functions of their chunk, so a task lost with a worker is simply run again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from protoflow.scale.arrays import as_dask_array, require_dask
from protoflow.validation import check_array

#: how many partial results one reduction task adds
SPLIT_EVERY = 8


def _add_two(a: Any, b: Any) -> Any:
    """``a + b``; a tuple without its own ``+`` (a plain NamedTuple) adds field by field."""
    if isinstance(a, tuple) and type(a).__add__ is tuple.__add__:
        values = [x + y for x, y in zip(a, b, strict=True)]
        return type(a)(*values) if hasattr(a, "_fields") else tuple(values)
    return a + b


def _add(*parts: Any) -> Any:
    return functools.reduce(_add_two, parts)


def tree_add(parts: Sequence[Any], split_every: int = SPLIT_EVERY) -> Any:
    """A delayed sum of delayed `parts`, added `split_every` at a time (a tree of depth
    log_split_every(len(parts)), so no task receives every partial result)."""
    import dask

    parts = list(parts)
    if not parts:
        raise ValueError("tree_add needs at least one part")
    while len(parts) > 1:
        parts = [
            dask.delayed(_add, pure=True)(*parts[i : i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _checked_call(fn: Callable[..., Any], block: np.ndarray, name: str, *args: Any) -> Any:
    # every chunk is validated where it is read: NaN/inf anywhere raise ValidationError
    return fn(check_array(block, name=name, allow_float32=True), *args)


def map_reduce(
    X: Any,
    fn: Callable[..., Any],
    *args: Any,
    name: str = "X",
    n_features: int | None = None,
    split_every: int = SPLIT_EVERY,
) -> Any:
    """Sum over the row chunks of X of ``fn(chunk, *args)``, computed on the active scheduler.

    Parameters
    ----------
    X : chunked input (see `as_dask_array`), shape (n_samples, n_features).
    fn : ``fn(chunk (m, n_features) ndarray, *args) -> partial result``; results must add with
        ``+`` (plain NamedTuples add field by field). It must be importable on the workers.
    args : shared arguments (NumPy arrays are put in the graph once).

    Returns the total, a concrete value. Each chunk is checked (finite, numeric) first.
    """
    require_dask()
    import dask

    X = as_dask_array(X, name=name, n_features=n_features)
    shared = [dask.delayed(a, pure=True) if isinstance(a, np.ndarray) else a for a in args]
    parts = [
        dask.delayed(_checked_call, pure=True)(fn, block, name, *shared)
        for block in X.to_delayed().ravel()
    ]
    return dask.compute(tree_add(parts, split_every))[0]


class Moments(NamedTuple):
    """Count, mean and scatter matrix of a set of rows; adds exactly (Chan et al.'s merge).

    Attributes
    ----------
    n : float, number of rows
    mean : ndarray (n_features,), float64
    scatter : ndarray (n_features, n_features), float64: ``sum (x - mean)(x - mean)^T``
    """

    n: float
    mean: np.ndarray
    scatter: np.ndarray

    def __add__(self, other: object) -> Moments:  # type: ignore[override]
        if not isinstance(other, Moments):
            return NotImplemented
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.n * other.n / n)
        return Moments(n, mean, scatter)

    @property
    def covariance(self) -> np.ndarray:
        """Sample covariance (n_features, n_features), ddof = 1."""
        return self.scatter / (self.n - 1)

    @property
    def variance(self) -> np.ndarray:
        """Per-feature population variance (n_features,), ddof = 0 (as ``np.var``)."""
        return np.diag(self.scatter) / self.n


def chunk_moments(block: np.ndarray) -> Moments:
    """`Moments` of one chunk (m, n_features), centred on its own mean (no cancellation)."""
    b = block.astype(np.float64, copy=False)
    mean = b.mean(axis=0)
    c = b - mean
    return Moments(float(len(b)), mean, c.T @ c)


def moments(X: Any, *, name: str = "X") -> Moments:
    """Streamed `Moments` of chunked X (n_samples, n_features): one pass, stable merge."""
    return map_reduce(X, chunk_moments, name=name)


__all__ = ["Moments", "chunk_moments", "map_reduce", "moments", "tree_add"]
