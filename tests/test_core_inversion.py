"""Exact inversion: random spanning sets, rigid-motion invariance, the rank-deficient error,
weighted least squares, and the subset (n nearest) experiment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import special_ortho_group

from protoflow import Inverter, NotInvertibleError, ValidationError, activations, bmu, invert


def _brute(Z: np.ndarray, W: np.ndarray) -> np.ndarray:
    return ((Z[:, None, :] - W[None, :, :]) ** 2).sum(-1)


def test_target_400_prototypes_in_50_dimensions() -> None:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(400, 50))
    Z = rng.normal(size=(500, 50))
    Zh = Inverter(W).invert(_brute(Z, W))
    rel = np.abs(Zh - Z).max() / np.abs(Z).max()
    assert rel <= 1e-10


@settings(max_examples=40, deadline=None)
@given(
    dim=st.integers(1, 12),
    extra=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-2, 1e3),
    shift=st.floats(-1e3, 1e3),
)
def test_exact_inversion_on_random_spanning_sets(dim, extra, seed, scale, shift) -> None:
    rng = np.random.default_rng(seed)
    W = shift + scale * rng.normal(size=(dim + extra, dim))
    Z = shift + scale * rng.normal(size=(7, dim))
    inv = Inverter(W)
    assert inv.rank == dim
    Zh = inv.invert(_brute(Z, W))
    # Rounding in the activations is amplified at most by the condition number (Corollary 1),
    # summed over n_units terms. An activation ||z - w||^2 carries an absolute rounding error of
    # about eps * (M^2 + M |shift|), M the points' spread around the prototypes' mean (the
    # subtraction z - w rounds at the magnitude |shift|); dividing by the prototypes' spread
    # (`scale`) converts it to latent units. Over 20,000 random cases the error reaches 35x
    # eps * n_units * cond * (M^2 + M |shift|) / scale; the constant 100 leaves a 3x margin.
    # (The former bound, 16 eps n cond (scale + |shift|), failed for two prototypes in 1-D.)
    eps = np.finfo(np.float64).eps
    centre = W.mean(axis=0)
    M = max(np.abs(Z - centre).max(), np.abs(W - centre).max())
    tol = 100 * eps * W.shape[0] * inv.condition * (M * M + M * abs(shift)) / scale
    assert np.abs(Zh - Z).max() <= tol


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_rigid_motion_invariance(dim, seed) -> None:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(dim + 5, dim))
    Z = rng.normal(size=(6, dim))
    R = special_ortho_group.rvs(dim, random_state=seed % (2**32 - 1)) if dim > 1 else np.eye(1)
    t = rng.normal(size=dim) * 10
    A = activations(Z, W)
    A_moved = activations(Z @ R.T + t, W @ R.T + t)
    np.testing.assert_allclose(A_moved, A, rtol=1e-9, atol=1e-9)
    # Inverting in the moved frame gives the moved point.
    Zh = Inverter(W @ R.T + t).invert(A)
    np.testing.assert_allclose(Zh, Z @ R.T + t, atol=1e-8)


def test_rank_deficient_raises_with_rank_dimension_and_fix() -> None:
    rng = np.random.default_rng(1)
    W = rng.normal(size=(5, 8))  # 5 points span at most 4 dimensions
    with pytest.raises(NotInvertibleError, match=r"rank 4 < 8.*PCA to at most 4"):
        Inverter(W)
    planar = np.column_stack([rng.normal(size=(30, 2)), np.zeros(30)])  # flat in 3-D
    with pytest.raises(NotInvertibleError, match="rank 2 < 3"):
        Inverter(planar)


def test_underdetermined_gives_minimum_norm_consistent_answer() -> None:
    rng = np.random.default_rng(2)
    W = rng.normal(size=(4, 6))
    Z = rng.normal(size=(3, 6))
    inv = Inverter(W, allow_underdetermined=True)
    assert inv.rank == 3 and inv.sigma_min == 0 and np.isinf(inv.condition)
    Zh = inv.invert(_brute(Z, W))
    # Same activation differences (the data determines only those) ...
    A, Ah = _brute(Z, W), _brute(Zh, W)
    np.testing.assert_allclose(A - A.mean(1, keepdims=True), Ah - Ah.mean(1, keepdims=True), atol=1e-9)
    # ... and no component along the null space of the centred prototypes (minimum norm).
    _, _, Vt = np.linalg.svd(W - W.mean(0))
    null = Vt[3:]
    np.testing.assert_allclose(Zh @ null.T, 0, atol=1e-9)


def test_inversion_is_translation_equivariant_at_large_offsets() -> None:
    # A spread of 1e-2 around an offset of 1e3: uncentred norms (~1e7) would cancel every
    # significant digit of the answer.
    rng = np.random.default_rng(3)
    W = 1e3 + 1e-2 * rng.normal(size=(12, 8))
    Z = 1e3 + 1e-2 * rng.normal(size=(5, 8))
    inv = Inverter(W)
    err = np.abs(inv.invert(_brute(Z, W)) - Z).max()
    assert err <= 1e-8 * inv.condition * 1e-2


def test_diagnostics() -> None:
    rng = np.random.default_rng(3)
    W = rng.normal(size=(30, 4))
    inv = Inverter(W)
    s = np.linalg.svd(2 * (W - W.mean(0)), compute_uv=False)
    assert inv.sigma_min == pytest.approx(s[-1]) and inv.condition == pytest.approx(s[0] / s[-1])
    assert inv.diagnostics()["rank"] == 4


def test_weighted_least_squares() -> None:
    rng = np.random.default_rng(4)
    W = rng.normal(size=(25, 3))
    Z = rng.normal(size=(10, 3))
    A = _brute(Z, W)
    # With exact activations every weighting recovers the point exactly.
    M = rng.normal(size=(25, 25))
    cov = M @ M.T + 25 * np.eye(25)
    np.testing.assert_allclose(Inverter(W, noise_cov=cov).invert(A), Z, atol=1e-9)
    # Identity covariance equals ordinary least squares, also on noisy activations.
    noisy = A + rng.normal(scale=0.1, size=A.shape)
    np.testing.assert_allclose(
        Inverter(W, noise_cov=np.eye(25)).invert(noisy), Inverter(W).invert(noisy), atol=1e-10
    )
    # Down-weighting a grossly corrupted activation helps.
    bad = A.copy()
    bad[:, 0] += 50.0
    cov = np.eye(25)
    cov[0, 0] = 1e8
    err_w = np.abs(Inverter(W, noise_cov=cov).invert(bad) - Z).max()
    err_o = np.abs(Inverter(W).invert(bad) - Z).max()
    assert err_w < 1e-2 * err_o


def test_subset_inversion_drops_at_d_plus_one() -> None:
    rng = np.random.default_rng(5)
    D = 6
    W = rng.normal(size=(40, D))
    Z = rng.normal(size=(20, D))
    inv = Inverter(W)
    A = _brute(Z, W)
    err = {n: np.median(np.linalg.norm(inv.invert(A, n_nearest=n) - Z, axis=1)) for n in (2, D, D + 1, 20)}
    assert err[D] > 1e-3 and err[2] > 1e-3
    assert err[D + 1] < 1e-9 and err[20] < 1e-9


def test_single_point_and_batch_shapes() -> None:
    rng = np.random.default_rng(6)
    W = rng.normal(size=(10, 3))
    z = rng.normal(size=3)
    a = _brute(z[None], W)[0]
    assert Inverter(W).invert(a).shape == (3,)
    np.testing.assert_allclose(invert(a, W), z, atol=1e-10)


def test_bad_activations_are_rejected() -> None:
    W = np.random.default_rng(7).normal(size=(10, 3))
    inv = Inverter(W)
    with pytest.raises(ValidationError, match="10 were expected"):
        inv.invert(np.zeros((2, 9)))
    with pytest.raises(ValidationError, match="NaN"):
        inv.invert(np.full((1, 10), np.nan))
    with pytest.raises(ValidationError, match="n_nearest"):
        inv.invert(np.zeros((1, 10)), n_nearest=0)


def test_activations_and_bmu_blockwise_match_brute_force() -> None:
    rng = np.random.default_rng(8)
    W = rng.normal(size=(33, 5))
    Z = rng.normal(size=(2500, 5))  # more than one block
    np.testing.assert_allclose(activations(Z, W), _brute(Z, W), atol=1e-10)
    np.testing.assert_array_equal(bmu(Z, W), _brute(Z, W).argmin(1))
    with pytest.raises(ValidationError, match="5 were expected"):
        activations(Z[:, :4], W)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rcond": "x"}, "parameter 'rcond' must be a number"),
    ({"rcond": -1e-3}, "parameter 'rcond' must be >= 0"),
    ({"rcond": float("nan")}, "parameter 'rcond' must be finite"),
    ({"allow_underdetermined": "yes"}, "must be true or false"),
])
def test_bad_inverter_parameters_are_named(kwargs, match) -> None:
    from protoflow.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        Inverter(np.eye(3), **kwargs)


def test_negative_activations_are_refused_but_rounding_is_not() -> None:
    from protoflow.errors import ValidationError

    W = np.random.default_rng(0).normal(size=(6, 3))
    Z = np.stack([W[0], np.zeros(3)])  # the first point sits on prototype 0: activation 0
    A = _brute(Z, W)
    inv = Inverter(W)
    bad = A.copy()
    bad[1, 4] = -2.0
    with pytest.raises(ValidationError, match="row 1, unit 4 holds -2"):
        inv.invert(bad)
    with pytest.raises(ValidationError, match=">= 0"):
        inv.invert(bad, n_nearest=5)
    tiny = A.copy()
    tiny[0, 0] = -1e-15  # what a caller's own rounding of a zero distance leaves: accepted
    assert np.allclose(inv.invert(tiny), Z, atol=1e-6)
