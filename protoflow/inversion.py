"""Activations (squared distances to prototypes) and their exact inversion.

With ``a_j(z) = ||z - w_j||^2`` the differences ``a_j - a_k`` are linear in z, so z is recovered
exactly from the activation vector whenever the prototypes affinely span R^D. We use the
mean-anchored system ``B z = c`` with ``B = 2 (W - mean(W))`` and
``c_j = (||w_j||^2 - mean ||w||^2) - (a_j - mean a)`` (spec: ``shared/spec/music.md`` §1).
B depends only on the prototypes, so it is factorised once and a batch inverts as one
matrix product: ``Z = (||w||^2 - A) @ K.T`` with K of shape (n_features, n_units).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.backend import as_tensor, resolve_device
from protoflow.errors import ConfigError, NotInvertibleError, ValidationError
from protoflow.validation import check_array, check_finite, check_float
from protoflow.xp import (
    Workspace,
    addmm,
    asarray_like,
    copy_into,
    device,
    float32_unit_roundoff,
    is_array,
    is_numpy,
    matmul,
    namespace,
    put_rows,
    rowwise_dot,
    subtract,
    take_rows,
    to_numpy,
    top_two,
)

#: rows per block when computing activations, so that a block of the (n_samples, n_units)
#: matrix stays small (about 8 MB in float64 for 1,024 units).
DEFAULT_BLOCK_ROWS = 1024


def activations(Z: Any, W: Any, *, out: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances between points and prototypes.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
    W : array-like of shape (n_units, n_features)
    out : optional preallocated (n_samples, n_units) array

    Returns
    -------
    ndarray of shape (n_samples, n_units); never negative.
    """
    W = check_array(W, name="prototypes", allow_float32=True)
    Z = check_array(Z, name="Z", n_features=W.shape[1], allow_float32=True)
    dtype = np.result_type(Z.dtype, W.dtype)
    if out is None:
        out = np.empty((Z.shape[0], W.shape[0]), dtype=dtype)
    w2 = np.einsum("ij,ij->i", W, W)
    for start in range(0, Z.shape[0], DEFAULT_BLOCK_ROWS):
        block = Z[start : start + DEFAULT_BLOCK_ROWS]
        o = out[start : start + len(block)]
        np.matmul(block, W.T, out=o)
        o *= -2.0
        o += w2
        o += np.einsum("ij,ij->i", block, block)[:, None]
        np.maximum(o, 0.0, out=o)  # rounding can make tiny distances negative
    return out


#: bytes budget for one (rows, n_units) block of scores in `bmu_search`: small enough to stay
#: in the CPU's cache, so the argmax pass reads the scores the product just wrote from there
#: (2x faster than 32 MB blocks on 25k x 10 data and a 20x20 map; 1 to 8 MB measure alike)
BMU_BLOCK_BYTES = 1 << 22


def scoring_matrix(W: Any) -> Any:
    """``[W, -||w||^2 / 2]``, shape (n_units, n_features + 1), in W's dtype and library.

    For a row z, ``[z, 1] @ scoring_matrix(W).T = z.w - ||w||^2/2`` whose argmax is the BMU
    (``||z - w||^2 = ||z||^2 - 2 (z.w - ||w||^2/2)``), so a block costs one matrix product
    and one argmax pass.
    """
    xp = namespace(W)
    W64 = xp.astype(W, xp.float64, copy=False)
    half = xp.astype(-0.5 * rowwise_dot(W64, W64), W.dtype)
    return xp.concat([W, half[:, None]], axis=1)


def bmu_search(Z: Any, S: Any, *, block_bytes: int = BMU_BLOCK_BYTES,
               screen: bool = True, workspace: Workspace | None = None,
               prepared: PreparedRows | None = None) -> tuple[Any, Any]:
    """Nearest prototype and squared distance of each row, in row blocks: the one BMU search
    of protoflow (`bmu`, the SOM's epochs), for numpy arrays or tensors on any device.

    Z : array (n, n_features); S : `scoring_matrix` of the prototypes, same dtype, library and
    device. block_bytes : size of one (rows, n_units) block of scores (256..16384 rows).
    screen : for float64 data, score in float32 first (about twice as fast) and settle in
    float64 only the rows whose best and runner-up float32 scores are closer than a proven
    bound on float32's rounding error (`Float32Screen`): outside that margin no rounding can
    change the order, inside it the row is scored again in float64. The BMUs are a
    float64 search's. False (or float32 data) scores in the data's dtype.
    workspace : the `protoflow.xp.Workspace` to take the block buffers from (a loop that
    searches data of the same size again and again reuses them); None: the thread's shared
    one (`Workspace.for_thread`) for numpy, fresh buffers for other libraries.
    prepared : `PreparedRows` of this same Z (checked by identity): the screen's float32 rows
    and norms, made once for many searches of the same data (the epochs of a fit) instead of
    once per search.
    Returns (bmu (n,) int64, squared distance (n,) float64, clipped at 0), in Z's library.
    """
    xp = namespace(Z, S)
    dev = device(S)
    n, d = Z.shape
    K = S.shape[0]
    ws = workspace
    if ws is None:  # numpy: the thread's buffers; torch's caching allocator reuses its own
        ws = Workspace.for_thread() if is_numpy(S) else Workspace(0)
    if prepared is not None and prepared.Z is not Z:
        raise ValidationError("bmu_search: `prepared` was made for other rows than Z; "
                              "pass PreparedRows(Z) of the same array.")
    screener = None
    if screen and S.dtype == xp.float64:
        center = None if prepared is None else prepared.center
        screener = Float32Screen.for_scoring_matrix(S, center=center)
    work_dtype = xp.float32 if screener is not None else S.dtype
    rows = max(1, min(n, int(np.clip(block_bytes // max(1, K * (xp.finfo(work_dtype).bits // 8)), 256, 16384))))
    out = xp.empty(n, dtype=xp.int64, device=dev)
    d2 = xp.empty(n, dtype=xp.float64, device=dev)
    aug = ws.empty("bmu.aug", (rows, d + 1), work_dtype, S)
    aug[:, d] = 1.0
    # one score buffer for all blocks (and, with a workspace, all calls): a fresh (rows, K)
    # array costs page faults comparable to the product itself
    scores_buf = ws.empty("bmu.scores", (rows, K), work_dtype, S)
    St = (S if screener is None else screener.S32).T
    for start in range(0, n, rows):
        block = Z[start : min(start + rows, n), ...]  # the standard: every axis, in bounds
        m = block.shape[0]
        a = aug[:m, ...]
        if screener is not None:
            rows_in = None if prepared is None else prepared.rows(start, start + m)
            out[start : start + m], d2[start : start + m] = screener.block(
                block, a, St, scores_buf[:m, ...], ws, prepared=rows_in)
            continue
        copy_into(a[:, :d], block)
        scores = matmul(a, St, out=scores_buf[:m, ...])
        idx = xp.argmax(scores, axis=1)
        out[start : start + m] = idx
        best = xp.astype(xp.take_along_axis(scores, idx[:, None], axis=1)[:, 0], xp.float64)
        b64 = xp.astype(block, xp.float64, copy=False)
        d2[start : start + m] = rowwise_dot(b64, b64) - 2.0 * best
    return out, xp.clip(d2, min=0.0)  # cancellation can leave tiny negatives


class PreparedRows:
    """The float32 side of `bmu_search`'s screen for rows searched again and again (every
    epoch of a fit searches the same data against new prototypes): centred once, instead of
    centring, measuring and rounding every row to float32 in every search.

    Z : array (n, d), float64 (numpy, or a tensor on any device). Attributes: center (d,) the
    column mean of Z; aug (n, d + 1) float32, the rows ``[Z - center, 1]``; norms (n,)
    float64, ``||Z - center||``. Holds n (d + 1) 4 + 8 n bytes (about half a float64 copy
    of Z), built in row blocks (no full-size float64 temporary). Rows too large for float32
    (``||z - center||^2 >= Float32Screen.MAX_SQ_NORM``) are still scored in float64.
    """

    #: rows per block while building (a (rows, d) float64 temporary)
    _BUILD_ROWS = 4096

    def __init__(self, Z: Any) -> None:
        xp = namespace(Z)
        n, d = Z.shape
        dev = device(Z)
        self.Z = Z
        self.center = xp.mean(Z, axis=0) if n else xp.zeros(d, dtype=xp.float64, device=dev)
        self.aug = xp.ones((n, d + 1), dtype=xp.float32, device=dev)
        self.norms = xp.empty(n, dtype=xp.float64, device=dev)
        for start in range(0, n, self._BUILD_ROWS):
            stop = min(start + self._BUILD_ROWS, n)
            xc = Z[start:stop, ...] - self.center
            self.norms[start:stop] = xp.sqrt(rowwise_dot(xc, xc))
            copy_into(self.aug[start:stop, :d], xc)

    @staticmethod
    def nbytes(n_samples: int, n_features: int) -> int:
        """What PreparedRows of (n_samples, n_features) rows holds, in bytes."""
        return n_samples * (4 * (n_features + 1) + 8)

    def rows(self, start: int, stop: int) -> tuple[Any, Any]:
        """The float32 rows (m, d + 1) and norms (m,) of rows start..stop-1 (views)."""
        return self.aug[start:stop, ...], self.norms[start:stop]


class Float32Screen:
    """Exact float64 BMUs from float32 products, for one prototype set (`bmu_search`).

    Points and prototypes are centred on the prototypes' mean c (distances do not change, the
    float32 error bound shrinks with the norms). A float32 score
    ``s_k = x.w_k - ||w_k||^2 / 2`` of a centred row x differs from the exact one by at most
    ``bound_k = (d + 4) u (||x|| ||w_k|| + ||w_k||^2 / 2)`` plus an underflow term: rounding
    the inputs (2u relative, plus u^2) and a length-(d + 1) dot product in any order
    (``gamma_{d+1} <= (d + 1.01) u``, Higham, *Accuracy and Stability of Numerical
    Algorithms*, Thm 3.5) make at most (d + 3.02) u times ``sum_i |x_i| |w_ki|``, which
    Cauchy-Schwarz bounds by the norms; u = 2**-24 (`protoflow.xp.float32_unit_roundoff`).
    A row whose best float32 score (unit b) beats the runner-up by more than
    ``bound_b + max_k bound_k`` has that BMU in exact arithmetic; the other rows are scored
    again in float64, over all units. Prototypes or rows too large for float32 (``||w|| >=
    1e15``, ``||x||^2 >= 1e30``) are not screened. Use `for_scoring_matrix`.
    """

    #: rows with a centred squared norm at or above this are scored in float64 throughout
    MAX_SQ_NORM = 1e30

    def __init__(self, S: Any, unit: float, center: Any = None) -> None:
        xp = self.xp = namespace(S)
        d = S.shape[1] - 1
        self.W = W = S[:, :d]
        self.center = xp.mean(W, axis=0) if center is None else center
        self.Wc = W - self.center
        self.hc = -0.5 * rowwise_dot(self.Wc, self.Wc)
        self.S32 = xp.astype(xp.concat([self.Wc, self.hc[:, None]], axis=1), xp.float32)
        self.w_norm = xp.sqrt(-2.0 * self.hc)
        self.w_max = float(xp.max(self.w_norm))
        self.unit = unit

    @classmethod
    def for_scoring_matrix(cls, S: Any, center: Any = None) -> Float32Screen | None:
        """The screen of a float64 `scoring_matrix` S (K, d + 1), centred on `center` (d,;
        None: the prototypes' mean), or None where float32 products may be inexact (TF32) or
        the centred prototypes are too large for float32."""
        unit = float32_unit_roundoff(S)
        if unit is None:
            return None
        screen = cls(S, unit, center)
        return screen if screen.w_max < 1e15 else None

    def bound(self, x_norm: Any, w_norm: Any = None) -> Any:
        """The bound (m,) on the float32 error of the scores of centred rows of norm `x_norm`
        (m,) against prototypes of centred norm `w_norm` (m,; None: the largest)."""
        d = self.Wc.shape[1]
        w = self.w_max if w_norm is None else w_norm
        rel = (d + 4) * self.unit * (x_norm * w + 0.5 * w * w)
        return rel + 1e-43 * (d + 1) * (1.0 + x_norm + self.w_max)

    def block(self, block: Any, aug: Any, St32: Any, scores: Any,
              workspace: Workspace | None = None,
              prepared: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
        """BMUs (m,) int64 and squared distances (m,) float64 of `block` (m, d), float64.
        aug (m, d + 1) float32 with last column 1, scores (m, K) float32: work buffers;
        workspace: where the (m, d) float64 temporaries come from (None: fresh); prepared:
        this block's float32 rows and centred norms from `PreparedRows` (made with this
        screen's center), used instead of centring the block here."""
        xp = self.xp
        ws = Workspace(0) if workspace is None else workspace
        m, d = block.shape
        if prepared is None:
            xc = subtract(block, self.center, out=ws.empty("screen.xc", (m, d), xp.float64, block))
            x_norm = xp.sqrt(rowwise_dot(xc, xc))
        else:
            aug, x_norm = prepared
        x_max = float(xp.max(x_norm))
        if not x_max * x_max < self.MAX_SQ_NORM:  # beyond float32's range (or not finite)
            idx = self._exact(self._centred(block, ws) if prepared is not None else xc, ws)
        else:
            if prepared is None:
                copy_into(aug[:, :d], xc)
            matmul(aug, St32, out=scores)
            idx, first, second = top_two(scores)
            # the best score's error bound with its own prototype's norm, the runner-up's
            # with the largest
            margin = self.bound(x_norm, xp.take(self.w_norm, idx)) + self.bound(x_norm)
            first = xp.astype(first, xp.float64)
            unsure = xp.nonzero(~(first - xp.astype(second, xp.float64) > margin))[0]
            if unsure.shape[0]:
                # rows float32 cannot order are scored again over all units in float64: one
                # dense product of those rows (a per-row candidate mask cost 4x more on
                # clustered data, where a sixth of the rows can land here)
                rows = take_rows(block, unsure, out=ws.empty(
                    "screen.unsure", (unsure.shape[0], d), xp.float64, block), checked=False)
                idx = put_rows(idx, unsure, self._exact(subtract(rows, self.center, out=rows), ws))
        # the distance from the uncentred rows: as accurate, and no centred copy needed
        diff = take_rows(self.W, idx, out=ws.empty("screen.diff", (m, d), xp.float64, block),
                         checked=False)
        diff = subtract(block, diff, out=diff)
        return idx, rowwise_dot(diff, diff)

    def _centred(self, block: Any, workspace: Workspace) -> Any:
        """block - center (m, d) float64, in a workspace buffer."""
        m, d = block.shape
        return subtract(block, self.center,
                        out=workspace.empty("screen.xc", (m, d), self.xp.float64, block))

    def _exact(self, xc: Any, workspace: Workspace) -> Any:
        """Float64 BMUs (m,) int64 of centred rows xc (m, d) among all units."""
        xp = self.xp
        scores = matmul(xc, self.Wc.T, out=workspace.empty(
            "screen.exact", (xc.shape[0], self.Wc.shape[0]), xp.float64, xc))
        scores += self.hc[None, :]
        return xp.astype(xp.argmax(scores, axis=1), xp.int64)


def bmu(Z: Any, W: Any) -> np.ndarray:
    """Index of the nearest prototype for each point, shape (n_samples,), blockwise
    (`bmu_search` in the common dtype of Z (n_samples, n_features) and W (n_units, n_features))."""
    W = check_array(W, name="prototypes", allow_float32=True)
    Z = check_array(Z, name="Z", n_features=W.shape[1], allow_float32=True)
    dtype = np.result_type(Z.dtype, W.dtype)
    return bmu_search(Z.astype(dtype, copy=False), scoring_matrix(W.astype(dtype, copy=False)))[0]


class Inverter:
    """Recovers latent points from their activations; factorised once per prototype set.

    Parameters
    ----------
    W : array-like of shape (n_units, n_features)
        The prototypes.
    noise_cov : array-like of shape (n_units, n_units), optional
        Covariance of the noise on the activations. The differenced system is then solved by
        weighted (generalised) least squares. ``noise_cov = I`` gives the ordinary answer.
    allow_underdetermined : bool, default False
        When the prototypes do not affinely span the space, return the minimum-norm solution
        instead of raising
        `NotInvertibleError`.
    rcond : float, optional
        Relative cut-off for singular values (default ``max(n_units, n_features) * eps``).
    backend : "numpy" | "torch", default "numpy"
        Where `invert` computes its matrix product (the factorisation is done once, in numpy
        float64). With "torch", `invert` also accepts a tensor and then returns a tensor on
        `device` (no host round trip); ``n_nearest`` inversions run in numpy either way.
    device : "cpu" | "cuda" | "cuda:N" | "auto" | None, default None ("cpu")
        torch device; CUDA where it is unavailable is a `ConfigError`.

    Attributes
    ----------
    rank : rank of the centred system B
    sigma_min, sigma_max : extreme singular values of B (noise amplification is 1/sigma_min)
    condition : sigma_max / sigma_min (inf when rank-deficient)
    singular_values : ndarray of shape (min(n_units, n_features),)
    """

    def __init__(
        self,
        W: Any,
        *,
        noise_cov: Any = None,
        allow_underdetermined: bool = False,
        rcond: float | None = None,
        backend: str = "numpy",
        device: str | None = None,
    ) -> None:
        self.backend = backend
        self._device = resolve_device(backend, device)  # None for numpy; validated up front
        if rcond is not None:
            rcond = check_float("rcond", rcond, minimum=0.0)
        if not isinstance(allow_underdetermined, bool):
            raise ConfigError(
                f"parameter 'allow_underdetermined' must be true or false, got {allow_underdetermined!r}."
            )
        W = check_array(W, name="prototypes", min_samples=1)
        self.prototypes = W
        n_units, n_features = W.shape
        self.n_units, self.n_features = n_units, n_features
        # Work in coordinates centred on the prototypes' mean: the answer is translation
        # equivariant, and norms stay of the data's spread, not of its offset (with an offset
        # of 1e3 and a spread of 1e-2, uncentred norms cancel away every significant digit).
        self._center = W.mean(axis=0)
        Wc = W - self._center
        self._norms = np.einsum("ij,ij->i", Wc, Wc)
        B = 2.0 * Wc
        U, s, Vt = np.linalg.svd(B, full_matrices=False)
        self.singular_values = s
        eps = np.finfo(np.float64).eps
        cutoff = (rcond if rcond is not None else max(n_units, n_features) * eps) * (
            s[0] if s.size else 0.0
        )
        self.rank = int(np.sum(s > cutoff))
        self.sigma_max = float(s[0]) if s.size else 0.0
        full = self.rank == n_features
        self.sigma_min = float(s[n_features - 1]) if full else 0.0
        self.condition = self.sigma_max / self.sigma_min if full else float("inf")
        if not full and not allow_underdetermined:
            raise NotInvertibleError(
                f"the {n_units} prototypes do not affinely span the {n_features}-dimensional "
                f"space: the centred system has rank {self.rank} < {n_features} "
                f"(sigma_min = {s[-1] if s.size else 0.0:.3g}), so activations do not determine "
                f"the point. Reduce the dimension (e.g. PCA to at most {max(n_units - 1, 1)} "
                f"components, and at most the rank {self.rank}), use more prototypes, or pass "
                f"allow_underdetermined=True for the minimum-norm answer."
            )
        self.allow_underdetermined = allow_underdetermined
        r = self.rank
        if noise_cov is None:
            # pinv(B) = V_r diag(1/s_r) U_r^T; z = pinv(B) @ (||w||^2 - a), since the columns
            # of U lie in the centred subspace the mean terms drop out.
            self._K = (Vt[:r].T / s[:r]) @ U[:, :r].T
        else:
            self._K = self._weighted_operator(W, noise_cov, Vt[:r], full)
        self.weighted = noise_cov is not None
        # K annihilates constant vectors in exact arithmetic; after rounding its rows leak about
        # eps * condition * |K|, which the large common part of the activations amplifies.
        # Re-centring the rows cuts the leak to eps * |K| (the level of the product's own rounding).
        self._K -= self._K.mean(axis=1, keepdims=True)
        self._offset = _min_norm_anchor(self._center, Vt[:r], full) + self._K @ self._norms
        # the operator (offset (n_features,), K^T (n_units, n_features)), once, where `invert`
        # computes: numpy, or tensors on the torch device
        ops = (self._offset, self._K.T)
        self._ops = ops if self._device is None else tuple(as_tensor(a, self._device) for a in ops)

    def _weighted_operator(
        self, W: np.ndarray, noise_cov: Any, basis: np.ndarray, full: bool
    ) -> np.ndarray:
        n = self.n_units
        S = check_array(noise_cov, name="noise_cov")
        if S.shape != (n, n):
            raise ValidationError(f"noise_cov must have shape ({n}, {n}), got {S.shape}")
        if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12 * np.abs(S).max()):
            raise ValidationError("noise_cov must be symmetric")
        # Differences against unit 0: rows e_j - e_0, j = 1..n-1. GLS is invariant to the
        # anchor choice, so this equals any other anchoring.
        L = np.hstack([-np.ones((n - 1, 1)), np.eye(n - 1)])
        Sd = L @ S @ L.T
        try:
            C = np.linalg.cholesky(Sd)
        except np.linalg.LinAlgError as exc:
            raise ValidationError(
                "noise_cov is not positive definite on activation differences; "
                "pass a positive-definite covariance"
            ) from exc
        Bd = 2.0 * (W[1:] - W[0])
        Bw = np.linalg.solve(C, Bd)
        if not full:  # restrict to the spanned subspace for the minimum-norm answer
            Bw = Bw @ basis.T
        Q, R = np.linalg.qr(Bw)
        M = np.linalg.solve(R, Q.T) @ np.linalg.inv(C)  # (B^T S^-1 B)^-1 B^T S^-1
        if not full:
            M = basis.T @ M
        return M @ L

    def invert(self, A: Any, *, n_nearest: int | None = None) -> Any:
        """Points whose activations are A.

        Parameters
        ----------
        A : array-like of shape (n_samples, n_units) (or (n_units,) for one point)
            Squared distances to every prototype.
        n_nearest : int, optional
            Use only the n prototypes with the smallest activations of each sample (the paper's
            error-versus-n experiment). For n <= n_features the system is underdetermined and
            the minimum-norm answer is returned.

        Returns
        -------
        ndarray of shape (n_samples, n_features) (or (n_features,) for one point); with
        ``backend="torch"`` and a tensor A, a float64 tensor of that shape on `device`.
        """
        offset, Kt = self._ops
        # a tensor stays where it is (checked here); anything else is validated as numpy
        native = n_nearest is None and not is_numpy(offset) and is_array(A) and not is_numpy(A)
        if native:
            A = self._check_tensor(A)
            At = asarray_like(A, offset, dtype=namespace(offset).float64)
        else:
            single = np.ndim(A) == 1
            A = check_array(np.atleast_2d(A) if single else A, name="activations",
                            n_features=self.n_units, ensure_finite=n_nearest is not None)
            _check_not_negative(A)
            if n_nearest is not None:
                Z = self._invert_nearest(A, n_nearest)
                return Z[0] if single else Z
            At = asarray_like(A, offset)
        # Z = (||w||^2 - A) K^T, with the constant part precomputed: one matrix product.
        xp = namespace(At)
        Z = addmm(offset, xp.reshape(At, (-1, self.n_units)), Kt, alpha=-1.0)
        if not bool(xp.all(xp.isfinite(Z))):  # NaN/inf in A propagate; checking Z is cheaper
            _raise_not_finite(to_numpy(At))
        if native:
            return xp.reshape(Z, (*A.shape[:-1], self.n_features))
        Z = to_numpy(Z)
        return Z[0] if single else Z

    def _check_tensor(self, A: Any) -> Any:
        """A non-numpy activation array (a tensor) of shape (n_samples, n_units) or (n_units,)
        with a floating dtype, else `ValidationError`."""
        xp = namespace(A)
        if A.ndim not in (1, 2) or A.shape[-1] != self.n_units or not xp.isdtype(A.dtype, "real floating"):
            raise ValidationError(
                f"activations must be a floating tensor of shape (n_samples, {self.n_units}) "
                f"or ({self.n_units},), got {A.dtype} of shape {tuple(A.shape)}"
            )
        return A

    def _invert_nearest(self, A: np.ndarray, n: int) -> np.ndarray:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= self.n_units:
            raise ValidationError(f"n_nearest must be an integer in 1..{self.n_units}, got {n!r}")
        W, norms = self.prototypes - self._center, self._norms
        Z = np.empty((A.shape[0], self.n_features))
        idx = np.argsort(A, axis=1, kind="stable")[:, :n]
        for k in range(A.shape[0]):
            sel = idx[k]
            if n == 1:  # one activation says only the distance: best guess is the prototype
                Z[k] = self._center + W[sel[0]]
                continue
            Ws, a, nw = W[sel], A[k, sel], norms[sel]
            B = 2.0 * (Ws - Ws.mean(axis=0))
            c = (nw - nw.mean()) - (a - a.mean())
            y, _, rank, _ = np.linalg.lstsq(B, c, rcond=None)
            if rank < self.n_features:  # keep the minimum-norm answer in the original frame
                _, _, Vt = np.linalg.svd(B, full_matrices=False)
                Z[k] = _min_norm_anchor(self._center, Vt[:rank], False) + y
            else:
                Z[k] = self._center + y
        return Z

    def diagnostics(self) -> dict[str, float]:
        """rank, sigma_min, sigma_max and condition as a JSON-able dict."""
        return {
            "rank": self.rank,
            "n_features": self.n_features,
            "n_units": self.n_units,
            "sigma_min": self.sigma_min,
            "sigma_max": self.sigma_max,
            "condition": self.condition,
        }


def _raise_not_finite(A: np.ndarray) -> None:
    """The inversion gave NaN/inf: say whether A held them or the product overflowed."""
    check_finite(A, "activations")
    raise ValidationError("activations are too large: the inversion overflowed")


def _min_norm_anchor(center: np.ndarray, basis: np.ndarray, full: bool) -> np.ndarray:
    """Where the centred solution is anchored: the prototypes' mean `center` (n_features,)
    when the system has full rank; else its projection onto the spanned directions `basis`
    (rank, n_features), which makes ``anchor + y`` (y in that span) the minimum-norm solution."""
    return center if full else basis.T @ (basis @ center)


def _check_not_negative(A: np.ndarray) -> None:
    """Activations are squared distances: refuse clearly negative ones (rounding in a caller's
    own distance computation may leave -1e-15; anything below -1e-9 of the largest is not)."""
    if A.size == 0:
        return
    low = float(A.min())
    if low < 0.0 and low < -1e-9 * max(1.0, float(np.abs(A).max())):
        row, col = np.unravel_index(int(np.argmin(A)), A.shape)
        raise ValidationError(
            f"activations must be squared distances (>= 0), but row {row}, unit {col} holds "
            f"{low:.6g}. Pass ||z - w||^2, not distances minus an offset or log-probabilities."
        )


def invert(A: Any, W: Any, **kwargs: Any) -> np.ndarray:
    """One-shot inversion: ``Inverter(W, **kwargs).invert(A)``. For repeated use keep the
    `Inverter`; it factorises the prototypes once."""
    n_nearest = kwargs.pop("n_nearest", None)
    return Inverter(W, **kwargs).invert(A, n_nearest=n_nearest)
