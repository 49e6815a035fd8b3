"""The array-API epochs against plain transcriptions of the formulas they replaced.

The batch and minibatch epochs now run one body over `protoflow.xp` (numpy or torch), with
cache-sized BMU blocks and the kernel by table lookup; these references are the textbook
definitions written directly in numpy (brute-force BMUs, a dense one-hot, ``exp`` over every
pair of units), so any change beyond float round-off fails here, on every lattice kind.
"""

import numpy as np
import pytest
from protoflow_som import SOM, batch, rules
from protoflow_som.init import initial_prototypes

from protoflow.inversion import bmu, bmu_search, scoring_matrix
from protoflow.neighborhood import exponential_temperature, gaussian_kernel
from protoflow.testing import blobs
from protoflow.topology import Lattice
from protoflow.validation import check_seed

LATTICES = [{}, {"kind": "hex"}, {"toroidal": True}, {"kind": "hex", "toroidal": True}]
LATTICE_IDS = ["rect", "hex", "torus", "hex-torus"]


def _brute(X, W):
    d2 = ((X[:, None, :] - W[None, :, :]) ** 2).sum(-1)
    b = d2.argmin(1)
    return b, d2[np.arange(len(X)), b]


def _reference_batch_fit(X, lattice, epochs, t_max, t_min):
    """Kohonen's batch rule: w_k = sum_i h(b_i, k) x_i / sum_i h(b_i, k); dead units stay."""
    W = initial_prototypes(X, lattice, "pca", check_seed(0))
    dist = lattice.distances()
    errors = []
    for e in range(epochs):
        H = gaussian_kernel(dist, exponential_temperature(e, epochs - 1, t_max, t_min))
        b, d2 = _brute(X, W)
        onehot = np.zeros((len(X), len(W)))
        onehot[np.arange(len(X)), b] = 1.0
        num, den = H @ (onehot.T @ X), H @ onehot.sum(0)
        W = np.where(den[:, None] > 0, num / np.where(den > 0, den, 1.0)[:, None], W)
        errors.append(np.sqrt(d2).mean())
    return W, np.array(errors)


@pytest.mark.parametrize("kw", LATTICES, ids=LATTICE_IDS)
def test_batch_fit_matches_the_textbook_rule(kw):
    X = blobs(700, 5, 4, seed=3)
    lattice = Lattice(6, 8, **kw)
    m = SOM(rows=6, cols=8, epochs=5, t_max=3.0, t_min=0.6, seed=0, **kw).fit(X)
    W, errors = _reference_batch_fit(X, lattice, 5, 3.0, 0.6)
    np.testing.assert_allclose(m.prototypes_, W, rtol=0, atol=1e-11)
    np.testing.assert_allclose(m.quantization_error_history_, errors, rtol=1e-10)


def test_batch_fit_with_and_without_prepared_rows_is_the_same(monkeypatch):
    """The float32 rows made once per fit (`PreparedRows`) change no BMU: the prototypes are
    bit-identical to a fit that centres and rounds every block in every epoch."""
    X = blobs(3000, 6, 5, seed=4) + 50.0
    made = []
    original = batch.accumulate

    def spy(chunk, W, **kw):
        made.append(kw.get("prepared") is not None)
        return original(chunk, W, **kw)

    monkeypatch.setattr(batch, "accumulate", spy)
    a = SOM(rows=5, cols=6, epochs=4, seed=0).fit(X)
    monkeypatch.setattr(SOM, "PREPARED_MAX_BYTES", 0)
    b = SOM(rows=5, cols=6, epochs=4, seed=0).fit(X)
    assert made == [True] * 4 + [False] * 4
    np.testing.assert_array_equal(a.prototypes_, b.prototypes_)
    np.testing.assert_allclose(a.quantization_error_history_, b.quantization_error_history_,
                               rtol=1e-12)


@pytest.mark.parametrize("kw", LATTICES, ids=LATTICE_IDS)
def test_minibatch_fit_matches_the_desom_rule(kw):
    """Adam on mean_i sum_k h(b_i, k) ||x_i - w_k||^2 with h = exp over the BMUs' rows."""
    X = blobs(300, 4, 3, seed=5)
    lattice = Lattice(4, 6, **kw)
    E, bs, lr = 2, 64, 0.05
    m = SOM(rows=4, cols=6, epochs=E, algorithm="minibatch", batch_size=bs, learning_rate=lr,
            t_max=2.0, t_min=0.5, seed=1, **kw).fit(X)
    rng = check_seed(1)
    W = initial_prototypes(X, lattice, "pca", rng)
    adam, dist = rules.Adam(W.shape, lr), lattice.distances()
    n_steps = -(-len(X) // bs)
    for e in range(E):
        order = rng.permutation(len(X))
        for i, start in enumerate(range(0, len(X), bs)):
            xb = X[order[start : start + bs]]
            b, _ = _brute(xb, W)
            T = exponential_temperature(e * n_steps + i, E * n_steps - 1, 2.0, 0.5)
            h = gaussian_kernel(dist[b], T)
            adam.step(W, (2.0 / len(xb)) * (h.sum(0)[:, None] * W - h.T @ xb))
    np.testing.assert_allclose(m.prototypes_, W, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kw", LATTICES, ids=LATTICE_IDS)
def test_kernel_table_rows_are_the_kernel_of_those_rows(kw):
    dist = Lattice(6, 5, **kw).distances()
    rows = np.array([0, 7, 7, 29, 3])
    np.testing.assert_array_equal(batch.KernelTable(dist)(0.8, rows), gaussian_kernel(dist[rows], 0.8))


@pytest.mark.parametrize("block_bytes", [1, 1 << 20])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bmu_search_is_the_nearest_prototype(block_bytes, dtype):
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(1100, 6)), rng.normal(size=(30, 6))
    b, d2 = bmu_search(X.astype(dtype), scoring_matrix(W.astype(dtype)), block_bytes=block_bytes)
    b_ref, d2_ref = _brute(X, W)
    assert b.dtype == np.int64 and d2.dtype == np.float64
    assert np.mean(b == b_ref) == 1.0 if dtype == np.float64 else np.mean(b == b_ref) > 0.99
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(d2[b == b_ref], d2_ref[b == b_ref], rtol=tol, atol=tol)
    np.testing.assert_array_equal(bmu(X, W), b_ref)


def test_empty_input_gives_empty_results():
    W = np.random.default_rng(1).normal(size=(4, 3))
    b, d2 = bmu_search(np.empty((0, 3)), scoring_matrix(W))
    assert b.shape == d2.shape == (0,)
    stats = batch.accumulate(np.empty((0, 3)), W)
    assert stats.counts.sum() == 0 and stats.sums.shape == (4, 3) and stats.error == 0.0
