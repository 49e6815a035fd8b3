"""Missing data: NaN-aware distances to prototypes and imputation from them.

A missing entry is a NaN. Distances use the observed coordinates only, rescaled by the
observed fraction, as in the missing-data SOM literature (Cottrell & Letrémy 2005; intrasom)::

    d(x, w) = n_features / n_observed(x) * sum over observed f of (x_f - w_f)^2

so a row with a few missing entries is compared with every prototype on the same scale as a
complete row (for a complete row it is the ordinary squared distance). A row with no observed
value has no distance to anything and is refused (`ValidationError` naming the row).

Part of the public plugin API: the SOM, k-means and GNG plugins train with ``nan_policy="omit"``
on these functions, and `MissingDataMixin` gives a model `impute` and NaN-aware
``activations``/``bmu``. Exact inversion (`protoflow.inversion.Inverter`) needs complete
activations and still refuses NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.errors import ValidationError
from protoflow.validation import check_array, check_is_fitted

__all__ = [
    "NAN_POLICIES",
    "MissingDataMixin",
    "check_observed",
    "impute_from_prototypes",
    "masked_bmu",
    "masked_sq_distances",
    "mean_impute",
]

#: the accepted values of a model's ``nan_policy`` parameter
NAN_POLICIES = ("raise", "omit")

#: rows per block of the (n_samples, n_units) distance matrix
_BLOCK_ROWS = 1024


def check_observed(X: np.ndarray, name: str = "X") -> np.ndarray:
    """The observed-entry mask of X, after checking that every row has an observed value.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), NaN marking missing entries
    name : what to call the array in messages

    Returns
    -------
    ndarray of bool, shape (n_samples, n_features): True where the entry is observed.

    Raises
    ------
    ValidationError
        A row is entirely NaN (the message names the first such row and the count).
    """
    observed = ~np.isnan(X)
    empty = np.flatnonzero(~observed.any(axis=1))
    if empty.size:
        raise ValidationError(
            f"{name} row {int(empty[0])} has no observed value (all {X.shape[1]} entries are "
            f"NaN; {empty.size} such row(s) in all). Drop rows without any observed value."
        )
    return observed


def _prepared(X: Any, W: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    W = check_array(W, name="prototypes")
    X = check_array(X, name=name, n_features=W.shape[1], allow_nan=True)
    return X, W


def _block_distances(block: np.ndarray, W: np.ndarray, w_sq: np.ndarray) -> np.ndarray:
    """Rescaled observed squared distances of one block (m, D) to W (K, D): (m, K)."""
    observed = ~np.isnan(block)
    M = observed.astype(np.float64)
    X0 = np.where(observed, block, 0.0)
    # sum_f m_f (x_f - w_f)^2 = sum_f m_f x_f^2 - 2 x0 . w + m . w^2
    d = M @ w_sq.T
    d -= 2.0 * (X0 @ W.T)
    d += np.einsum("ij,ij->i", X0, X0)[:, None]
    np.maximum(d, 0.0, out=d)  # rounding can make tiny distances negative
    n_obs = M.sum(axis=1)
    d *= (block.shape[1] / n_obs)[:, None]
    return d


def masked_sq_distances(X: Any, W: Any, *, name: str = "X") -> np.ndarray:
    """Squared distances from rows with missing entries to every prototype.

    ``d_ik = n_features / n_obs_i * sum over observed f of (x_if - w_kf)^2``: the squared
    distance over the observed coordinates, rescaled by the observed fraction. For a complete
    row this is the ordinary squared Euclidean distance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features); NaN marks a missing entry (infinity is
        refused, and so is a row without any observed value)
    W : array-like of shape (n_units, n_features), complete prototypes
    name : what to call X in messages

    Returns
    -------
    ndarray of shape (n_samples, n_units), float64, never negative.
    """
    X, W = _prepared(X, W, name)
    check_observed(X, name)
    w_sq = W * W
    out = np.empty((X.shape[0], W.shape[0]))
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        out[start : start + len(block)] = _block_distances(block, W, w_sq)
    return out


def masked_bmu(
    X: Any, W: Any, *, return_distance: bool = False, name: str = "X"
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The nearest prototype of each row under `masked_sq_distances`, computed in blocks.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), NaN marking missing entries
    W : array-like of shape (n_units, n_features)
    return_distance : also return each row's rescaled squared distance to its BMU
    name : what to call X in messages

    Returns
    -------
    bmu : ndarray of shape (n_samples,), int64
    sq_distance : ndarray of shape (n_samples,), float64 (only with ``return_distance=True``)
    """
    X, W = _prepared(X, W, name)
    check_observed(X, name)
    w_sq = W * W
    idx = np.empty(X.shape[0], dtype=np.int64)
    best = np.empty(X.shape[0])
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        d = _block_distances(block, W, w_sq)
        b = d.argmin(axis=1)
        idx[start : start + len(block)] = b
        best[start : start + len(block)] = d[np.arange(len(block)), b]
    return (idx, best) if return_distance else idx


def impute_from_prototypes(X: Any, W: Any, bmu: Any = None, *, name: str = "X") -> np.ndarray:
    """Fill each row's missing entries from its best-matching prototype.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), NaN marking missing entries
    W : array-like of shape (n_units, n_features)
    bmu : array-like of shape (n_samples,) of unit indices, or None to use `masked_bmu`
    name : what to call X in messages

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64: a new array, equal to X where X is
    observed and to ``W[bmu]`` where it is missing.
    """
    X, W = _prepared(X, W, name)
    missing = np.isnan(X)
    out = np.array(X, dtype=np.float64, copy=True)
    if not missing.any():
        return out
    if bmu is None:
        bmu = masked_bmu(X, W, name=name)
    b = np.asarray(bmu)
    if b.shape != (X.shape[0],) or not np.issubdtype(b.dtype, np.integer):
        raise ValidationError(
            f"bmu must be integer unit indices of shape ({X.shape[0]},), got {b.dtype} {b.shape}."
        )
    if b.size and (b.min() < 0 or b.max() >= W.shape[0]):
        raise ValidationError(f"bmu holds unit indices outside 0..{W.shape[0] - 1}.")
    rows, cols = np.nonzero(missing)
    out[rows, cols] = W[b[rows], cols]
    return out


def mean_impute(X: Any, *, name: str = "X") -> np.ndarray:
    """Replace each missing entry by its column's observed mean (a new float64 array).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), NaN marking missing entries; every
        column needs at least one observed value

    Returns
    -------
    ndarray of shape (n_samples, n_features).
    """
    X = check_array(X, name=name, allow_nan=True)
    missing = np.isnan(X)
    out = np.array(X, dtype=np.float64, copy=True)
    if not missing.any():
        return out
    counts = (~missing).sum(axis=0)
    if (counts == 0).any():
        f = int(np.flatnonzero(counts == 0)[0])
        raise ValidationError(f"{name} column {f} has no observed value; drop it first.")
    means = np.where(missing, 0.0, X).sum(axis=0) / counts
    rows, cols = np.nonzero(missing)
    out[rows, cols] = means[cols]
    return out


class MissingDataMixin:
    """`impute` and NaN-aware ``activations``/``bmu`` for a prototype model with a
    ``nan_policy`` parameter ("raise" or "omit").

    Put it before `protoflow.base.PrototypeModelBase` among the bases. With
    ``nan_policy="omit"``, `activations` and `bmu` of data holding NaN use
    `masked_sq_distances` (the rescaled observed-coordinate distances the model trained
    with); complete data, and every call under ``nan_policy="raise"``, go to the base class
    unchanged. Exact inversion needs complete activations, so `protoflow.inversion.Inverter`
    still refuses NaN.
    """

    nan_policy: str
    prototypes_: np.ndarray

    def _omits_nan(self) -> bool:
        return getattr(self, "nan_policy", "raise") == "omit"

    def _latent_with_nan(self, Z: Any, name: str = "Z") -> np.ndarray | None:
        """Z checked with NaN allowed, when nan_policy="omit" and Z holds NaN; else None."""
        if not self._omits_nan():
            return None
        check_is_fitted(self, ["prototypes_"])
        arr = check_array(Z, name=name, n_features=self.prototypes_.shape[1], allow_nan=True)
        return arr if np.isnan(arr).any() else None

    def activations(self, Z: Any) -> np.ndarray:
        """Squared distances to every prototype.

        Z : array-like of shape (n_samples, n_features) -> ndarray (n_samples, n_units). With
        ``nan_policy="omit"``, NaN entries are missing values and the distances are the
        rescaled observed-coordinate ones (`masked_sq_distances`).
        """
        arr = self._latent_with_nan(Z)
        if arr is None:
            return super().activations(Z)  # type: ignore[misc]
        return masked_sq_distances(arr, self.prototypes_, name="Z")

    def bmu(self, Z: Any) -> np.ndarray:
        """Best-matching unit of each point. Z (n_samples, n_features) -> (n_samples,) ints.

        With ``nan_policy="omit"``, NaN entries are missing values (`masked_bmu`).
        """
        arr = self._latent_with_nan(Z)
        if arr is None:
            return super().bmu(Z)  # type: ignore[misc]
        return masked_bmu(arr, self.prototypes_, name="Z")  # type: ignore[return-value]

    def predict(self, Z: Any) -> np.ndarray:
        """The best-matching unit of each point (`bmu`, scikit-learn's vocabulary).

        Z : array-like of shape (n_samples, n_features) -> int ndarray of shape (n_samples,);
        with ``nan_policy="omit"``, NaN entries are missing values (`masked_bmu`).
        """
        arr = self._latent_with_nan(Z, "X")
        if arr is None:
            return super().predict(Z)  # type: ignore[misc]
        return masked_bmu(arr, self.prototypes_, name="X")  # type: ignore[return-value]

    def transform(self, Z: Any) -> np.ndarray:
        """*Squared* distances to every prototype (alias of `activations`).

        Z : array-like of shape (n_samples, n_features) -> ndarray (n_samples, n_units); with
        ``nan_policy="omit"``, NaN entries are missing values (`masked_sq_distances`).
        """
        arr = self._latent_with_nan(Z, "X")
        if arr is None:
            return super().transform(Z)  # type: ignore[misc]
        return masked_sq_distances(arr, self.prototypes_, name="X")

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the quantization error (mean distance to the nearest prototype); higher is
        better.

        X : array-like of shape (n_samples, n_features); y is ignored. With
        ``nan_policy="omit"``, NaN entries are missing values and the distances are the
        rescaled observed-coordinate ones.
        """
        arr = self._latent_with_nan(X, "X")
        if arr is None:
            return super().score(X, y)  # type: ignore[misc]
        _, d2 = masked_bmu(arr, self.prototypes_, return_distance=True, name="X")
        return -float(np.sqrt(d2).mean())

    def impute(self, X: Any) -> np.ndarray:
        """Fill each row's missing (NaN) entries from its best-matching prototype.

        Works under either ``nan_policy`` (imputing is what NaN is passed for here).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features), float64: a new array; observed entries are
        unchanged.
        """
        check_is_fitted(self, ["prototypes_"])
        X = check_array(X, name="X", n_features=self.prototypes_.shape[1], allow_nan=True)
        return impute_from_prototypes(X, self.prototypes_)
