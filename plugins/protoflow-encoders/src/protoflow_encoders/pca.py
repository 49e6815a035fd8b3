"""PCA encoder with optional whitening; an exact inverse at full dimension."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from protoflow.base import EncoderBase
from protoflow.errors import ConfigError
from protoflow.params import Any_, Bool, Schema
from protoflow.validation import check_array, check_is_fitted

#: Whitening floor, relative to the largest component variance. A component whose variance is
#: below ``WHITEN_FLOOR * max_variance`` is divided by ``sqrt(WHITEN_FLOOR * max_variance)``
#: instead of by its own standard deviation, so near-constant directions (e.g. MNIST's blank
#: border pixels) keep whitened coordinates of variance <= 1 instead of amplifying rounding
#: noise by 1e8 or more. The scaling stays invertible, so decode remains exact.
WHITEN_FLOOR = 1e-6


def _check_n_components(k: Any) -> Any:
    """An int >= 1 (components), a variance fraction in (0, 1), or None (all)."""
    if isinstance(k, numbers.Integral) and not isinstance(k, bool):
        if k < 1:
            raise ConfigError(f"parameter 'n_components' must be >= 1, got {k}.")
        return int(k)
    if isinstance(k, numbers.Real) and not isinstance(k, bool):
        if not 0.0 < k < 1.0:
            raise ConfigError(
                f"parameter 'n_components' as a variance fraction must lie in (0, 1), got {k}."
            )
        return float(k)
    raise ConfigError(
        f"parameter 'n_components' must be an int, a fraction in (0, 1) or None, got {k!r}."
    )


class PCAEncoder(EncoderBase):
    """Principal component analysis as an encoder.

    Parameters
    ----------
    n_components : int, float in (0, 1), or None
        int: number of components (1 .. n_features); float: the fewest components whose
        explained variance reaches this fraction; None: every component (``n_features``), in
        which case `decode` is the exact inverse of `encode` (a rotation, plus scaling if
        whitened). With fewer components `decode` is the least-squares reconstruction (the
        orthogonal projection onto the principal subspace).
    whiten : divide each component by its standard deviation (floored, see `WHITEN_FLOOR`).
    center : subtract the mean first (False: components of the uncentred second moment).

    Fitted attributes
    -----------------
    mean_ : (n_features,) (zeros when ``center=False``)
    components_ : (n_components_, n_features), orthonormal rows, sign fixed so that each
        row's largest-magnitude entry is positive (deterministic; no randomness involved)
    explained_variance_ : (n_components_,); explained_variance_ratio_ : (n_components_,)
    scale_ : (n_components_,), the divisor of each coordinate (ones unless whitened)
    n_components_, n_features_in_, exact_inverse_
    """

    parameters = Schema(
        n_components=Any_(lambda name, v: _check_n_components(v)),
        whiten=Bool(),
        center=Bool(),
    )

    def __init__(
        self, n_components: int | float | None = None, whiten: bool = False, center: bool = True
    ) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.center = center

    def _check_params(self, n_features: int) -> None:
        """The declared checks (`parameters`), then the one that needs the data's width."""
        k = self.validated_params()["n_components"]
        if isinstance(k, numbers.Integral) and not 1 <= k <= n_features:
            raise ConfigError(
                f"parameter 'n_components' must be between 1 and n_features={n_features}, got {k}."
            )

    def fit(self, X: Any, y: Any = None) -> PCAEncoder:
        """X : array-like of shape (n_samples, n_features). Returns self."""
        X = check_array(X, name="X")
        n, d = X.shape
        self._check_params(d)
        mean = X.mean(axis=0) if self.center else np.zeros(d)
        Xc = X - mean
        # eigh of the d x d second-moment matrix gives a *complete* orthonormal basis even when
        # n_samples < n_features, which the exact inverse at full dimension needs.
        cov = (Xc.T @ Xc) / max(n - 1 if self.center else n, 1)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        var = np.clip(evals[order], 0.0, None)
        V = evecs[:, order].T
        signs = np.sign(V[np.arange(d), np.abs(V).argmax(axis=1)])
        V *= np.where(signs == 0, 1.0, signs)[:, None]
        total = var.sum()
        ratio = var / total if total > 0 else np.full(d, 1.0 / d)
        k = self._resolve_k(ratio, d)
        self.mean_ = mean
        self.components_ = np.ascontiguousarray(V[:k])
        self.explained_variance_ = var[:k]
        self.explained_variance_ratio_ = ratio[:k]
        if self.whiten:
            floor = WHITEN_FLOOR * max(float(var[0]), np.finfo(float).tiny)
            self.scale_ = np.sqrt(np.maximum(var[:k], floor))
        else:
            self.scale_ = np.ones(k)
        self.n_components_ = int(k)
        self.n_features_in_ = int(d)
        self.exact_inverse_ = bool(k == d)
        return self

    def _resolve_k(self, ratio: np.ndarray, d: int) -> int:
        k = self.n_components
        if k is None:
            return d
        if isinstance(k, numbers.Integral):
            return int(k)
        # fewest components whose cumulative ratio reaches the fraction (tolerate rounding)
        return int(min(np.searchsorted(np.cumsum(ratio), k - 1e-12) + 1, d))

    def encode(self, X: Any) -> np.ndarray:
        """X : array-like (n_samples, n_features) -> ndarray (n_samples, n_components_)."""
        check_is_fitted(self, ["components_"])
        X = check_array(X, name="X", n_features=self.n_features_in_)
        return ((X - self.mean_) @ self.components_.T) / self.scale_

    def decode(self, Z: Any) -> np.ndarray:
        """Z : array-like (n_samples, n_components_) -> ndarray (n_samples, n_features)."""
        check_is_fitted(self, ["components_"])
        Z = check_array(Z, name="Z", n_features=self.n_components_)
        return (Z * self.scale_) @ self.components_ + self.mean_
