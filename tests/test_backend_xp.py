"""`protoflow.xp`: each operation outside the array-API standard against its definition, on
numpy and (where installed) on torch CPU tensors, and numpy's results stay numpy."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from protoflow import xp as pxp

try:
    import torch
except ImportError:  # the numpy half of every test still runs
    torch = None

LIBS = ["numpy", pytest.param("torch", marks=pytest.mark.skipif(torch is None, reason="needs torch"))]


def _to(lib, a):
    return a if lib == "numpy" else torch.as_tensor(a)


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("lib", LIBS)
def test_namespace_device_and_round_trip(lib):
    a = _to(lib, _rng().normal(size=(3, 4)))
    xp = pxp.namespace(a)
    assert hasattr(xp, "matmul") and hasattr(xp, "take_along_axis")
    assert str(pxp.device(a)) == "cpu"
    assert pxp.is_array(a) and pxp.is_numpy(a) == (lib == "numpy") and not pxp.is_array([1.0])
    back = pxp.to_numpy(a)
    assert isinstance(back, np.ndarray) and back.shape == (3, 4)
    like = pxp.asarray_like(np.arange(3.0), a)
    assert type(like) is type(a)
    np.testing.assert_array_equal(pxp.to_numpy(like), np.arange(3.0))


@pytest.mark.parametrize("lib", LIBS)
def test_matmul_writes_into_the_buffer_and_addmm_is_bias_plus_scaled_product(lib):
    rng = _rng()
    A, B, c = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    out = _to(lib, np.empty((5, 4)))
    res = pxp.matmul(_to(lib, A), _to(lib, B), out=out)
    assert res is out or res.data_ptr() == out.data_ptr()
    np.testing.assert_allclose(pxp.to_numpy(out), A @ B, rtol=1e-14)
    got = pxp.addmm(_to(lib, c), _to(lib, A), _to(lib, B), alpha=-2.0)
    np.testing.assert_allclose(pxp.to_numpy(got), c - 2.0 * (A @ B), rtol=1e-14)


@pytest.mark.parametrize("lib", LIBS)
def test_rowwise_dot(lib):
    a, b = _rng().normal(size=(2, 6, 3)), _rng().normal(size=(2, 6, 3))
    np.testing.assert_allclose(pxp.to_numpy(pxp.rowwise_dot(_to(lib, a), _to(lib, b))), (a * b).sum(-1), rtol=1e-14)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scatter_add_and_bincount(lib, dtype):
    rng = _rng()
    index, values = rng.integers(0, 5, 40), rng.normal(size=(40, 3)).astype(dtype)
    expected = np.zeros((6, 3))
    for i, k in enumerate(index):
        expected[k] += values[i]
    idx, vals = _to(lib, index), _to(lib, values)
    sums = pxp.scatter_add(idx, vals, 6)
    assert pxp.to_numpy(sums).dtype == np.float64 and sums.shape == (6, 3)
    np.testing.assert_allclose(pxp.to_numpy(sums), expected, atol=1e-12)
    np.testing.assert_allclose(pxp.to_numpy(pxp.scatter_add(idx, vals, 6, out=sums)), 2 * expected, atol=1e-12)
    np.testing.assert_allclose(pxp.to_numpy(pxp.scatter_add(idx, vals[:, 0], 6)), expected[:, 0], atol=1e-12)
    counts = pxp.to_numpy(pxp.bincount(idx, 6))
    np.testing.assert_array_equal(counts, np.bincount(index, minlength=6).astype(np.float64))


@pytest.mark.parametrize("lib", LIBS)
def test_add_to_diagonal_in_place_and_cholesky_solve(lib):
    rng = _rng()
    J = rng.normal(size=(4, 3, 5))
    G = _to(lib, np.ascontiguousarray(J @ J.swapaxes(1, 2)))
    out = pxp.add_to_diagonal(G, 0.5)
    assert out is G
    Gn = pxp.to_numpy(G)
    np.testing.assert_allclose(Gn, J @ J.swapaxes(1, 2) + 0.5 * np.eye(3), rtol=1e-14)
    rhs = rng.normal(size=(4, 3, 2))
    x = pxp.to_numpy(pxp.cholesky_solve(G, _to(lib, rhs)))
    np.testing.assert_allclose(x, np.stack([scipy.linalg.solve(Gn[i], rhs[i]) for i in range(4)]), rtol=1e-10)


@pytest.mark.parametrize("lib", LIBS)
def test_subtract_and_take_rows_write_into_out(lib):
    rng = _rng()
    a, b, idx = rng.normal(size=(6, 3)), rng.normal(size=3), rng.integers(0, 6, 9)
    out = _to(lib, np.empty((6, 3)))
    res = pxp.subtract(_to(lib, a), _to(lib, b), out=out)
    assert res is out or pxp.to_numpy(res).base is not None
    np.testing.assert_array_equal(pxp.to_numpy(out), a - b)
    rows = _to(lib, np.empty((9, 3)))
    for checked in (True, False):
        pxp.take_rows(_to(lib, a), _to(lib, idx), out=rows, checked=checked)
        np.testing.assert_array_equal(pxp.to_numpy(rows), a[idx])
    np.testing.assert_array_equal(pxp.to_numpy(pxp.take_rows(_to(lib, a), _to(lib, idx))), a[idx])


def test_take_rows_checks_the_range_unless_told_not_to():
    with pytest.raises(IndexError):
        pxp.take_rows(np.ones((3, 2)), np.array([3]), out=np.empty((1, 2)))


@pytest.mark.parametrize("lib", LIBS)
def test_workspace_hands_out_the_same_buffer_while_it_fits(lib):
    like = _to(lib, np.zeros(1))
    ws = pxp.Workspace()
    a = ws.empty("x", (8, 3), like.dtype, like)
    assert a.shape == (8, 3) and type(a) is type(like)
    a[...] = 7.0
    b = ws.empty("x", (5, 3), like.dtype, like)  # fewer rows: a view of the same memory
    assert b.shape == (5, 3) and float(pxp.to_numpy(b)[0, 0]) == 7.0
    c = ws.empty("x", (9, 3), like.dtype, like)  # more rows: a new buffer
    c[...] = 1.0
    assert c.shape == (9, 3) and float(pxp.to_numpy(ws.empty("x", (9, 3), like.dtype, like))[0, 0]) == 1.0
    assert ws.empty("x", (9, 4), like.dtype, like).shape == (9, 4)  # other trailing shape
    assert ws.empty("y", (2,), like.dtype, like).shape == (2,)  # names are separate
    assert ws.nbytes == 9 * 4 * 8 + 2 * 8
    ws.clear()
    assert ws.nbytes == 0


def test_workspace_budget_and_dtype():
    ws = pxp.Workspace(max_bytes=100)
    like = np.zeros(1)
    big = ws.empty("big", (20,), np.float64, like)  # 160 bytes: served, not kept
    assert big.shape == (20,) and ws.nbytes == 0
    small = ws.empty("s", (4,), np.float32, like)
    assert small.dtype == np.float32 and ws.nbytes == 16
    assert ws.empty("s", (4,), np.float64, like).dtype == np.float64  # dtype change: new buffer


def test_workspace_numpy_buffers_share_an_aligned_arena_and_survive_its_growth():
    ws = pxp.Workspace()
    like = np.zeros(1)
    a = ws.empty("a", (1000, 3), np.float64, like)
    b = ws.empty("b", (7,), np.float32, like)
    # both carved from one arena starting on a huge-page boundary, at cache-line offsets
    assert np.shares_memory(a.base, b.base) or a.base is b.base
    assert a.ctypes.data % pxp.Workspace._HUGE_PAGE == 0 and b.ctypes.data % 64 == 0
    assert a.flags.c_contiguous and b.dtype == np.float32 and not np.shares_memory(a, b)
    a[...] = 1.0
    b[...] = 2.0
    # a request beyond the arena starts a larger one; arrays handed out earlier keep their data
    big = ws.empty("big", (pxp.Workspace.ARENA_MIN_BYTES // 4,), np.float64, like)
    big[...] = 3.0
    assert float(a.sum()) == 3000.0 and float(b.sum()) == 14.0
    assert not np.shares_memory(big, a)
    # the dropped names are handed out again, from the new arena, without touching the old data
    a2 = ws.empty("a", (1000, 3), np.float64, like)
    assert np.shares_memory(a2.base, big.base) and not np.shares_memory(a2, big)
    a2[...] = 5.0
    assert float(a.sum()) == 3000.0 and float(big[0]) == 3.0
    assert ws.nbytes == big.nbytes + a2.nbytes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 300), st.sampled_from([1, 7, 64]),
                          st.sampled_from([np.float32, np.float64, np.int64])), min_size=1, max_size=40),
       st.sampled_from([1 << 12, 1 << 20, 1 << 26]))
def test_workspace_buffers_of_different_names_never_overlap(requests, budget):
    """Whatever the sequence of requests (growing, shrinking, changing dtype, past the budget,
    across arena moves), the latest buffer of each name overlaps no other name's latest one,
    and data written to one is never changed by requests for the others."""
    ws = pxp.Workspace(max_bytes=budget)
    like = np.zeros(1)
    latest: dict[str, tuple[np.ndarray, int]] = {}
    for step, (name, rows, cols, dtype) in enumerate(requests):
        a = ws.empty(name, (rows, cols), dtype, like)
        assert a.shape == (rows, cols) and a.dtype == dtype and a.flags.c_contiguous
        a[...] = step
        latest[name] = (a, step)
        for other, (b, value) in latest.items():
            assert other == name or not np.shares_memory(a, b)
            assert np.all(b == value)
    assert ws.nbytes <= budget


def test_each_thread_has_its_own_workspace():
    import threading

    seen = []
    thread = threading.Thread(target=lambda: seen.append(pxp.Workspace.for_thread()))
    thread.start()
    thread.join()
    assert pxp.Workspace.for_thread() is pxp.Workspace.for_thread()
    assert seen[0] is not pxp.Workspace.for_thread()


def test_numpy_routines_return_numpy():
    a = np.ones((3, 2))
    for res in (pxp.matmul(a, a.T), pxp.rowwise_dot(a, a), pxp.scatter_add(np.array([0, 1, 1]), a, 2),
                pxp.bincount(np.array([0, 2]), 3), pxp.asarray_like([1.0, 2.0], a)):
        assert isinstance(res, np.ndarray)


def test_importing_xp_does_not_import_torch():
    code = "import sys, numpy as np, protoflow.xp as x; x.namespace(np.ones(2)); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bmu_search_on_a_strict_array_api_library():
    """The one BMU search (with and without the float32 screen, over several blocks) runs on
    an array library that offers the array API standard and nothing else (array-api-strict:
    no flat indexing, no out-of-bounds slices, no integer-array assignment, no mixed-dtype
    assignment) and finds numpy's BMUs, including rows the screen cannot settle."""
    import array_api_strict as xs

    from protoflow.inversion import PreparedRows, bmu_search, scoring_matrix

    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(3000, 5)), rng.normal(size=(12, 5))
    # two prototypes float32 cannot tell apart for the rows near them (float64 can): rows the
    # screen sends to the float64 rescoring
    W[3] = W[4] + 1e-5
    X[:50] = W[4] + 1e-6 * rng.normal(size=(50, 5))
    ref_bmu, ref_d2 = bmu_search(X, scoring_matrix(W))
    for screen in (True, False):
        b, d2 = bmu_search(xs.asarray(X), scoring_matrix(xs.asarray(W)), screen=screen,
                           block_bytes=1 << 12)
        assert type(b).__module__.startswith("array_api_strict")
        np.testing.assert_array_equal(np.asarray(b), ref_bmu)
        np.testing.assert_allclose(np.asarray(d2), ref_d2, rtol=1e-12, atol=1e-12)
    Xs = xs.asarray(X)
    b, d2 = bmu_search(Xs, scoring_matrix(xs.asarray(W)), prepared=PreparedRows(Xs),
                       block_bytes=1 << 12)
    np.testing.assert_array_equal(np.asarray(b), ref_bmu)
    np.testing.assert_allclose(np.asarray(d2), ref_d2, rtol=1e-12, atol=1e-12)


def test_put_rows_and_copy_into_on_every_library():
    import array_api_strict as xs

    libs = [np, xs] + ([torch] if torch is not None else [])
    for lib in libs:
        a = lib.asarray(np.zeros((5, 2)))
        out = pxp.put_rows(a, lib.asarray(np.array([1, 3])), lib.asarray(np.array([[1.0, 2.0], [3.0, 4.0]])))
        np.testing.assert_array_equal(np.asarray(out), [[0, 0], [1, 2], [0, 0], [3, 4], [0, 0]])
        assert pxp.put_rows(a, lib.asarray(np.array([], dtype=np.int64)), a[:0, ...]) is not None
        f32 = lib.asarray(np.zeros((2, 2), dtype=np.float32))
        pxp.copy_into(f32, lib.asarray(np.array([[0.5, 1.5], [2.5, 3.5]])))  # float64 into float32
        assert f32.dtype == lib.float32
        np.testing.assert_array_equal(np.asarray(f32), [[0.5, 1.5], [2.5, 3.5]])


def test_workspace_counts_the_bytes_of_arrays_without_nbytes():
    """A strict array-API library's arrays have no .nbytes: the budget counts them from their
    dtype (bool one byte, complex two real parts)."""
    import array_api_strict as xs

    ws = pxp.Workspace()
    like = xs.zeros(1)
    expected = 0
    for name, dtype, itemsize in (("b", xs.bool, 1), ("i", xs.int16, 2), ("f", xs.float32, 4),
                                  ("c", xs.complex128, 16)):
        assert type(ws.empty(name, (3, 5), dtype, like)).__module__.startswith("array_api_strict")
        expected += 15 * itemsize
        assert ws.nbytes == expected
