"""Growing Neural Gas: conformance, the algorithm's invariants, and bad input."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from protoflow_gng import GrowingNeuralGas
from protoflow_gng._engine import GNGState
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

import protoflow
from protoflow.errors import ConfigError, ValidationError
from protoflow.metrics.map_quality import quantization_error, topographic_error
from protoflow.testing import blobs, parametrize_with_checks
from protoflow.topology import Graph


@parametrize_with_checks([functools.partial(GrowingNeuralGas, max_units=10, epochs=15)])
def test_conformance(component, check):
    check(component)


def test_registered_through_entry_point():
    model = protoflow.create_model("gng", max_units=7, seed=1)
    assert isinstance(model, GrowingNeuralGas)
    assert model.max_units == 7


def _rings(n=600, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 2 * np.pi, n)
    r = np.where(np.arange(n) % 2, 1.0, 4.0) + rng.normal(scale=0.05, size=n)
    return np.column_stack([r * np.cos(a), r * np.sin(a)])


def test_graph_invariants_after_fit():
    X = _rings()
    m = GrowingNeuralGas(max_units=40, epochs=20, seed=0).fit(X)
    K = len(m.prototypes_)
    assert K == 40  # 20 * 600 samples are enough for 38 insertions
    assert isinstance(m.topology_, Graph) and m.topology_.n_units == K
    degree = np.bincount(m.topology_.edges.ravel(), minlength=K)
    assert degree.min() >= 1, "isolated units must be removed"
    assert m.edge_ages_.shape == (len(m.topology_.edges),)
    assert (m.edge_ages_ >= 0).all() and (m.edge_ages_ <= m.max_age).all()
    assert m.errors_.shape == (K,) and (m.errors_ >= 0).all()
    assert m.n_steps_ == 20 * len(X)


def test_learns_the_topology_of_two_rings():
    """Two concentric rings: the learned graph should have two components, one per ring."""
    X = _rings(2000)
    m = GrowingNeuralGas(max_units=60, epochs=10, seed=3).fit(X)
    adjacency = csr_matrix(m.topology_.distances() == 1)
    n_comp, labels = connected_components(adjacency, directed=False)
    assert n_comp == 2
    radius = np.linalg.norm(m.prototypes_, axis=1)
    for c in range(2):
        r = radius[labels == c]
        assert r.max() - r.min() < 1.0, "a component mixes the two rings"
    assert topographic_error(m, X) < 0.05


def test_quantization_close_to_kmeans():
    cluster = pytest.importorskip("sklearn.cluster")
    X = blobs(3000, 4, 5, seed=2)
    m = GrowingNeuralGas(max_units=30, epochs=5, seed=0).fit(X)
    km = cluster.KMeans(30, n_init=1, random_state=0).fit(X)
    qe_km = np.sqrt(km.transform(X).min(axis=1) ** 2).mean()
    assert quantization_error(m, X) < 1.15 * qe_km


def test_units_grow_every_insert_every_samples():
    X = blobs(300, 3, 3, seed=0)
    m = GrowingNeuralGas(max_units=1000, epochs=1, insert_every=50, max_age=10_000, seed=0).fit(X)
    # no edge ever expires, so no unit is ever removed: 2 + 300 // 50 units
    assert len(m.prototypes_) == 2 + 300 // 50


def test_one_step_follows_fritzke():
    """A hand-checked step: winner and neighbours move, errors are squared, edges age."""
    s = GNGState(np.array([[0.0, 0.0], [10.0, 0.0]]), max_units=4)
    # connect 0-1 by a first sample near unit 0
    Z = np.array([[1.0, 0.0], [2.0, 0.0]])
    params = dict(eps_b=0.5, eps_n=0.1, max_age=50, insert_every=1000, alpha=0.5, decay=1.0,
                  max_units=4)
    s.run(Z, np.array([0]), 0, **params)
    assert np.allclose(s.W[0], [0.5, 0.0])  # winner moved half-way
    assert np.allclose(s.W[1], [10.0, 0.0])  # no neighbour yet, so unit 1 stays
    assert s.err[0] == pytest.approx(1.0)  # squared distance 1
    assert s.age[0, 1] == s.age[1, 0] == 0
    s.run(Z, np.array([1]), 1, **params)
    assert np.allclose(s.W[0], [1.25, 0.0])
    assert np.allclose(s.W[1], [10.0 - 0.1 * 8.0, 0.0])  # now a neighbour: moved by eps_n
    assert s.err[0] == pytest.approx(1.0 + 1.5**2)
    assert s.age[0, 1] == 0  # aged to 1, then refreshed


def test_insertion_between_largest_errors():
    s = GNGState(np.array([[0.0], [4.0]]), max_units=3)
    s._connect(0, 1)
    s.err[:2] = [8.0, 2.0]
    s._insert(alpha=0.5)
    assert s.n_active == 3 and s.hw == 3
    assert s.W[2, 0] == pytest.approx(2.0)
    assert s.age[0, 1] == -1 and s.age[0, 2] == 0 and s.age[2, 1] == 0
    assert s.nbrs[0] == {2} and s.nbrs[1] == {2} and s.nbrs[2] == {0, 1}
    assert list(s.err[:3]) == [4.0, 1.0, 4.0]


def test_expired_edges_and_isolated_units_are_removed():
    s = GNGState(np.array([[0.0], [1.0]]), max_units=4)
    s.W[2], s.w2[2], s.err[2] = [5.0], 25.0, 0.0
    s.hw, s.n_active = 3, 3
    s.free.remove(2)
    s._connect(0, 2)
    s.age[0, 2] = s.age[2, 0] = 3  # about to expire with max_age=3
    Z = np.array([[0.1]])
    s.run(Z, np.array([0]), 0, eps_b=0.1, eps_n=0.0, max_age=3, insert_every=100,
          alpha=0.5, decay=1.0, max_units=4)
    assert s.age[0, 2] == -1
    assert not np.isfinite(s.w2[2]) and s.n_active == 2 and 2 in s.free
    assert s.nbrs[0] == {1} and not s.nbrs[2]


def test_lazy_decay_equals_eager_decay():
    X = blobs(400, 2, 2, seed=4)
    m = GrowingNeuralGas(max_units=8, epochs=1, decay=0.9, max_age=10_000, seed=0).fit(X)
    # replay eagerly with the same seed and order
    rng = np.random.default_rng(0)
    init = X[rng.choice(len(X), 2, replace=False)]
    order = rng.permutation(len(X))
    W = list(init)
    E = [0.0, 0.0]
    edges: dict[tuple[int, int], int] = {}
    for step, i in enumerate(order, start=1):
        x = X[i]
        d = [float(np.sum((x - w) ** 2)) for w in W]
        s1, s2 = np.argsort(d, kind="stable")[:2]
        s1, s2 = int(s1), int(s2)
        nbs = [b if a == s1 else a for (a, b) in edges if s1 in (a, b)]
        for e in list(edges):
            if s1 in e:
                edges[e] += 1
        E[s1] += d[s1]
        W[s1] = W[s1] + 0.2 * (x - W[s1])
        for n in nbs:
            W[n] = W[n] + 0.006 * (x - W[n])
        edges[tuple(sorted((s1, s2)))] = 0
        if step % 100 == 0 and len(W) < 8:
            q = int(np.argmax(E))
            nq = [b if a == q else a for (a, b) in edges if q in (a, b)]
            f = max(nq, key=lambda u: E[u])
            W.append(0.5 * (W[q] + W[f]))
            del edges[tuple(sorted((q, f)))]
            r = len(W) - 1
            edges[(q, r)] = edges[(f, r)] = 0
            E[q] *= 0.5
            E[f] *= 0.5
            E.append(E[q])
        E = [e * 0.9 for e in E]
    assert np.allclose(m.prototypes_, np.array(W), rtol=1e-10, atol=1e-12)
    assert np.allclose(m.errors_, E, rtol=1e-9)
    assert {tuple(e) for e in m.topology_.edges.tolist()} == set(edges)


def test_save_load_keeps_graph_and_ages(tmp_path):
    X = blobs(200, 3, 3, seed=1)
    m = GrowingNeuralGas(max_units=12, epochs=5, seed=2).fit(X)
    loaded = protoflow.load(protoflow.save(m, tmp_path / "gng"))
    assert loaded.topology_ == m.topology_
    assert np.array_equal(loaded.edge_ages_, m.edge_ages_)
    assert loaded.get_params() == m.get_params()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("max_units", 1),
        ("max_units", 2.5),
        ("epochs", 0),
        ("eps_b", 0.0),
        ("eps_b", 1.5),
        ("eps_n", -0.1),
        ("max_age", 0),
        ("insert_every", 0),
        ("alpha", 2.0),
        ("decay", 0.0),
        ("decay", float("nan")),
        ("seed", -1),
    ],
)
def test_bad_parameters_name_the_parameter(param, value):
    with pytest.raises(ConfigError, match=f"'{param}'"):
        GrowingNeuralGas(**{param: value}).fit(blobs(50, 2, 2))


def test_bad_data():
    with pytest.raises(ValidationError, match="at least 2"):
        GrowingNeuralGas().fit([[1.0, 2.0]])
    X = blobs(50, 2, 2)
    X[3, 0] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        GrowingNeuralGas().fit(X)
    m = GrowingNeuralGas(max_units=5, epochs=1, seed=0).fit(blobs(50, 2, 2))
    with pytest.raises(ValidationError, match="features"):
        m.bmu(np.zeros((3, 3)))
