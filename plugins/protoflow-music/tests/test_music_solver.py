"""Every solver route equals a dense solve of the MUSIC normal equations (spec §2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protoflow_music import MUSIC, solve_regularized
from protoflow_music.solver import CG_THRESHOLD, choose_route

from protoflow.errors import ConfigError
from protoflow.prototypes import PrototypeSet
from protoflow.topology import Lattice


def _dense(J: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    D = J.shape[-1]
    return np.stack([np.linalg.solve(j.T @ j + lam * np.eye(D), j.T @ v) for j, v in zip(J, y)])


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    r=st.integers(1, 30),
    d=st.integers(1, 30),
    lam=st.floats(1e-3, 1.0),
    route=st.sampled_from(["woodbury", "cholesky", "cg"]),
    seed=st.integers(0, 2**16),
)
def test_each_route_equals_dense_normal_equations(n, r, d, lam, route, seed):
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(n, r, d))
    y = rng.normal(size=(n, r))
    dz, used = solve_regularized(J, y, lam, route)
    assert used == route
    ref = _dense(J, y, lam)
    assert np.abs(dz - ref).max() <= 1e-10 * max(1.0, np.abs(ref).max())


def test_zero_padding_rows_change_nothing():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(1, 5, 8))
    y = rng.normal(size=(1, 5))
    padded = np.concatenate([J, np.zeros((1, 4, 8))], axis=1)
    ypad = np.concatenate([y, np.zeros((1, 4))], axis=1)
    for route in ("woodbury", "cholesky", "cg"):
        a, _ = solve_regularized(J, y, 0.1, route)
        b, _ = solve_regularized(padded, ypad, 0.1, route)
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_route_choice_follows_cost():
    assert choose_route(25, 4096) == "woodbury"
    assert choose_route(1023, 512) == "cholesky"
    assert choose_route(512, 512) == "cholesky"
    assert choose_route(CG_THRESHOLD + 1, CG_THRESHOLD + 1) == "cg"
    with pytest.raises(ConfigError, match="solver"):
        solve_regularized(np.zeros((1, 2, 2)), np.zeros((1, 2)), 1.0, "qr")


def _spec_step(W, z, t, gamma, lam, eta, preserved):
    """The normal equations exactly as spec §2 writes them, one point, unnormalised-then-normalised rows."""
    J = 2.0 * (z - W)
    Jhat = J / np.linalg.norm(J, axis=1, keepdims=True)
    A = Jhat[preserved]
    B = Jhat[[t]]
    b = np.array([-eta * np.linalg.norm(z - W[t]) / 2.0])
    M = (1 - gamma) * A.T @ A + gamma * B.T @ B + lam * np.eye(W.shape[1])
    return np.linalg.solve(M, gamma * B.T @ b)


@pytest.mark.parametrize(
    ("n_units", "d", "route"),
    [(12, 30, "woodbury"), (40, 6, "cholesky"), (40, 6, "cg"), (12, 30, "cg"), (12, 30, "auto")],
)
def test_controller_step_equals_spec_normal_equations(n_units, d, route):
    rng = np.random.default_rng(1)
    W = rng.normal(size=(n_units, d))
    model = PrototypeSet(W)
    z = rng.normal(size=d)
    t = 3
    ctrl = MUSIC(gamma=0.8, lam=0.05, eta=0.4, trust=1e6, trust_mode="absolute", solver=route,
                 preserve="all")
    z1 = ctrl.step(model, z, t)
    ref = _spec_step(W, z, t, 0.8, 0.05, 0.4, [j for j in range(n_units) if j != t])
    assert np.abs((z1 - z) - ref).max() <= 1e-10 * max(1.0, np.abs(ref).max())
    traj = ctrl.run(model, z, t, 1)
    expected = {"auto": "woodbury" if n_units - 1 < d else "cholesky"}.get(route, route)
    assert traj.info[0]["solver"] == expected


def test_ring_step_equals_spec_with_ring_set():
    rng = np.random.default_rng(2)
    topo = Lattice(5, 6)
    W = rng.normal(size=(30, 8))
    model = PrototypeSet(W, topo)
    z = rng.normal(size=8)
    t = 29
    ctrl = MUSIC(preserve="ring", radius=1, gamma=0.7, lam=0.01, trust=1e6, trust_mode="absolute")
    bmu = int(model.bmu(z[None])[0])
    ring = [j for j in topo.ring(bmu, 1, include_self=True) if j != t]
    ref = _spec_step(W, z, t, 0.7, 0.01, 0.5, ring)
    assert np.allclose(ctrl.step(model, z, t) - z, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("route", ["woodbury", "cholesky", "cg"])
def test_every_route_runs_on_a_strict_array_api_library(route):
    """The batched solve is one implementation: on array-api-strict (the array API standard
    and nothing else: no einsum, no methods beyond the standard) it gives numpy's answer."""
    import array_api_strict as xs

    rng = np.random.default_rng(3)
    J, y = rng.normal(size=(5, 7, 4)), rng.normal(size=(5, 7))
    expected, _ = solve_regularized(J, y, 0.1, route)
    got, taken = solve_regularized(xs.asarray(J), xs.asarray(y), 0.1, route)
    assert taken == route and type(got).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10, atol=1e-12)
