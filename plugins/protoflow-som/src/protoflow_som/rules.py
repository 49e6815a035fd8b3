"""The two sample-driven training rules: the DESOM minibatch rule and the classic online rule.

Both take one epoch's worth of data in a given order and a schedule callback ``temperature(i)``
for the i-th update of the epoch; the batch rule lives in `protoflow_som.batch`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from protoflow.missing import masked_bmu
from protoflow.neighborhood import gaussian_kernel
from protoflow_som.batch import bmus, scoring_matrix


class Adam:
    """Adam state for the prototypes (Kingma & Ba; Keras defaults beta1 0.9, beta2 0.999,
    eps 1e-7, as in the DESOM reference code)."""

    def __init__(self, shape: tuple[int, int], lr: float) -> None:
        self.lr = lr
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, W: np.ndarray, grad: np.ndarray) -> None:
        """Update W (float64, in place) with the gradient (same shape).

        Only operators are used (``** 0.5``, not ``np.sqrt``), so the same code steps torch
        tensors when m, v, W and grad are tensors (`protoflow_som.torch_backend`).
        """
        b1, b2, eps = 0.9, 0.999, 1e-7
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        lr_t = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        W -= lr_t * self.m / (self.v**0.5 + eps)


def distortion_gradient(W: np.ndarray, X: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Gradient of ``L = mean_i sum_k h_ik ||x_i - w_k||^2`` with respect to W (h fixed).

    W : (n_units, n_features); X : (n, n_features); h : (n, n_units) neighbourhood weights of
    each sample's BMU. ``dL/dw_k = (2/n) sum_i h_ik (w_k - x_i)``; shape (n_units, n_features).
    """
    return (2.0 / len(X)) * (h.sum(axis=0)[:, None] * W - h.T @ X)


def minibatch_epoch(
    W: np.ndarray,
    X: np.ndarray,
    order: np.ndarray,
    distances: np.ndarray,
    temperature: Callable[[int], float],
    batch_size: int,
    adam: Adam,
    *,
    missing: bool = False,
) -> float:
    """One pass of the DESOM rule: an Adam step per minibatch on
    ``L = mean_i sum_k h(b_i, k) ||x_i - w_k||^2`` with BMUs b_i held fixed in the step.

    W : float64 (n_units, n_features), updated in place. X : (n_samples, n_features).
    order : the sample order (n_samples,). distances : (n_units, n_units) map distances.
    missing : X holds NaN (missing entries, ``nan_policy="omit"``): BMUs use the rescaled
    observed-coordinate distance and the loss sums over the observed coordinates only,
    ``dL/dw_kf = (2/n) sum_i h_ik m_if (w_kf - x_if)`` with m the observed mask.
    Returns the summed distance to the BMU seen during the epoch (before each step).
    """
    err = 0.0
    for i, start in enumerate(range(0, len(order), batch_size)):
        xb = X[order[start : start + batch_size]].astype(np.float64, copy=False)
        if missing:
            b, d2 = masked_bmu(xb, W, return_distance=True)
        else:
            b, d2 = bmus(xb, scoring_matrix(W))
        err += float(np.sqrt(d2).sum())
        h = gaussian_kernel(distances[b], temperature(i))  # (n_b, n_units)
        if missing:
            observed = ~np.isnan(xb)
            grad = (2.0 / len(xb)) * ((h.T @ observed) * W - h.T @ np.where(observed, xb, 0.0))
        else:
            grad = distortion_gradient(W, xb, h)
        adam.step(W, grad)
    return err


def online_epoch(
    W: np.ndarray,
    X: np.ndarray,
    order: np.ndarray,
    distances: np.ndarray,
    temperature: Callable[[int], float],
    learning_rate: Callable[[int], float],
    *,
    missing: bool = False,
) -> float:
    """One pass of Kohonen's online rule ``w_k += a(t) h(b, k) (x - w_k)``, sample by sample.

    W : float64 (n_units, n_features), updated in place. Returns the summed distance
    to the BMU seen during the epoch (before each update).
    missing : X holds NaN (``nan_policy="omit"``): a row with missing entries finds its BMU by
    the rescaled observed-coordinate distance and updates the observed coordinates only.
    """
    if missing:
        return _online_epoch_masked(W, X, order, distances, temperature, learning_rate)
    err = 0.0
    w2 = np.einsum("ij,ij->i", W, W)
    for i, j in enumerate(order):
        x = X[j].astype(np.float64, copy=False)
        d = w2 - 2.0 * (W @ x)
        b = int(np.argmin(d))
        err += math.sqrt(max(float(d[b] + x @ x), 0.0))
        h = gaussian_kernel(distances[b], temperature(i)) * learning_rate(i)
        W += h[:, None] * (x - W)
        w2 = np.einsum("ij,ij->i", W, W)
    return err


def _online_epoch_masked(
    W: np.ndarray,
    X: np.ndarray,
    order: np.ndarray,
    distances: np.ndarray,
    temperature: Callable[[int], float],
    learning_rate: Callable[[int], float],
) -> float:
    """`online_epoch` over X (n_samples, n_features) with NaN entries; W updated in place."""
    err = 0.0
    n_features = W.shape[1]
    for i, j in enumerate(order):
        x = X[j].astype(np.float64, copy=False)
        obs = ~np.isnan(x)
        diff = x[obs] - W[:, obs]  # (n_units, n_observed)
        d = np.einsum("ij,ij->i", diff, diff) * (n_features / obs.sum())
        b = int(np.argmin(d))
        err += math.sqrt(max(float(d[b]), 0.0))
        h = gaussian_kernel(distances[b], temperature(i)) * learning_rate(i)
        W[:, obs] += h[:, None] * diff
    return err
