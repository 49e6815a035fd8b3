"""torch versions of the batch epoch (`protoflow_som.batch`) and the DESOM minibatch rule
(`protoflow_som.rules.minibatch_epoch`), for ``SOM(backend="torch", device=...)``.

Device-agnostic: every tensor lives on the device of the data tensor it is given. The
arithmetic mirrors the numpy code step for step (same BMU scores, float64 sums, the same
Adam formula, the sample order drawn by the model's numpy Generator), so on the CPU the two
backends agree to rounding (about 1e-12 in float64). Only the prototypes cross back to numpy:
``prototypes_`` stays a numpy array. torch is imported lazily (`protoflow.backend`).

On CUDA, ``index_add_`` accumulates with atomics, so the last bits of the per-unit sums may
vary between runs; on the CPU the same seed gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from protoflow.backend import as_tensor, require_torch, to_numpy, torch_dtype
from protoflow_som.batch import block_rows
from protoflow_som.rules import Adam, distortion_gradient


def gaussian_kernel(distances: Any, temperature: float) -> Any:
    """``exp(-d^2 / T^2)`` of a float64 tensor of map distances, ``inf`` giving 0 (as
    `protoflow.neighborhood.gaussian_kernel`, which validates the temperature first)."""
    torch = require_torch()
    out = torch.exp(-torch.square(distances) / (temperature * temperature))
    return torch.where(torch.isfinite(distances), out, torch.zeros((), dtype=out.dtype, device=out.device))


def bmus(chunk: Any, W: Any) -> tuple[Any, Any]:
    """BMU and squared distance of each row, in row blocks (as `protoflow_som.batch.bmus`).

    chunk : tensor (n, n_features); W : tensor (n_units, n_features), same dtype and device.
    Returns (bmu (n,) int64, squared distance (n,) float64, clipped at 0).
    """
    torch = require_torch()
    f64 = torch.float64
    W64 = W.to(f64)
    half_norms = (-0.5 * (W64 * W64).sum(dim=1)).to(W.dtype)  # scores z.w - ||w||^2 / 2
    rows = block_rows(W.shape[0], W.element_size())
    idx_parts, d2_parts = [], []
    for start in range(0, chunk.shape[0], rows):
        block = chunk[start : start + rows]
        scores = torch.addmm(half_norms, block, W.T)
        best, idx = scores.max(dim=1)
        b64 = block.to(f64)
        d2_parts.append((b64 * b64).sum(dim=1) - 2.0 * best.to(f64))
        idx_parts.append(idx)
    if not idx_parts:
        return torch.empty(0, dtype=torch.int64, device=W.device), torch.empty(0, dtype=f64, device=W.device)
    return torch.cat(idx_parts), torch.cat(d2_parts).clamp_(min=0.0)


def batch_epoch(X: Any, W: np.ndarray, distances: np.ndarray, temperature: float) -> tuple[np.ndarray, float]:
    """One Kohonen batch epoch: BMUs of all rows, per-unit sums and counts, then
    ``w_k = (H @ sums)_k / (H @ counts)_k`` with H the Gaussian kernel; dead units keep their
    prototype (as `protoflow_som.batch.accumulate` + `update`).

    X : tensor (n_samples, n_features) on the compute device, in W's dtype.
    W : ndarray (n_units, n_features); distances : ndarray (n_units, n_units) map distances.
    Returns (new prototypes, ndarray of W's shape and dtype; summed distance to the BMU).
    """
    torch = require_torch()
    f64 = torch.float64
    Wt = as_tensor(W, X.device)
    b, d2 = bmus(X, Wt)
    K, D = W.shape
    counts = torch.bincount(b, minlength=K).to(f64)
    sums = torch.zeros((K, D), dtype=f64, device=X.device)
    rows = block_rows(K, X.element_size())
    for start in range(0, X.shape[0], rows):  # float64 sums without a full float64 copy of X
        sums.index_add_(0, b[start : start + rows], X[start : start + rows].to(f64))
    H = gaussian_kernel(as_tensor(distances, X.device).to(f64), temperature)
    num, den = H @ sums, H @ counts
    alive = den > np.finfo(np.float64).tiny
    out = Wt.to(f64).clone()
    out[alive] = num[alive] / den[alive, None]
    return to_numpy(out.to(torch_dtype(W.dtype))), float(torch.sqrt(d2).sum())


def minibatch_epoch(
    W: np.ndarray,
    X: Any,
    order: np.ndarray,
    distances: np.ndarray,
    temperature: Callable[[int], float],
    batch_size: int,
    adam: Adam,
) -> float:
    """One pass of the DESOM rule on the device: an Adam step per minibatch on
    ``L = mean_i sum_k h(b_i, k) ||x_i - w_k||^2`` (as `protoflow_som.rules.minibatch_epoch`).

    W : float64 ndarray (n_units, n_features), updated in place at the end of the epoch.
    X : tensor (n_samples, n_features) on the compute device. order : ndarray (n_samples,).
    distances : ndarray (n_units, n_units). adam : the model's `Adam` state, updated in place
    (its moments stay numpy arrays between epochs, so the backends can be switched).
    Returns the summed distance to the BMU seen during the epoch (before each step).
    """
    torch = require_torch()
    f64 = torch.float64
    dev = X.device
    Wt = as_tensor(W, dev).clone()
    dist = as_tensor(distances, dev).to(f64)
    order_t = as_tensor(order, dev)
    # Adam.step uses only operators, so it steps tensors once its moments are tensors
    adam.m, adam.v = as_tensor(adam.m, dev), as_tensor(adam.v, dev)
    err = torch.zeros((), dtype=f64, device=dev)
    try:
        for i, start in enumerate(range(0, len(order), batch_size)):
            xb = X[order_t[start : start + batch_size]].to(f64)
            b, d2 = bmus(xb, Wt)
            err += torch.sqrt(d2).sum()
            h = gaussian_kernel(dist[b], temperature(i))  # (n_b, n_units)
            adam.step(Wt, distortion_gradient(Wt, xb, h))
    finally:  # the moments go back to numpy even if an epoch fails half-way
        adam.m, adam.v = to_numpy(adam.m), to_numpy(adam.v)
    W[...] = to_numpy(Wt)
    return float(err)
