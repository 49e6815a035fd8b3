"""Manifold and arrival metrics (`protoflow.metrics.manifold`) against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import protoflow.metrics as metrics
from protoflow.errors import ConfigError, ValidationError
from protoflow.metrics import manifold as mm
from protoflow.protocols import Trajectory

_floats = st.floats(-10, 10, allow_nan=False, width=64)


def _brute_nearest(P, R):
    return np.array([min(np.sqrt(np.sum((p - r) ** 2)) for r in R) for p in P])


def _brute_oor(X, lo, hi, tol):
    band = tol * (hi - lo)
    return np.array([[np.mean([(v < lo - band) or (v > hi + band) for v in row]) for row in path]
                     for path in X])


def test_exported_from_protoflow_metrics():
    for name in mm.__all__:
        assert name in metrics.__all__ and getattr(metrics, name) is getattr(mm, name)


# -- out of range -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (2, 5, 3), elements=_floats), st.floats(0, 0.5))
def test_out_of_range_matches_brute_force(X, tol):
    out = mm.out_of_range_fraction(X, -2.0, 3.0, tol=tol)
    ref = _brute_oor(X, -2.0, 3.0, tol)
    np.testing.assert_allclose(out["per_point"], ref)
    np.testing.assert_allclose(out["per_path"], ref.mean(axis=1))
    assert out["overall"] == pytest.approx(ref.mean())
    single = mm.out_of_range_fraction(X[1], -2.0, 3.0, tol=tol)
    np.testing.assert_allclose(single["per_point"], ref[1])
    assert isinstance(single["per_path"], float) and single["per_path"] == pytest.approx(ref[1].mean())


def test_out_of_range_margin_and_excess():
    X = np.array([[0.0, 1.0, 1.04, -0.06], [0.5, 1.2, 0.5, 0.5]])
    out = mm.out_of_range_fraction(X, 0.0, 1.0)  # band [-0.05, 1.05]
    np.testing.assert_allclose(out["per_point"], [0.25, 0.25])
    assert out["overall"] == pytest.approx(0.25)
    assert out["max_excess"] == pytest.approx(0.2)
    per_feature = mm.out_of_range_fraction(X, [0, 0, 0, -1], [1, 2, 2, 1], tol=0.0)
    np.testing.assert_allclose(per_feature["per_point"], [0.0, 0.0])
    assert mm.out_of_range_fraction(np.full((3, 2), 0.5), 0.0, 1.0)["max_excess"] == 0.0


def test_out_of_range_misuse():
    with pytest.raises(ValidationError, match="high must be >= low"):
        mm.out_of_range_fraction(np.zeros((2, 2)), 1.0, 0.0)
    with pytest.raises(ValidationError, match="shape"):
        mm.out_of_range_fraction(np.zeros((2, 2)), [0, 0, 0], 1.0)
    with pytest.raises(ValidationError):
        mm.out_of_range_fraction(np.zeros(4), 0.0, 1.0)
    with pytest.raises(ValidationError):
        mm.out_of_range_fraction(np.array([[np.nan, 0.0]]), 0.0, 1.0)
    with pytest.raises(ConfigError):
        mm.out_of_range_fraction(np.zeros((2, 2)), 0.0, 1.0, tol=-1.0)


# -- nearest sample -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (7, 3), elements=_floats), arrays(np.float64, (9, 3), elements=_floats),
       st.integers(1, 8))
def test_nearest_sample_distance_matches_brute_force(P, R, block):
    d, idx = mm.nearest_sample_distance(P, R, block=block, return_index=True)
    np.testing.assert_allclose(d, _brute_nearest(P, R), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(P - R[idx], axis=1), d)


def test_nearest_sample_distance_batched_blocks_and_sklearn():
    rng = np.random.default_rng(0)
    P, R = rng.normal(size=(3, 11, 4)), rng.normal(size=(50, 4))
    d = mm.nearest_sample_distance(P, R)
    assert d.shape == (3, 11)
    np.testing.assert_allclose(d[1], _brute_nearest(P[1], R))
    np.testing.assert_allclose(mm.nearest_sample_distance(P, R, block=1), d)
    np.testing.assert_allclose(mm.nearest_sample_distance(P[2], R), d[2])
    assert mm.nearest_sample_distance(R[:5], R).max() < 1e-12  # real samples are at distance 0
    pytest.importorskip("sklearn")
    np.testing.assert_allclose(mm.nearest_sample_distance(P, R, method="sklearn"), d, atol=1e-10)


def test_nearest_sample_distance_misuse():
    with pytest.raises(ValidationError, match="X_reference"):
        mm.nearest_sample_distance(np.zeros((2, 3)), np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="method"):
        mm.nearest_sample_distance(np.zeros((2, 3)), np.zeros((4, 3)), method="kdtree")
    with pytest.raises(ConfigError, match="block"):
        mm.nearest_sample_distance(np.zeros((2, 3)), np.zeros((4, 3)), block=0)
    with pytest.raises(ValidationError, match="no paths"):
        mm.nearest_sample_distance(np.zeros((0, 2, 3)), np.zeros((4, 3)))


# -- latent consistency ------------------------------------------------------------------------------


class _Identity:
    def encode(self, X):
        return np.asarray(X)

    def decode(self, Z):
        return np.asarray(Z)


class _Lossy:
    """decode keeps the first coordinate only; encode is the identity: E(D(z)) - z = (0, -z1)."""

    def encode(self, X):
        return np.asarray(X)

    def decode(self, Z):
        Z = np.array(Z, dtype=float)
        Z[:, 1] = 0.0
        return Z


def test_latent_consistency_is_zero_for_exact_inverses_and_brute_force_otherwise():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(2, 6, 2))
    np.testing.assert_allclose(mm.latent_consistency(Z, _Identity()), 0.0)
    np.testing.assert_allclose(mm.latent_consistency(Z, _Lossy()), np.abs(Z[..., 1]))
    np.testing.assert_allclose(mm.latent_consistency(Z[0], _Lossy()), np.abs(Z[0, :, 1]))
    traj = Trajectory(points=Z[0], bmus=np.zeros(6, dtype=int))
    assert mm.latent_consistency(traj, _Lossy()).shape == (6,)


def test_latent_consistency_with_pca_at_full_dimension():
    sk = pytest.importorskip("sklearn.decomposition")
    X = np.random.default_rng(2).normal(size=(40, 3))
    pca = sk.PCA(3).fit(X)

    class Enc:
        encode, decode = pca.transform, pca.inverse_transform

    assert mm.latent_consistency(pca.transform(X[:5]), Enc()).max() < 1e-10


def test_latent_consistency_misuse():
    with pytest.raises(ValidationError, match="encode and decode"):
        mm.latent_consistency(np.zeros((2, 2)), object())

    class Bad(_Identity):
        def encode(self, X):
            return np.asarray(X)[:, :1]

    with pytest.raises(ValidationError, match="shape"):
        mm.latent_consistency(np.zeros((2, 2)), Bad())


# -- arrival ---------------------------------------------------------------------------------------------


def _brute_arrival(b, units):
    return next((k for k, u in enumerate(b) if u in set(units)), -1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=12), st.lists(st.integers(0, 5), min_size=1, max_size=3))
def test_arrival_matches_brute_force(bmus, units):
    assert mm.arrival_step(np.array(bmus), units) == _brute_arrival(bmus, units)
    assert mm.arrival_step(np.array(bmus), units[0]) == _brute_arrival(bmus, units[:1])


def test_arrival_unit_cluster_never_and_batched():
    b = np.array([[0, 1, 1, 4, 4], [0, 2, 3, 3, 7], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(mm.arrival_step(b, 4), [3, -1, -1])
    np.testing.assert_array_equal(mm.arrival_step(b, [3, 4]), [3, 2, -1])
    assert mm.arrival_step(b, 0).dtype == np.int64
    traj = Trajectory(points=np.zeros((5, 2)), bmus=b[1], target=[7, 9])
    assert mm.arrival_step(traj) == 4
    assert mm.arrival_step(traj, 2) == 1  # an explicit target wins
    assert mm.arrival_step(Trajectory(points=np.zeros((5, 2)), bmus=b[2], target=4)) == -1
    batch = Trajectory(points=np.zeros((3, 5, 2)), bmus=b, target=4)
    np.testing.assert_array_equal(mm.arrival_step(batch), [3, -1, -1])


def test_arrival_misuse():
    b = np.array([0, 1, 2])
    with pytest.raises(ValidationError, match="no target"):
        mm.arrival_step(b)
    with pytest.raises(ValidationError, match="unit"):
        mm.arrival_step(b, "a")
    with pytest.raises(ValidationError, match="unit"):
        mm.arrival_step(b, [])
    with pytest.raises(ValidationError, match=">= 0"):
        mm.arrival_step(b, -1)
    with pytest.raises(ValidationError, match="integers"):
        mm.arrival_step(np.array([0.5, 1.0]), 1)


# -- stalls --------------------------------------------------------------------------------------------------


def _brute_stalls(P, t, tol, relative):
    d = [float(np.sqrt(np.sum((p - t) ** 2))) for p in P]
    mask, run, longest = [], 0, 0
    for k in range(1, len(d)):
        thr = tol * d[k - 1] if relative else tol
        s = (d[k - 1] - d[k] <= thr) and d[k - 1] > 1e-12 * d[0]
        mask.append(s)
        run = run + 1 if s else 0
        longest = max(longest, run)
    return np.array(mask, dtype=bool), sum(mask), longest


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (9, 2), elements=_floats), arrays(np.float64, (2,), elements=_floats),
       st.floats(0, 0.5), st.booleans())
def test_stalls_match_brute_force(P, t, tol, relative):
    out = mm.stall_steps(P, t, tol=tol, relative=relative)
    mask, n, longest = _brute_stalls(P, t, tol, relative)
    np.testing.assert_array_equal(out["mask"], mask)
    assert out["n_stalled"] == n and out["longest"] == longest


def test_a_stall_is_detected_and_a_straight_line_or_geometric_approach_is_not():
    t = np.array([10.0, 0.0])
    line = np.outer(np.linspace(0, 10, 51), [1.0, 0.0])
    assert mm.stall_steps(line, t)["n_stalled"] == 0  # reaching the target: no stall after it
    geometric = t - np.outer(0.9 ** np.arange(40), [10.0, 0.0])
    assert mm.stall_steps(geometric, t)["n_stalled"] == 0
    # 3 steps toward, 4 standing still in a third place, 1 sideways around the target, then on
    stuck = np.array([[0, 0], [2, 0], [4, 0], [5, 0], [5, 0], [5, 0], [5, 0], [5, 0],
                      [5, 0.01], [8, 0], [10, 0]], dtype=float)
    out = mm.stall_steps(stuck, t)
    assert out["n_stalled"] == 5 and out["longest"] == 5
    np.testing.assert_array_equal(np.flatnonzero(out["mask"]), [3, 4, 5, 6, 7])
    assert out["distance"].shape == (11,)
    assert mm.stall_steps(stuck, t, tol=0.5, relative=False)["n_stalled"] == 5


def test_stalls_batched_and_per_path_targets():
    t = np.array([10.0, 0.0])
    line = np.outer(np.linspace(0, 10, 11), [1.0, 0.0])
    still = np.zeros((11, 2))
    batch = np.stack([line, still])
    out = mm.stall_steps(batch, t)
    np.testing.assert_array_equal(out["n_stalled"], [0, 10])
    np.testing.assert_array_equal(out["longest"], [0, 10])
    assert out["mask"].shape == (2, 10)
    per_path = mm.stall_steps(batch, np.array([[10.0, 0.0], [0.0, 0.0]]))  # 2nd sits at its target
    np.testing.assert_array_equal(per_path["n_stalled"], [0, 0])
    traj = Trajectory(points=batch, bmus=np.zeros((2, 11), dtype=int))
    np.testing.assert_array_equal(mm.stall_steps(traj, t)["n_stalled"], [0, 10])


def test_stalls_misuse():
    with pytest.raises(ValidationError, match="target_point"):
        mm.stall_steps(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValidationError, match="target_point"):
        mm.stall_steps(np.zeros((2, 4, 2)), np.zeros((3, 2)))
    with pytest.raises(ConfigError):
        mm.stall_steps(np.zeros((4, 2)), np.zeros(2), tol=-0.1)
    with pytest.raises(ConfigError):
        mm.stall_steps(np.zeros((4, 2)), np.zeros(2), relative=1)
