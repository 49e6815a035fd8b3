"""The batch epoch's map/reduce functions and the minibatch gradient, against their definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protoflow_som import batch, rules

from protoflow.neighborhood import gaussian_kernel
from protoflow.topology import Lattice


def _brute_bmu(X, W):
    return ((X[:, None, :] - W[None, :, :]) ** 2).sum(-1).argmin(1)


def _data(seed, n=200, d=3, k=12):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(k, d))


@pytest.mark.parametrize("block_bytes", [8, 1 << 25])  # tiny blocks force many row blocks
def test_accumulate_matches_definition(monkeypatch, block_bytes):
    monkeypatch.setattr(batch, "_BLOCK_BYTES", block_bytes)
    X, W = _data(0, n=700)
    stats = batch.accumulate(X, W)
    b = _brute_bmu(X, W)
    d2 = ((X - W[b]) ** 2).sum(1)
    for k in range(len(W)):
        assert stats.counts[k] == np.sum(b == k)
        np.testing.assert_allclose(stats.sums[k], X[b == k].sum(0), atol=1e-12)
    np.testing.assert_allclose(stats.sq_error, d2.sum(), rtol=1e-10)
    np.testing.assert_allclose(stats.error, np.sqrt(d2).sum(), rtol=1e-10)
    assert stats.n_samples == len(X)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 199))
def test_stats_add_over_chunks(seed, cut):
    X, W = _data(seed)
    whole = batch.accumulate(X, W)
    parts = batch.accumulate(X[:cut], W) + batch.accumulate(X[cut:], W)
    np.testing.assert_allclose(parts.sums, whole.sums, atol=1e-10)
    np.testing.assert_array_equal(parts.counts, whole.counts)
    np.testing.assert_allclose(parts.sq_error, whole.sq_error, rtol=1e-10)


def test_update_is_kohonen_batch_rule():
    X, W = _data(1)
    H = gaussian_kernel(Lattice(3, 4).distances(), 1.3)
    new = batch.update(W, batch.accumulate(X, W), H)
    b = _brute_bmu(X, W)
    h = H[b]  # (n, K): weight of each sample for each unit
    expected = (h.T @ X) / h.sum(0)[:, None]
    np.testing.assert_allclose(new, expected, rtol=1e-12)


def test_dead_unit_keeps_its_prototype():
    X, W = _data(2, k=4)
    W[3] = 1e6  # never a BMU
    H = np.eye(4)  # no neighbourhood: a unit only sees its own data
    new = batch.update(W, batch.accumulate(X, W), H)
    np.testing.assert_array_equal(new[3], W[3])
    assert np.isfinite(new).all()


def test_float32_bmus_agree_with_float64():
    X, W = _data(3, n=500)
    b64, _ = batch.bmus(X, batch.scoring_matrix(W))
    X32, W32 = X.astype(np.float32), W.astype(np.float32)
    b32, d2 = batch.bmus(X32, batch.scoring_matrix(W32))
    assert np.mean(b32 == b64) > 0.99
    assert d2.dtype == np.float64 and (d2 >= 0).all()


def test_distortion_gradient_matches_finite_differences():
    X, W = _data(4, n=30, k=5)
    h = np.random.default_rng(5).uniform(size=(30, 5))

    def loss(Wf):
        return np.mean(np.sum(h * ((X[:, None, :] - Wf[None]) ** 2).sum(-1), axis=1))

    g = rules.distortion_gradient(W, X, h)
    eps = 1e-6
    for k, j in [(0, 0), (2, 1), (4, 2)]:
        Wp, Wm = W.copy(), W.copy()
        Wp[k, j] += eps
        Wm[k, j] -= eps
        assert g[k, j] == pytest.approx((loss(Wp) - loss(Wm)) / (2 * eps), rel=1e-6)


@pytest.mark.parametrize("lattice", [Lattice(5, 7), Lattice(4, 6, kind="hex"), Lattice(6, 4, toroidal=True),
                                     Lattice(4, 4, kind="hex", toroidal=True)])
@pytest.mark.parametrize("T", [0.3, 1.0, 7.5])
def test_kernel_table_is_the_gaussian_kernel(lattice, T):
    dist = lattice.distances()
    table = batch.KernelTable(dist)
    assert table._index is not None  # hop counts: the lookup path
    np.testing.assert_array_equal(table(T), gaussian_kernel(dist, T))


def test_small_maps_share_one_kernel_table_per_equal_topology():
    a, b = Lattice(6, 5, kind="hex"), Lattice(6, 5, kind="hex")
    table = batch.shared_kernel_table(a)
    assert table is not None and batch.shared_kernel_table(b) is table  # equal value, same table
    assert batch.shared_kernel_table(Lattice(5, 6, kind="hex")) is not table
    np.testing.assert_array_equal(table(2.0), gaussian_kernel(a.distances(), 2.0))
    side = int(batch.SHARED_TABLE_MAX_UNITS**0.5) + 1
    assert batch.shared_kernel_table(Lattice(side, side)) is None  # large maps build their own


def test_kernel_table_writes_into_a_workspace_buffer():
    from protoflow.xp import Workspace

    lattice, ws = Lattice(4, 5), Workspace()
    table = batch.KernelTable(lattice.distances())
    first = table(1.5, workspace=ws)
    np.testing.assert_array_equal(first, gaussian_kernel(lattice.distances(), 1.5))
    second = table(0.5, workspace=ws)
    assert np.shares_memory(first, second)  # the same buffer, rewritten
    np.testing.assert_array_equal(second, gaussian_kernel(lattice.distances(), 0.5))


def test_fits_that_share_a_thread_workspace_match_isolated_fits():
    """Interleaved fits of different sizes in one thread, and fits in other threads at the same
    time, give exactly the prototypes of a fit on its own (buffers are reused, never mixed)."""
    import threading

    from protoflow_som import SOM

    rng = np.random.default_rng(3)
    data = [rng.normal(size=(n, d)) for n, d in [(300, 4), (120, 7), (300, 4)]]
    shapes = [(5, 6), (3, 4), (6, 5)]
    alone = [SOM(rows=r, cols=c, epochs=4, seed=1).fit(X).prototypes_ for (r, c), X in zip(shapes, data)]
    models = [SOM(rows=r, cols=c, epochs=4, seed=1) for r, c in shapes]
    for m, X in zip(models, data):  # epochs interleaved across models
        m.partial_fit(X)
    for _ in range(3):
        for m, X in zip(models, data):
            m.partial_fit(X)
    stepped = [SOM(rows=r, cols=c, epochs=4, seed=1) for r, c in shapes]
    for m, X in zip(stepped, data):
        for _ in range(4):
            m.partial_fit(X)
    for a, b in zip(models, stepped):
        np.testing.assert_array_equal(a.prototypes_, b.prototypes_)
    results = {}

    def fit(i, j):
        (r, c), X = shapes[i], data[i]
        results[i, j] = SOM(rows=r, cols=c, epochs=4, seed=1).fit(X).prototypes_

    threads = [threading.Thread(target=fit, args=(i, j)) for i in range(3) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (i, _), W in results.items():
        np.testing.assert_array_equal(W, alone[i])
    assert len(results) == 6


def test_kernel_table_falls_back_for_non_integer_or_infinite_distances():
    d = np.array([[0.0, 1.5, np.inf], [1.5, 0.0, 2.0], [np.inf, 2.0, 0.0]])
    table = batch.KernelTable(d)
    assert table._index is None
    np.testing.assert_array_equal(table(1.2), gaussian_kernel(d, 1.2))


@pytest.mark.parametrize("odd", [np.inf, np.nan, 2.5, -1.0, 2.0**31])
def test_kernel_table_checks_each_kind_of_non_hop_count_on_its_own(odd):
    """One bad entry among whole hop counts is enough to leave the lookup path (the check
    runs on the integer cast: NaN and inf must not slip through as garbage integers)."""
    d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    d[0, 2] = d[2, 0] = odd
    table = batch.KernelTable(d)
    assert table._index is None
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(table(1.2), gaussian_kernel(d, 1.2))


def test_the_batch_epoch_on_a_strict_array_api_library():
    """accumulate, the kernel lookup and update run on an array library with the array API
    standard and nothing else (array-api-strict) and give numpy's prototypes."""
    import array_api_strict as xs

    rng = np.random.default_rng(1)
    X, W = rng.normal(size=(3000, 5)), rng.normal(size=(12, 5))
    distances = Lattice(3, 4).distances()
    Xs, Ws = xs.asarray(X), xs.asarray(W)
    stats = batch.accumulate(Xs, Ws)
    assert type(stats.sums).__module__.startswith("array_api_strict")
    new = batch.update(Ws, stats, batch.KernelTable(distances, like=Xs)(1.5))
    expected = batch.update(W, batch.accumulate(X, W), batch.KernelTable(distances)(1.5))
    np.testing.assert_allclose(np.asarray(new), expected, rtol=1e-12, atol=1e-12)
