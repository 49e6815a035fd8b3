"""Behaviour and mathematics of the MUSIC step (spec §2-§3, issue 4's correctness list)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protoflow_music import MUSIC

from protoflow.errors import ConfigError, ValidationError
from protoflow.prototypes import PrototypeSet
from protoflow.testing import parametrize_with_checks
from protoflow.topology import Graph, Lattice, NoTopology


def _model(n_units=30, d=6, seed=0, topology=None):
    W = np.random.default_rng(seed).normal(size=(n_units, d))
    return PrototypeSet(W, topology)


CONFORMANCE_CASES = [
    ({}, (7,)),
    ({"mode": "cluster", "subsample": 0.5, "target_weights": "gaussian"}, ([3, 7, 8], 7)),
    ({"mode": "cluster-random", "step_noise": 0.01, "target_noise": 0.01, "jitter": 0.01}, ([3, 7, 8],)),
    ({"mode": "free", "preserve": "knn", "k": 2}, (None,)),
    ({"preserve": "ring", "passes": 2}, (7,)),
]


@parametrize_with_checks(
    [(functools.partial(MUSIC, **params), {"targets": targets}) for params, targets in CONFORMANCE_CASES]
)
def test_conformance(component, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ring on NoTopology falls back, by design
        check(component)


@pytest.mark.parametrize("preserve", ["all", "ring", "knn"])
def test_informed_direction_does_not_depend_on_eta(preserve):
    model = _model(topology=Lattice(5, 6))
    z = np.random.default_rng(1).normal(size=6)
    steps = [MUSIC(eta=eta, preserve=preserve, k=4).step(model, z, 11) - z for eta in (0.05, 0.3, 1.0)]
    units = [s / np.linalg.norm(s) for s in steps]
    for u in units[1:]:
        assert np.allclose(u, units[0], atol=1e-10)


def test_large_lam_gives_vanishing_step():
    model = _model()
    z = np.random.default_rng(2).normal(size=6)
    lengths = [
        np.linalg.norm(MUSIC(lam=lam, trust=1e6, trust_mode="absolute").step(model, z, 4) - z)
        for lam in (1e0, 1e3, 1e6, 1e9)
    ]
    assert (np.diff(lengths) < 0).all()
    assert lengths[-1] < 1e-8 * lengths[0]


def test_gamma_one_single_target_moves_radially():
    model = _model(d=9)
    z = np.random.default_rng(3).normal(size=9)
    t = 5
    dz = MUSIC(gamma=1.0, lam=1e-9, trust=0.1).step(model, z, t) - z
    radial = model.prototypes_[t] - z
    cos = dz @ radial / (np.linalg.norm(dz) * np.linalg.norm(radial))
    assert cos == pytest.approx(1.0, abs=1e-12)


def test_gamma_zero_does_not_move():
    model = _model()
    z = np.ones(6)
    assert np.allclose(MUSIC(gamma=0.0).step(model, z, 3), z)


def test_informed_converges_to_target():
    model = _model(topology=Lattice(5, 6))
    z = np.random.default_rng(4).normal(size=6) * 3
    traj = MUSIC(gamma=0.95, trust=0.3, eta=1.0).run(model, z, 12, 400)
    start = np.linalg.norm(z - model.prototypes_[12])
    assert np.linalg.norm(traj.points[-1] - model.prototypes_[12]) < 0.05 * start
    assert traj.bmus[-1] == 12


def _activation_change(model, z, dz, units):
    W = model.prototypes_[units]
    return np.abs(((z + dz - W) ** 2).sum(1) - ((z - W) ** 2).sum(1))


def test_free_mode_changes_preserved_activations_only_at_second_order():
    model = _model(n_units=40, d=12, seed=5)
    rng = np.random.default_rng(6)
    z = rng.normal(size=12)
    for trust in (1e-1, 1e-2, 1e-3):
        dz = MUSIC(mode="free", preserve="knn", k=5, trust=trust, seed=0).step(model, z, None) - z
        h = np.linalg.norm(dz)
        near = np.argsort(((z - model.prototypes_) ** 2).sum(1))[:5]
        free = _activation_change(model, z, dz, near)
        rand = rng.normal(size=12)
        rand *= h / np.linalg.norm(rand)
        other = _activation_change(model, z, rand, near)
        # |S| < D: the step lies in the null space of A_S, so each change is exactly ||dz||^2
        assert np.allclose(free, h**2, rtol=1e-6)
        assert free.max() < 0.1 * other.max()


def test_free_mode_with_more_rows_than_dimensions_is_least_disruptive():
    model = _model(n_units=30, d=4, seed=7)
    z = np.random.default_rng(8).normal(size=4)
    dz = MUSIC(mode="free", preserve="all", trust=1e-4, seed=1).step(model, z, None) - z
    J = 2 * (z - model.prototypes_)
    J /= np.linalg.norm(J, axis=1, keepdims=True)
    u = dz / np.linalg.norm(dz)
    energy = np.sum((J @ u) ** 2)
    rand = np.random.default_rng(9).normal(size=(200, 4))
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    assert energy <= np.min(np.sum((rand @ J.T) ** 2, axis=1)) + 1e-12


@settings(max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(["informed", "cluster", "cluster-random", "free"]),
    trust=st.floats(1e-3, 2.0),
    trust_mode=st.sampled_from(["relative", "absolute"]),
    passes=st.integers(1, 3),
    noise=st.floats(0.0, 5.0),
    seed=st.integers(0, 1000),
)
def test_trust_radius_is_never_exceeded(mode, trust, trust_mode, passes, noise, seed):
    model = _model(topology=Lattice(5, 6))
    Z0 = np.random.default_rng(seed).normal(size=(4, 6)) * 2
    target = {"informed": 3, "free": None}.get(mode, [3, 4, 9])
    ctrl = MUSIC(mode=mode, trust=trust, trust_mode=trust_mode, passes=passes, eta=1.0, gamma=1.0,
                 step_noise=noise, target_noise=noise, jitter=noise / 10, seed=seed)
    traj = ctrl.run(model, Z0, target, 6)
    for k, info in enumerate(traj.info):
        z = traj.points[:, k]
        d_bmu = np.sqrt(((z[:, None] - model.prototypes_) ** 2).sum(-1).min(1))
        rho = trust * d_bmu if trust_mode == "relative" else np.full(4, trust)
        assert np.allclose(info["trust_radius"], rho)
        lengths = np.linalg.norm(traj.points[:, k + 1] - z, axis=1)
        assert (lengths <= rho * (1 + 1e-9)).all()
        assert np.allclose(info["step_length"], lengths)


def test_same_seed_same_trajectory_with_noise():
    model = _model(topology=Lattice(5, 6))
    Z0 = np.random.default_rng(0).normal(size=(3, 6))

    def make(seed):
        return MUSIC(mode="cluster", subsample=0.5, step_noise=0.05, target_noise=0.05, jitter=0.05, seed=seed)

    a = make(7).run(model, Z0, [1, 2, 7], 10)
    b = make(7).run(model, Z0, [1, 2, 7], 10)
    c = make(8).run(model, Z0, [1, 2, 7], 10)
    assert a == b
    assert not np.allclose(a.points, c.points)


def test_batch_matches_single_runs():
    model = _model(topology=Graph(30, [(i, (i + 1) % 30) for i in range(30)]))
    Z0 = np.random.default_rng(1).normal(size=(4, 6))
    for preserve in ("all", "ring", "knn"):
        ctrl = MUSIC(preserve=preserve, radius=3, k=5, passes=2)
        batch = ctrl.run(model, Z0, 10, 8)
        for i, z0 in enumerate(Z0):
            one = ctrl.run(model, z0, 10, 8)
            assert np.allclose(batch.points[i], one.points, rtol=1e-10, atol=1e-12)
            assert np.array_equal(batch.bmus[i], one.bmus)


def test_info_records_solver_energy_and_lengths():
    model = _model(n_units=12, d=30)
    traj = MUSIC(preserve="all").run(model, np.zeros(30), 2, 3)
    info = traj.info[0]
    assert info["solver"] == "woodbury" and info["n_rows"] == 12
    assert np.isclose(info["energy"], info["energy_preserve"] + info["energy_target"] + info["energy_reg"])
    assert info["energy_target"] > 0 and info["energy_reg"] > 0
    assert np.isclose(info["step_length"], np.linalg.norm(traj.points[1] - traj.points[0]))
    assert MUSIC(preserve="all").run(_model(40, 6), np.zeros(6), 2, 1).info[0]["solver"] == "cholesky"


def test_ring_on_no_topology_falls_back_to_knn_and_warns_once():
    model = _model(topology=NoTopology(30))
    ctrl = MUSIC(preserve="ring", k=4)
    with pytest.warns(UserWarning, match="knn|nearest") as record:
        a = ctrl.run(model, np.ones(6), 3, 5)
        ctrl.run(model, np.ones(6), 3, 5)
    assert len([w for w in record if "topology" in str(w.message)]) == 1
    b = MUSIC(preserve="knn", k=4).run(model, np.ones(6), 3, 5)
    assert np.allclose(a.points, b.points)


@pytest.mark.parametrize("topology, same_as", [
    (Lattice(5, 6), {"preserve": "ring"}),
    (NoTopology(30), {"preserve": "knn"}),
])
def test_auto_preserves_the_ring_on_a_map_and_the_nearest_prototypes_without_one(topology, same_as):
    model = _model(topology=topology, seed=4)
    z = np.random.default_rng(1).normal(size=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: auto chose knn on purpose
        auto = MUSIC(preserve="auto", radius=2, k=5).run(model, z, 3, 6)
    ref = MUSIC(radius=2, k=5, **same_as).run(model, z, 3, 6)
    assert np.allclose(auto.points, ref.points)
    other = MUSIC(preserve="all").run(model, z, 3, 6)
    assert not np.allclose(auto.points, other.points)


def test_cluster_mode_moves_into_the_cluster():
    model = _model(topology=Lattice(5, 6), seed=3)
    cluster = [0, 1, 6, 7]
    z = model.prototypes_[29] + 0.1
    traj = MUSIC(mode="cluster", trust=0.2, gamma=0.95).run(model, z, cluster, 300)
    centre = model.prototypes_[cluster].mean(0)
    assert np.linalg.norm(traj.points[-1] - centre) < 0.5 * np.linalg.norm(z - centre)


def test_cluster_random_draws_from_the_cluster():
    model = _model()
    traj = MUSIC(mode="cluster-random", seed=0, target_weights=[0.0, 1.0, 1.0]).run(
        model, np.zeros((5, 6)), [2, 9, 11], 6
    )
    drawn = np.concatenate([info["targets"] for info in traj.info])
    assert set(drawn) <= {9, 11} and len(set(drawn)) == 2


@pytest.mark.parametrize(
    ("param", "value"),
    [("mode", "wander"), ("gamma", 1.5), ("lam", 0.0), ("eta", 0.0), ("trust", -1.0),
     ("trust_mode", "both"), ("passes", 0), ("preserve", "some"), ("radius", -1), ("k", 0),
     ("row_normalize", "yes"), ("subsample", 0), ("subsample", 1.5), ("target_weights", [-1.0]),
     ("step_noise", -0.1), ("jitter", float("nan")), ("solver", "lu"), ("seed", -3)],
)
def test_bad_parameters_name_themselves(param, value):
    cluster = param in ("subsample", "target_weights")
    params = {"mode": "cluster" if cluster else "informed", param: value}
    with pytest.raises(ConfigError, match=param):
        MUSIC(**params).run(_model(), np.zeros(6), [1] if cluster else 1, 2)


@pytest.mark.parametrize(
    ("mode", "target"), [("informed", [1, 2]), ("informed", None), ("free", 3), ("cluster", []),
                         ("cluster", [1, 1]), ("informed", 99), ("cluster", [0.5])],
)
def test_bad_targets_raise(mode, target):
    with pytest.raises(ValidationError):
        MUSIC(mode=mode).run(_model(), np.zeros(6), target, 2)


def test_unnormalised_rows_follow_the_same_equations():
    model = _model(n_units=10, d=20)
    z = np.random.default_rng(5).normal(size=20)
    W = model.prototypes_
    J = 2 * (z - W)
    A, B = np.delete(J, 4, axis=0), J[[4]]
    b = np.array([-0.5 * ((z - W[4]) ** 2).sum()])
    M = 0.1 * A.T @ A + 0.9 * B.T @ B + 0.01 * np.eye(20)
    ref = np.linalg.solve(M, 0.9 * B.T @ b)
    dz = MUSIC(row_normalize=False, preserve="all", lam=0.01, trust=1e6, trust_mode="absolute").step(model, z, 4) - z
    assert np.allclose(dz, ref, rtol=1e-10, atol=1e-12)
