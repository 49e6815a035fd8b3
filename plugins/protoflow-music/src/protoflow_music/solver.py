"""The MUSIC step's linear algebra: batched Tikhonov least squares by the cheapest exact route.

Every step solves ``dz = argmin ||J dz - y||^2 + lam ||dz||^2`` for a batch of points, i.e.
``(J^T J + lam I) dz = J^T y`` (spec §2). Rows that are all zero (padding, so that points with
constraint sets of different sizes can share one array) change neither side, so padding is exact.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from protoflow.errors import ConfigError

#: the exact routes, in the order `choose_route` considers them
ROUTES = ("woodbury", "cholesky", "cg")

#: above this many rows *and* dimensions a dense factorisation costs more than CG iterations
CG_THRESHOLD = 2048


def choose_route(n_rows: int, n_features: int) -> str:
    """Cheapest exact route for r = `n_rows` constraint rows in D = `n_features` dimensions.

    r < D: the r x r push-through system, O(r^2 D + r^3), linear in D. Otherwise the D x D
    normal equations, O(r D^2 + D^3). When both exceed `CG_THRESHOLD`, conjugate gradients on
    the D x D operator applied matrix-free, O(r D) per iteration.
    """
    if min(n_rows, n_features) > CG_THRESHOLD:
        return "cg"
    return "woodbury" if n_rows < n_features else "cholesky"


def solve_regularized(
    J: np.ndarray,
    y: np.ndarray,
    lam: float,
    route: str = "auto",
    *,
    cg_tol: float = 1e-13,
    cg_maxiter: int | None = None,
) -> tuple[np.ndarray, str]:
    """Solve ``(J^T J + lam I) dz = J^T y`` for each point of a batch.

    Parameters
    ----------
    J : ndarray of shape (n_points, n_rows, n_features)
        Stacked, weighted Jacobian rows of each point.
    y : ndarray of shape (n_points, n_rows)
        Weighted desired first-order changes.
    lam : float > 0
        Tikhonov strength (makes the system positive definite).
    route : "auto", "woodbury", "cholesky" or "cg"
    cg_tol : relative residual at which conjugate gradients stop.
    cg_maxiter : iteration cap for conjugate gradients (default 10 * n_features).

    Returns
    -------
    dz : ndarray of shape (n_points, n_features)
    route : the route taken
    """
    n, r, d = J.shape
    if route == "auto":
        route = choose_route(r, d)
    if route not in ROUTES:
        raise ConfigError(f"parameter 'solver' must be 'auto' or one of {ROUTES}, got {route!r}")
    if n == 0 or r == 0:
        return np.zeros((n, d)), route
    if route == "woodbury":
        # (J^T J + lam I)^-1 J^T = J^T (J J^T + lam I)^-1 (push-through identity)
        G = J @ J.transpose(0, 2, 1)
        G[:, np.arange(r), np.arange(r)] += lam
        u = scipy.linalg.cho_solve((np.linalg.cholesky(G), True), y[..., None])
        return (J.transpose(0, 2, 1) @ u)[..., 0], route
    rhs = np.einsum("nrd,nr->nd", J, y)
    if route == "cholesky":
        M = J.transpose(0, 2, 1) @ J
        M[:, np.arange(d), np.arange(d)] += lam
        dz = scipy.linalg.cho_solve((np.linalg.cholesky(M), True), rhs[..., None])
        return dz[..., 0], route
    return _cg(J, rhs, lam, cg_tol, cg_maxiter or 10 * d), route


def _cg(J: np.ndarray, rhs: np.ndarray, lam: float, tol: float, maxiter: int) -> np.ndarray:
    """Batched conjugate gradients on v -> J^T J v + lam v, never forming the D x D matrix."""

    def apply(v: np.ndarray) -> np.ndarray:
        return np.einsum("nrd,nr->nd", J, np.einsum("nrd,nd->nr", J, v)) + lam * v

    x = np.zeros_like(rhs)
    res = rhs.copy()
    p = res.copy()
    rr = np.einsum("nd,nd->n", res, res)
    stop = tol**2 * rr
    for _ in range(maxiter):
        active = rr > stop
        if not active.any():
            break
        Ap = apply(p)
        pAp = np.einsum("nd,nd->n", p, Ap)
        alpha = np.where(active, rr / np.where(active, pAp, 1.0), 0.0)
        x += alpha[:, None] * p
        res -= alpha[:, None] * Ap
        rr_new = np.einsum("nd,nd->n", res, res)
        beta = np.where(active, rr_new / np.where(active, rr, 1.0), 0.0)
        p = res + beta[:, None] * p
        rr = rr_new
    return x
