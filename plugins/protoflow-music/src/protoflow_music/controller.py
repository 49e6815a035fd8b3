"""The MUSIC controller (spec §2-§3): move a latent point by asking for changes of its
activations while preserving the others, one Tikhonov-regularised linear solve per pass."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from protoflow import inversion
from protoflow.backend import BACKENDS, as_tensor, resolve_device
from protoflow.base import ControllerBase
from protoflow.errors import ConfigError, ValidationError
from protoflow.params import Any_, Bool, Choice, Device, Float, Int, Schema, Seed
from protoflow.validation import check_float, check_int, check_seed
from protoflow.xp import asarray_like, namespace, to_numpy
from protoflow_music import sets
from protoflow_music.solver import ROUTES, solve_regularized

MODES = ("auto", "informed", "cluster", "cluster-random", "free")

#: bound on the elements of one (points x rows x dimensions) Jacobian block, to cap memory
_BLOCK_ELEMENTS = 4_000_000


def _check_subsample(name: str, sub: Any) -> Any:
    """None, an int >= 1 (units per pass) or a fraction in (0, 1)."""
    if isinstance(sub, bool) or not isinstance(sub, numbers.Real):
        raise ConfigError(f"parameter {name!r} must be None, an int or a float, got {sub!r}")
    if isinstance(sub, numbers.Integral):
        return check_int(name, sub, minimum=1)
    return check_float(name, sub, minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)


def _check_target_weights(name: str, tw: Any) -> Any:
    """None, "gaussian", or non-negative finite weights (1-D, not all zero) as an array."""
    if isinstance(tw, str) and tw == "gaussian":
        return tw
    try:
        arr = np.asarray(tw, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.full(2, np.nan)
    if arr.ndim != 1 or not np.isfinite(arr).all() or (arr < 0).any() or arr.sum() <= 0:
        raise ConfigError(
            f"parameter {name!r} must be None, 'gaussian' or non-negative "
            f"finite weights (one per target unit), got {tw!r}"
        )
    return arr


def _mode_for(target: Any) -> str:
    """The mode ``mode="auto"`` picks: free for None, informed for one unit, else cluster."""
    if target is None:
        return "free"
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return "informed"
    return "cluster"


class MUSIC(ControllerBase):
    """Manifold-Aware Unified SOM Inversion and Control.

    Each pass linearises the activations at z, stacks the (row-normalised) Jacobian rows
    ``2 (z - w_j)`` of the targets T and of the preserved units S, and minimises

        (1 - gamma) ||A_S dz||^2 + gamma ||Omega_T^1/2 (B_T dz - b)||^2 + lam ||dz||^2

    with ``b_t = -eta ||z - w_t|| / 2`` (a fractional reduction ``-eta a_t`` of each target's
    activation). The step is clipped to the trust radius and the Jacobians are rebuilt
    (`passes` times per step). Free mode instead moves along the least disruptive direction of
    ``A_S^T A_S``. Only ``prototypes_``, ``topology_`` and squared distances are used.

    Parameters
    ----------
    mode : {"auto", "informed", "cluster", "cluster-random", "free"}, default "auto"
        auto: chosen from the target at each run: informed for one unit index, cluster for a
        list of units, free for None. informed: target is one unit. cluster: target is a list of units, all attracted at once
        (optionally sub-sampled each pass). cluster-random: each step draws one unit of the
        list (with probability proportional to `target_weights`) and takes an informed step.
        free: no target (``target=None``); a random walk that changes preserved activations
        least.
    gamma : float in [0, 1], default 0.9
        Balance of attraction against preservation. Paper's range: 0.7 to 0.95 (results are
        robust to it).
    lam : float > 0, default 1.0
        Tikhonov strength; damps ill-conditioned directions (the filter ``s^2 / (s^2 + lam)`` on
        the singular values s of the normalised rows, which are at most 1 per row). The paper's
        range, 1e-3 to 1e-1, zig-zags (1e-2) or leaves the data (preserve="all") on real maps;
        1.0 with the ring of radius 2 stays on the data, arrives and keeps the paper's
        confidence gain (docs/results-music-sweep.md). Too large: the step tends to the straight
        line toward the target.
    eta : float in (0, 1], default 0.5
        Target gain: the fraction of each target activation to remove per step. In informed mode
        it only scales the step, which the trust region clips, so the direction ignores it.
    trust : float > 0, default 0.05
        Trust radius: with ``trust_mode="relative"`` a multiple of the distance from z to its
        BMU prototype (paper: 0.02 to 0.1); with "absolute" a length in latent units. The
        whole step (all passes, noise included) stays within it.
    trust_mode : {"relative", "absolute"}, default "relative"
    passes : int >= 1, default 1
        Relinearisations per step (paper: 1 to 3 suffice).
    preserve : {"auto", "all", "ring", "knn"}, default "auto"
        S = all non-targets; the units within map distance `radius` of the current BMU (its
        own unit included; lattice rings, graph hops); or the `k` nearest non-target
        prototypes in latent space. "auto": "ring" on a model with a topology, "knn" on one
        without (k-means). "ring" on a model without topology falls back to "knn" and warns
        once per controller. The paper preserved all non-targets; on MNIST that drives the
        point into directions the prototypes barely span (27% of decoded pixels out of range,
        2.3x linear's distance to the nearest real image) and holds it in third classes;
        preserving the local ring does not (docs/results-music-sweep.md).
    radius : int >= 0, default 2
        Ring radius on the map for ``preserve="ring"``.
    k : int >= 1, default 8
        Number of nearest prototypes for ``preserve="knn"`` (the paper's free-evolution
        experiment preserved 4).
    row_normalize : bool, default True
        Divide each Jacobian row by its norm (spec S6) so gamma balances terms honestly.
    target_weights : None, "gaussian" or array-like of shape (n_targets,), default None
        Cluster modes: diagonal weights Omega_T in the order of the target list; "gaussian"
        weights each target by ``exp(-||z - w_t||^2 / (2 s^2))``, s the median target distance,
        to emphasise nearby targets. cluster-random draws its target with probabilities
        proportional to given weights (uniformly for "gaussian").
    subsample : None, int >= 1 or float in (0, 1), default None
        Cluster mode: each pass attract only a random part of the cluster: that many units
        (int) or each unit with that keep probability (float; at least one is kept).
    step_noise : float >= 0, default 0
        Std of Gaussian noise added to dz before clipping (latent units; paper S8).
    target_noise : float >= 0, default 0
        Std of Gaussian noise added to the desired target changes b.
    jitter : float >= 0, default 0
        Frobenius norm of a random perturbation of the (normalised) Jacobian rows.
    solver : {"auto", "woodbury", "cholesky", "cg"}, default "auto"
        Linear solver; "auto" takes the cheapest exact route (see `solver.choose_route`).
    seed : int, Generator or None
        Drives every random choice (free-mode directions, sub-sampling, noise).
    backend : {"numpy", "torch"}, default "numpy"
        Array library of the heavy part of a step: building the (points x rows x D) Jacobian
        stacks, the batched solve and the energy terms. Masks, activations and random draws
        stay in numpy (the same seed gives the same draws on both backends), and points are
        returned as numpy arrays. Free mode's eigendecomposition always runs in numpy.
    device : {"cpu", "cuda", "cuda:N", "auto"} or None, default None ("cpu")
        torch device; CUDA where it is unavailable is a ConfigError.

    Each step's info holds ``step_length``, ``solver``, ``trust_radius``, ``clipped``,
    ``n_rows`` and the energy terms ``energy_preserve``, ``energy_target``, ``energy_reg``,
    ``energy`` of the unclipped minimiser, summed over passes (per point for a batch).
    """

    name = "music"
    supported_targets = ("unit", "cluster", "none")
    parameters = Schema(
        mode=Choice(*MODES),
        gamma=Float(0.0, 1.0),
        lam=Float(0.0, strict_min=True),
        eta=Float(0.0, 1.0, strict_min=True),
        trust=Float(0.0, strict_min=True),
        trust_mode=Choice("relative", "absolute"),
        passes=Int(1),
        preserve=Choice("auto", "all", "ring", "knn"),
        radius=Int(0),
        k=Int(1),
        row_normalize=Bool(),
        target_weights=Any_(_check_target_weights),
        subsample=Any_(_check_subsample),
        step_noise=Float(0.0),
        target_noise=Float(0.0),
        jitter=Float(0.0),
        solver=Choice("auto", *ROUTES),
        seed=Seed(),
        backend=Choice(*BACKENDS),
        device=Device(),
    )

    def __init__(
        self,
        mode: str = "auto",
        gamma: float = 0.9,
        lam: float = 1.0,
        eta: float = 0.5,
        trust: float = 0.05,
        trust_mode: str = "relative",
        passes: int = 1,
        preserve: str = "auto",
        radius: int = 2,
        k: int = 8,
        row_normalize: bool = True,
        target_weights: Any = None,
        subsample: Any = None,
        step_noise: float = 0.0,
        target_noise: float = 0.0,
        jitter: float = 0.0,
        solver: str = "auto",
        seed: Any = None,
        backend: str = "numpy",
        device: str | None = None,
    ) -> None:
        self.mode = mode
        self.gamma = gamma
        self.lam = lam
        self.eta = eta
        self.trust = trust
        self.trust_mode = trust_mode
        self.passes = passes
        self.preserve = preserve
        self.radius = radius
        self.k = k
        self.row_normalize = row_normalize
        self.target_weights = target_weights
        self.subsample = subsample
        self.step_noise = step_noise
        self.target_noise = target_noise
        self.jitter = jitter
        self.solver = solver
        self.seed = seed
        self.backend = backend
        self.device = device

    # -- validation -------------------------------------------------------------------------

    def _validated(self) -> dict[str, Any]:
        """The parameters checked against `parameters` (the one declaration ``config
        validate`` uses too), with ``device`` resolved to a torch device (None: numpy)."""
        p = self.validated_params()
        p["device"] = resolve_device(p["backend"], p["device"])
        return p

    def _start(self, model: Any, z0: np.ndarray, target: Any) -> dict[str, Any]:
        p = self._validated()
        if p["mode"] == "auto":
            p["mode"] = _mode_for(target)
        W = np.asarray(model.prototypes_, dtype=np.float64)
        units = sets.parse_target(target, W.shape[0], p["mode"])
        tw = p["target_weights"]
        if isinstance(tw, np.ndarray) and units is not None and len(tw) != len(units):
            raise ConfigError(
                f"parameter 'target_weights' has {len(tw)} weights for {len(units)} target units"
            )
        # the prototypes go to the device once per run, not once per step
        W_dev = W if p["device"] is None else as_tensor(W, p["device"])
        return {"p": p, "W": W, "W_dev": W_dev, "units": units, "rng": check_seed(self.seed), "rings": {}}

    # -- one step ---------------------------------------------------------------------------

    def _step_with_info(
        self, model: Any, z: np.ndarray, target: Any, state: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        single = z.ndim == 1
        Z = np.atleast_2d(z).astype(np.float64)
        p, W, rng = state["p"], state["W"], state["rng"]
        n, n_units = Z.shape[0], W.shape[0]

        act0 = inversion.activations(Z, W)
        rho = _trust_radius(act0, p)
        cluster = state["units"]
        fixed_t = None
        if p["mode"] == "cluster-random":
            probs = _draw_probabilities(p["target_weights"], len(cluster))
            fixed_t = cluster[rng.choice(len(cluster), size=n, p=probs)]

        start = Z.copy()
        totals = {k: np.zeros(n) for k in ("energy_preserve", "energy_target", "energy_reg")}
        routes: list[str] = []
        n_rows = 0
        for _ in range(p["passes"]):
            act = act0 if not routes else inversion.activations(Z, W)
            if p["mode"] == "free":
                excluded = np.zeros((n, n_units), dtype=bool)
            elif fixed_t is not None:
                excluded = sets.one_hot(fixed_t, n_units)
            elif p["mode"] == "informed":
                excluded = sets.one_hot(np.repeat(cluster, n), n_units)
            else:
                excluded = np.zeros((n, n_units), dtype=bool)
                excluded[:, cluster] = True
            S = sets.preserve_mask(self, model.topology_, act, excluded, p, state["rings"])
            if p["mode"] == "cluster":
                T = sets.subsample_mask(cluster, n, n_units, p["subsample"], rng)
            else:
                T = excluded
            if p["mode"] == "free":
                dz, route, terms = self._free_direction(Z, W, S, rho, p, rng)
            else:
                dz, route, terms = self._solve(Z, W, S, T, p, rng, cluster, state["W_dev"])
            n_rows = max(n_rows, int((S | T).sum(axis=1).max()))
            routes.append(route)
            for key, value in terms.items():
                totals[key] += value
            if p["step_noise"] > 0:
                dz = dz + _clip(rng.normal(scale=p["step_noise"], size=dz.shape), rho)
            # the trust region is the ball of radius rho around the step's starting point
            Z = start + _clip(Z + _clip(dz, rho) - start, rho)

        lengths = np.linalg.norm(Z - start, axis=1)
        info: dict[str, Any] = {
            "step_length": lengths,
            "solver": "+".join(dict.fromkeys(routes)),
            "trust_radius": rho,
            "clipped": lengths >= rho * (1 - 1e-12),
            "n_rows": n_rows,
            **totals,
            "energy": totals["energy_preserve"] + totals["energy_target"] + totals["energy_reg"],
        }
        if fixed_t is not None:
            info["targets"] = fixed_t
        if single:
            info = {k: (v[0].item() if isinstance(v, np.ndarray) else v) for k, v in info.items()}
            return Z[0], info
        return Z, info

    def _rows(
        self, Z: Any, W: Any, idx: Any, valid: Any, p: dict, rng: np.random.Generator
    ) -> tuple[Any, Any]:
        """Jacobian rows (n, r, D) of units `idx` (n, r) and the distances ||z - w|| (n, r).

        Z (n, D), W (n_units, D), idx and valid (n, r) are all numpy arrays or all torch
        tensors on one device; the results are of the same kind.
        """
        xp = namespace(Z)
        diff = Z[:, None, :] - W[idx]
        dist = xp.sqrt((diff * diff).sum(axis=2))
        rows = 2.0 * diff
        if p["row_normalize"]:
            scale = xp.where(dist > 0, 2.0 * dist, 1.0)  # a row at its own prototype is zero
            rows /= scale[..., None]
        rows *= valid[..., None]
        if p["jitter"] > 0:
            E = asarray_like(rng.normal(size=tuple(rows.shape)), rows) * valid[..., None]
            norm = xp.sqrt((E**2).sum(axis=(1, 2)))
            rows += p["jitter"] * E / xp.where(norm > 0, norm, 1.0)[:, None, None]
        return rows, dist

    def _solve(
        self,
        Z: np.ndarray,
        W: np.ndarray,
        S: np.ndarray,
        T: np.ndarray,
        p: dict,
        rng: np.random.Generator,
        cluster: np.ndarray,
        W_dev: Any = None,
    ) -> tuple[np.ndarray, str, dict[str, np.ndarray]]:
        """Minimise the MUSIC energy for every point: stack weighted rows, solve, report terms.

        W_dev : the prototypes where the rows are built and solved (numpy W, or a tensor on
        p["device"]); the results come back as numpy arrays either way.
        """
        n, D = Z.shape
        keep = S | T
        r = int(keep.sum(axis=1).max())
        # selected units first, padding (all-zero rows, exact) after
        idx = np.argsort(~keep, axis=1, kind="stable")[:, :r]
        valid = np.take_along_axis(keep, idx, axis=1)
        is_t = np.take_along_axis(T, idx, axis=1) & valid
        omega = self._target_omega(Z, W, idx, is_t, p, cluster)
        weight = np.where(is_t, np.sqrt(p["gamma"] * omega), np.sqrt(1.0 - p["gamma"])) * valid
        dz = np.empty_like(Z)
        terms = {k: np.empty(n) for k in ("energy_preserve", "energy_target", "energy_reg")}
        route = ""
        Wx = W if W_dev is None else W_dev
        xp = namespace(Wx)
        Zx, idx, valid, is_t, weight = (asarray_like(a, Wx) for a in (Z, idx, valid, is_t, weight))
        block = max(1, _BLOCK_ELEMENTS // max(1, r * D))
        for lo in range(0, n, block):
            sl = slice(lo, lo + block)
            rows, dist = self._rows(Zx[sl], Wx, idx[sl], valid[sl], p, rng)
            b = -p["eta"] * (dist / 2.0 if p["row_normalize"] else dist**2)
            if p["target_noise"] > 0:
                b = b + asarray_like(rng.normal(scale=p["target_noise"], size=tuple(b.shape)), b)
            J = rows * weight[sl, :, None]
            y = xp.where(is_t[sl], weight[sl] * b, 0.0)
            dz_b, route = solve_regularized(J, y, p["lam"], p["solver"])
            sq = (xp.einsum("nrd,nd->nr", J, dz_b) - y) ** 2
            dz[sl] = to_numpy(dz_b)
            terms["energy_preserve"][sl] = to_numpy(xp.where(is_t[sl], 0.0, sq).sum(axis=1))
            terms["energy_target"][sl] = to_numpy(xp.where(is_t[sl], sq, 0.0).sum(axis=1))
            terms["energy_reg"][sl] = p["lam"] * (dz[sl] ** 2).sum(axis=1)
        return dz, route, terms

    @staticmethod
    def _target_omega(
        Z: np.ndarray, W: np.ndarray, idx: np.ndarray, is_t: np.ndarray, p: dict, cluster: np.ndarray
    ) -> np.ndarray:
        """Omega_T per stacked row (ones where not a target)."""
        tw = p["target_weights"]
        if tw is None or p["mode"] != "cluster":
            return np.ones(idx.shape)
        if isinstance(tw, np.ndarray):
            per_unit = np.zeros(W.shape[0])
            per_unit[cluster] = tw / tw.max()
            return np.where(is_t, per_unit[idx], 1.0)
        d2 = ((Z[:, None, :] - W[idx]) ** 2).sum(axis=2)
        s2 = np.array([np.median(row[m]) if m.any() else 1.0 for row, m in zip(d2, is_t)])
        s2 = np.where(s2 > 0, s2, 1.0)
        return np.where(is_t, np.exp(-d2 / (2.0 * s2[:, None])), 1.0)

    def _free_direction(
        self, Z: np.ndarray, W: np.ndarray, S: np.ndarray, rho: np.ndarray, p: dict, rng: np.random.Generator
    ) -> tuple[np.ndarray, str, dict[str, np.ndarray]]:
        """Free mode: dz = rho * u, u a random unit vector in the least-disruptive eigenspace of
        M = A_S^T A_S (its null space when |S| < D, else the smallest eigenvector, random sign)."""
        n, D = Z.shape
        r = int(S.sum(axis=1).max())
        idx = np.argsort(~S, axis=1, kind="stable")[:, :r]
        valid = np.take_along_axis(S, idx, axis=1)
        A, _ = self._rows(Z, W, idx, valid, p, rng)
        M = A.transpose(0, 2, 1) @ A
        evals, V = np.linalg.eigh(M)
        tol = 1e-10 * np.maximum(evals[:, -1:], 1e-300)
        low = evals <= tol
        low[:, 0] = True
        coef = rng.normal(size=(n, D)) * low
        u = np.einsum("nij,nj->ni", V, coef)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        dz = rho[:, None] * u
        terms = {
            "energy_preserve": np.einsum("ni,nij,nj->n", dz, M, dz),
            "energy_target": np.zeros(n),
            "energy_reg": p["lam"] * (dz**2).sum(axis=1),
        }
        return dz, "eigh", terms


def _trust_radius(act: np.ndarray, p: dict) -> np.ndarray:
    """rho per point: `trust` x distance to the BMU (relative) or `trust` (absolute). A point
    sitting exactly on its BMU uses the distance to the second nearest prototype instead."""
    n = act.shape[0]
    if p["trust_mode"] == "absolute":
        return np.full(n, p["trust"])
    d = np.sqrt(np.maximum(act, 0.0))
    if d.shape[1] == 1:
        nearest = d[:, 0]
    else:
        two = np.partition(d, 1, axis=1)[:, :2]
        nearest = np.where(two[:, 0] > 0, two[:, 0], two[:, 1])
    if not (nearest > 0).all():
        raise ValidationError("the trust radius is zero: every prototype coincides with the point")
    return p["trust"] * nearest


def _draw_probabilities(weights: Any, m: int) -> np.ndarray | None:
    if not isinstance(weights, np.ndarray):
        return None
    return weights / weights.sum()


def _clip(v: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Rescale each row of v (n, D) to length at most rho (n,)."""
    norm = np.linalg.norm(v, axis=1)
    factor = np.where(norm > rho, rho / np.where(norm > 0, norm, 1.0), 1.0)
    return v * factor[:, None]
