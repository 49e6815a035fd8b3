"""The float32 screen of `bmu_search`: float64 BMUs from float32 products.

Checked against distances in extended precision (numpy's longdouble, 64-bit mantissa on
x86), so the claim tested is the real one: the screened BMU is a nearest prototype up to
float64's own rounding, whatever float32 would have said.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoflow.errors import ValidationError
from protoflow.inversion import Float32Screen, PreparedRows, bmu_search, scoring_matrix
from protoflow.xp import float32_unit_roundoff, top_two


def exact_sq_distances(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(n, K) squared distances by direct differences in longdouble."""
    Xl, Wl = X.astype(np.longdouble), W.astype(np.longdouble)
    return ((Xl[:, None, :] - Wl[None, :, :]) ** 2).sum(axis=2)


def assert_nearest(X: np.ndarray, W: np.ndarray, idx: np.ndarray, d2: np.ndarray) -> None:
    """idx are nearest prototypes up to float64 rounding and d2 their squared distances."""
    D = exact_sq_distances(X, W)
    best = D.min(axis=1)
    got = D[np.arange(len(X)), idx]
    scale = (X.astype(np.longdouble) ** 2).sum(1) + (W.astype(np.longdouble) ** 2).sum(1).max()
    tol = 1e-13 * scale
    assert np.all(got <= best + tol), np.max((got - best) / scale)
    np.testing.assert_allclose(d2, got.astype(np.float64), rtol=1e-9, atol=float(tol.max()))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    d=st.integers(1, 40),
    K=st.integers(1, 60),
    log_scale=st.floats(-8, 8),
    offset=st.floats(-1e3, 1e3),
    spread=st.sampled_from([1e-9, 1e-6, 1e-3, 1.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_screened_bmus_are_nearest(n, d, K, log_scale, offset, spread, seed):
    """Prototypes at data points plus small offsets (many near ties float32 cannot order),
    exact duplicates, data far from the origin: the screened BMUs are nearest."""
    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    X = (rng.normal(size=(n, d)) + offset) * scale
    W = X[rng.integers(0, n, K)] + spread * scale * rng.normal(size=(K, d))
    if K > 2:
        W[2] = W[1]  # an exact tie
    idx, d2 = bmu_search(X, scoring_matrix(W))
    assert idx.dtype == np.int64 and d2.dtype == np.float64
    assert_nearest(X, W, idx, d2)
    # the rows prepared once (centred on the data's mean, not the prototypes'), over blocks
    idx, d2 = bmu_search(X, scoring_matrix(W), prepared=PreparedRows(X), block_bytes=1 << 10)
    assert_nearest(X, W, idx, d2)


def test_prepared_rows_hold_the_centred_float32_rows():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 7)) + 100.0  # more than one building block of 4,096 rows
    p = PreparedRows(X)
    np.testing.assert_allclose(p.center, X.mean(0))
    assert p.aug.dtype == np.float32 and p.aug.shape == (5000, 8) and np.all(p.aug[:, -1] == 1)
    np.testing.assert_array_equal(p.aug[:, :7], (X - X.mean(0)).astype(np.float32))
    np.testing.assert_allclose(p.norms, np.linalg.norm(X - X.mean(0), axis=1), rtol=1e-14)
    assert PreparedRows.nbytes(5000, 7) == p.aug.nbytes + p.norms.nbytes
    empty = PreparedRows(np.empty((0, 3)))
    assert empty.aug.shape == (0, 4) and np.all(empty.center == 0)


def test_prepared_rows_of_other_data_are_refused():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValidationError, match="other rows"):
        bmu_search(X.copy(), scoring_matrix(X[:4]), prepared=PreparedRows(X))


def test_prepared_rows_too_large_for_float32_are_scored_in_float64():
    X = np.array([[0.0, 0.0], [1e16, 1.0], [1e16 + 4.0, 1.0]])
    W = np.array([[0.0, 0.0], [1e16, 1.0], [1e16 + 8.0, 1.0]])
    idx, d2 = bmu_search(X, scoring_matrix(W), prepared=PreparedRows(X))
    np.testing.assert_array_equal(idx, [0, 1, 1])
    assert_nearest(X, W, idx, d2)


def test_a_tie_for_float32_is_settled_in_float64():
    """Two prototypes whose squared distances from x differ by 2e-9 relative: float32 scores
    them equal (its argmax takes the first); the screen must return the second, the nearer."""
    x = np.array([[1.0, 0.0, 0.0]])
    w0, w1 = np.array([1.0, 1.0, 0.0]), np.array([1.0, 1.0 - 1e-9, 0.0])
    W = np.stack([w0, w1, -(w0 + w1)])  # mean ~0: centring changes nothing here
    S = scoring_matrix(W)
    screen = Float32Screen.for_scoring_matrix(S)
    xc = np.c_[x - screen.center, [[1.0]]].astype(np.float32)
    scores32 = xc @ screen.S32.T
    assert scores32[0].argmax() == 0  # what float32 alone would answer
    idx, d2 = bmu_search(x, S)
    assert idx[0] == 1
    assert d2[0] == pytest.approx((1.0 - 1e-9) ** 2, rel=1e-14)


def test_the_screen_changes_no_bmu_of_a_clear_search():
    """Where the float64 search has a clear winner (a margin far above its rounding), the
    screened and unscreened searches agree row for row."""
    rng = np.random.default_rng(3)
    X, W = rng.normal(size=(5000, 30)), rng.normal(size=(200, 30))
    S = scoring_matrix(W)
    i1, d1 = bmu_search(X, S)
    i0, d0 = bmu_search(X, S, screen=False)
    D = exact_sq_distances(X, W)
    part = np.sort(D, axis=1)
    clear = (part[:, 1] - part[:, 0]) > 1e-9
    np.testing.assert_array_equal(i1[clear], i0[clear])
    np.testing.assert_allclose(d1, d0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("magnitude", [1e16, 1e-25])
def test_data_outside_float32s_comfort_is_still_exact(magnitude):
    """Rows too large for float32 are scored in float64; tiny ones fall in float32's
    underflow range, where the bound's absolute term sends them to float64."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 5)) * magnitude
    W = X[:50] + rng.normal(size=(50, 5)) * magnitude * 1e-3
    idx, d2 = bmu_search(X, scoring_matrix(W))
    assert_nearest(X, W, idx, d2)


def test_huge_prototypes_are_not_screened():
    W = np.array([[1e16, 0.0], [0.0, 1e16]])
    assert Float32Screen.for_scoring_matrix(scoring_matrix(W)) is None
    idx, _ = bmu_search(np.array([[1e16, 1.0]]), scoring_matrix(W))
    assert idx[0] == 0


def test_float32_data_is_scored_in_float32():
    """The screen is for float64 data; float32 data keeps its own dtype's search."""
    rng = np.random.default_rng(2)
    X, W = rng.normal(size=(100, 4)).astype(np.float32), rng.normal(size=(9, 4)).astype(np.float32)
    idx, d2 = bmu_search(X, scoring_matrix(W))
    D = ((X[:, None] - W[None]) ** 2).sum(2)
    np.testing.assert_array_equal(idx, D.argmin(1))
    np.testing.assert_allclose(d2, D.min(1), rtol=1e-4, atol=1e-4)


def test_top_two():
    s = np.array([[1.0, 5.0, 3.0], [2.0, 2.0, -1.0]], dtype=np.float32)
    idx, first, second = top_two(s.copy())
    np.testing.assert_array_equal(idx, [1, 0])
    np.testing.assert_array_equal(first, [5.0, 2.0])
    np.testing.assert_array_equal(second, [3.0, 2.0])  # a tie: the runner-up equals the best
    one = top_two(np.array([[4.0], [1.0]]))
    np.testing.assert_array_equal(one[0], [0, 0])
    assert np.all(np.isneginf(one[2]))
    # a non-contiguous view takes the standard path
    wide = np.zeros((2, 6))
    wide[:, ::2] = s
    idx, first, second = top_two(wide[:, ::2])
    np.testing.assert_array_equal(idx, [1, 0])
    np.testing.assert_array_equal(second, [3.0, 2.0])


def test_float32_unit_roundoff_on_numpy():
    assert float32_unit_roundoff(np.empty(0)) == 2.0**-24


def test_torch_cpu_screen_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 12)) + 50.0
    W = X[rng.integers(0, 3000, 64)] + 1e-5 * rng.normal(size=(64, 12))
    S = scoring_matrix(W)
    i_np, d_np = bmu_search(X, S)
    i_t, d_t = bmu_search(torch.from_numpy(X), torch.from_numpy(S))
    np.testing.assert_array_equal(i_t.numpy(), i_np)
    np.testing.assert_allclose(d_t.numpy(), d_np, rtol=1e-9, atol=1e-9)
    idx, first, second = top_two(torch.tensor([[1.0, 5.0, 3.0]]))
    assert int(idx[0]) == 1 and float(first[0]) == 5.0 and float(second[0]) == 3.0
    one = top_two(torch.tensor([[4.0], [1.0]]))
    assert one[0].tolist() == [0, 0] and torch.isinf(one[2]).all()
