"""The MUSIC step's linear algebra: batched Tikhonov least squares by the cheapest exact route.

Every step solves ``dz = argmin ||J dz - y||^2 + lam ||dz||^2`` for a batch of points, i.e.
``(J^T J + lam I) dz = J^T y`` (spec §2). Rows that are all zero (padding, so that points with
constraint sets of different sizes can share one array) change neither side, so padding is exact.

One body serves numpy arrays and torch tensors (any device) through the array-API namespace
of `protoflow.xp`, whose `protoflow.xp.add_to_diagonal` and `protoflow.xp.cholesky_solve`
dispatch the two steps the standard lacks; torch is never imported here (a tensor arrives only
from a controller with ``backend="torch"``).
"""

from __future__ import annotations

from typing import Any

from protoflow.errors import ConfigError
from protoflow.xp import add_to_diagonal, cholesky_solve, device, matvec, namespace, rowwise_dot

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
    J: Any,
    y: Any,
    lam: float,
    route: str = "auto",
    *,
    cg_tol: float = 1e-13,
    cg_maxiter: int | None = None,
) -> tuple[Any, str]:
    """Solve ``(J^T J + lam I) dz = J^T y`` for each point of a batch.

    Parameters
    ----------
    J : ndarray or torch tensor of shape (n_points, n_rows, n_features)
        Stacked, weighted Jacobian rows of each point.
    y : ndarray or tensor (like J) of shape (n_points, n_rows)
        Weighted desired first-order changes.
    lam : float > 0
        Tikhonov strength (makes the system positive definite).
    route : "auto", "woodbury", "cholesky" or "cg"
    cg_tol : relative residual at which conjugate gradients stop.
    cg_maxiter : iteration cap for conjugate gradients (default 10 * n_features).

    Returns
    -------
    dz : ndarray or tensor (like J) of shape (n_points, n_features)
    route : the route taken
    """
    n, r, d = J.shape
    if route == "auto":
        route = choose_route(r, d)
    if route not in ROUTES:
        raise ConfigError(f"parameter 'solver' must be 'auto' or one of {ROUTES}, got {route!r}")
    xp = namespace(J, y)
    if n == 0 or r == 0:
        return xp.zeros((n, d), dtype=J.dtype, device=device(J)), route
    Jt = xp.matrix_transpose(J)
    if route == "woodbury":
        # (J^T J + lam I)^-1 J^T = J^T (J J^T + lam I)^-1 (push-through identity)
        u = cholesky_solve(add_to_diagonal(J @ Jt, lam), y[..., None])
        return (Jt @ u)[..., 0], route
    rhs = matvec(Jt, y)
    if route == "cholesky":
        return cholesky_solve(add_to_diagonal(Jt @ J, lam), rhs[..., None])[..., 0], route
    return _cg(J, rhs, lam, cg_tol, cg_maxiter or 10 * d), route


def _cg(J: Any, rhs: Any, lam: float, tol: float, maxiter: int) -> Any:
    """Batched conjugate gradients on v -> J^T J v + lam v, never forming the D x D matrix.
    J (n, r, D) and rhs (n, D) are numpy arrays or torch tensors (updates are out of place,
    so the same code serves both)."""
    xp = namespace(J, rhs)
    Jt = xp.matrix_transpose(J)

    def apply(v: Any) -> Any:
        return matvec(Jt, matvec(J, v)) + lam * v

    x = xp.zeros_like(rhs)
    res = rhs
    p = res
    rr = rowwise_dot(res, res)
    stop = tol**2 * rr
    for _ in range(maxiter):
        active = rr > stop
        if not bool(xp.any(active)):
            break
        Ap = apply(p)
        pAp = rowwise_dot(p, Ap)
        alpha = xp.where(active, rr / xp.where(active, pAp, 1.0), 0.0)
        x = x + alpha[:, None] * p
        res = res - alpha[:, None] * Ap
        rr_new = rowwise_dot(res, res)
        beta = xp.where(active, rr_new / xp.where(active, rr, 1.0), 0.0)
        p = res + beta[:, None] * p
        rr = rr_new
    return x
