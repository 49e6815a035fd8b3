"""The two sample-driven training rules: the DESOM minibatch rule and the classic online rule.

Both take one epoch's worth of data in a given order and a schedule callback ``temperature(i)``
for the i-th update of the epoch; the batch rule lives in `protoflow_som.batch`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from protoflow.missing import masked_bmu
from protoflow.neighborhood import gaussian_kernel
from protoflow.xp import asarray_like, namespace, to_numpy
from protoflow_som.batch import KernelTable, bmus, scoring_matrix


class Adam:
    """Adam state for the prototypes (Kingma & Ba; Keras defaults beta1 0.9, beta2 0.999,
    eps 1e-7, as in the DESOM reference code)."""

    def __init__(self, shape: tuple[int, int], lr: float) -> None:
        self.lr = lr
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, W: Any, grad: Any) -> None:
        """Update W (float64 (n_units, n_features), in place) with the gradient (same shape).

        Only operators are used (``** 0.5``, not ``np.sqrt``), so the same code steps torch
        tensors when m, v, W and grad are tensors (`minibatch_epoch` moves the moments).
        """
        b1, b2, eps = 0.9, 0.999, 1e-7
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        lr_t = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        W -= lr_t * self.m / (self.v**0.5 + eps)


def distortion_gradient(W: Any, X: Any, h: Any) -> Any:
    """Gradient of ``L = mean_i sum_k h_ik ||x_i - w_k||^2`` with respect to W (h fixed).

    W : (n_units, n_features); X : (n, n_features); h : (n, n_units) neighbourhood weights of
    each sample's BMU (arrays of one library). ``dL/dw_k = (2/n) sum_i h_ik (w_k - x_i)``;
    shape (n_units, n_features).
    """
    xp = namespace(W, X, h)
    return (2.0 / X.shape[0]) * (xp.sum(h, axis=0)[:, None] * W - h.T @ X)


def minibatch_epoch(
    W: np.ndarray,
    X: Any,
    order: np.ndarray,
    distances: np.ndarray | KernelTable,
    temperature: Callable[[int], float],
    batch_size: int,
    adam: Adam,
    *,
    missing: bool = False,
) -> float:
    """One pass of the DESOM rule: an Adam step per minibatch on
    ``L = mean_i sum_k h(b_i, k) ||x_i - w_k||^2`` with BMUs b_i held fixed in the step.

    W : float64 ndarray (n_units, n_features), updated in place (at the end of the epoch).
    X : (n_samples, n_features): a numpy array, or a tensor on the compute device (the whole
    epoch then runs there; only W and Adam's moments, numpy between epochs, cross over).
    order : the sample order (n_samples,). distances : (n_units, n_units) map distances, or
    their `KernelTable` (made for X's library and device).
    missing : X holds NaN (missing entries, ``nan_policy="omit"``; numpy only): BMUs use the
    rescaled observed-coordinate distance and the loss sums over the observed coordinates only,
    ``dL/dw_kf = (2/n) sum_i h_ik m_if (w_kf - x_if)`` with m the observed mask.
    Returns the summed distance to the BMU seen during the epoch (before each step).
    """
    xp = namespace(X)
    table = distances if isinstance(distances, KernelTable) else KernelTable(distances, like=X)
    Wx = asarray_like(W, X)  # numpy: W itself; torch on the CPU: shares W's memory
    order_x = asarray_like(order, X)
    # Adam.step uses only operators, so it steps tensors once its moments are tensors
    adam.m, adam.v = asarray_like(adam.m, X), asarray_like(adam.v, X)
    err = 0.0
    try:
        for i, start in enumerate(range(0, len(order), batch_size)):
            xb = xp.astype(xp.take(X, order_x[start : start + batch_size], axis=0), xp.float64, copy=False)
            if missing:
                b, d2 = masked_bmu(xb, Wx, return_distance=True)
            else:
                b, d2 = bmus(xb, scoring_matrix(Wx))
            err = err + xp.sum(xp.sqrt(d2))  # stays on the device until the end
            h = table(temperature(i), b)  # (n_b, n_units)
            if missing:
                observed = ~np.isnan(xb)
                grad = (2.0 / len(xb)) * ((h.T @ observed) * Wx - h.T @ np.where(observed, xb, 0.0))
            else:
                grad = distortion_gradient(Wx, xb, h)
            adam.step(Wx, grad)
    finally:  # the moments go back to numpy even if an epoch fails half-way
        adam.m, adam.v = to_numpy(adam.m), to_numpy(adam.v)
    if Wx is not W:
        W[...] = to_numpy(Wx)
    return float(err)


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
