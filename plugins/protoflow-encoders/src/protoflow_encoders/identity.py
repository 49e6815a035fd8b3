"""The identity encoder: the latent space is the data space."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.base import EncoderBase
from protoflow.params import Schema
from protoflow.validation import check_array, check_is_fitted


class IdentityEncoder(EncoderBase):
    """``encode(X) = X`` and ``decode(Z) = Z`` (as float64 copies), after checking the width.

    Fitted attributes: ``n_features_in_``, ``n_components_`` (= ``n_features_in_``) and
    ``exact_inverse_`` (True).
    """

    parameters = Schema()

    def __init__(self) -> None:
        pass

    def fit(self, X: Any, y: Any = None) -> IdentityEncoder:
        """X : array-like of shape (n_samples, n_features). Returns self."""
        X = check_array(X, name="X")
        self.n_features_in_ = int(X.shape[1])
        self.n_components_ = self.n_features_in_
        self.exact_inverse_ = True
        return self

    def _check(self, X: Any, name: str) -> np.ndarray:
        check_is_fitted(self, ["n_features_in_"])
        return check_array(X, name=name, n_features=self.n_features_in_, copy=True)

    def encode(self, X: Any) -> np.ndarray:
        """X : array-like (n_samples, n_features) -> ndarray (n_samples, n_features)."""
        return self._check(X, "X")

    def decode(self, Z: Any) -> np.ndarray:
        """Z : array-like (n_samples, n_features) -> ndarray (n_samples, n_features)."""
        return self._check(Z, "Z")
