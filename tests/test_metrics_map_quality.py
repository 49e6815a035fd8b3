"""Map-quality metrics against brute-force implementations of their definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoflow.errors import ConfigError, MetricNotApplicableError, ValidationError
from protoflow.metrics import map_quality as mq
from protoflow.prototypes import PrototypeSet
from protoflow.topology import Graph, Lattice, NoTopology

TOPOLOGIES = {
    "rect": Lattice(3, 4),
    "hex": Lattice(3, 4, kind="hex"),
    "torus": Lattice(4, 3, toroidal=True),
    "graph": Graph(12, [(i, i + 1) for i in range(11)] + [(0, 5), (3, 9)]),
}


def _model(topology, seed=0, d=3):
    rng = np.random.default_rng(seed)
    return PrototypeSet(rng.normal(size=(topology.n_units, d)), topology)


def _data(seed, n=40, d=3):
    return np.random.default_rng(seed + 100).normal(size=(n, d))


def _dist(a, b):
    return float(np.sqrt(np.sum((np.asarray(a) - np.asarray(b)) ** 2)))


def _two_bmus(z, W):
    order = sorted(range(len(W)), key=lambda k: (_dist(z, W[k]), k))
    return order[0], order[1]


seeds = st.integers(0, 10_000)
topo_names = st.sampled_from(sorted(TOPOLOGIES))


# -- brute-force references, written from the definitions --------------------------------------


def bf_qe(Z, W):
    return np.mean([min(_dist(z, w) for w in W) for z in Z])


def bf_te(Z, W, D):
    return np.mean([D[_two_bmus(z, W)] > 1 for z in Z])


def bf_ce(Z, W, D, squared=False):
    K = len(W)
    f = (lambda a, b: _dist(a, b) ** 2) if squared else _dist
    P = np.full((K, K), np.inf)
    for i in range(K):
        P[i, i] = 0.0
        for j in range(K):
            if D[i, j] == 1:
                P[i, j] = f(W[i], W[j])
    for m, i, j in itertools.product(range(K), repeat=3):  # Floyd-Warshall
        P[i, j] = min(P[i, j], P[i, m] + P[m, j])
    out = []
    for z in Z:
        b1, b2 = _two_bmus(z, W)
        out.append(f(z, W[b1]) + P[b1, b2])
    return np.mean(out)


def bf_distortion(Z, W, D, T):
    total = 0.0
    for z in Z:
        b = _two_bmus(z, W)[0]
        total += sum(np.exp(-D[b, k] ** 2 / T**2) * _dist(z, W[k]) ** 2 for k in range(len(W)))
    return total / len(Z)


def bf_tp(W, D):
    K = len(W)
    dV = np.array([[_dist(a, b) for b in W] for a in W]) + 1e-16
    total = 0.0
    for j in range(K):
        others = [u for u in range(K) if u != j]
        nA = sorted(others, key=lambda u: (D[j, u], u))
        nV = sorted(others, key=lambda u: (dV[j, u], u))
        for k in range(1, K):
            prod = 1.0
            for m in range(k):
                prod *= (dV[j, nA[m]] / dV[j, nV[m]]) * (D[j, nA[m]] / D[j, nV[m]])
            total += np.log(prod ** (1.0 / (2 * k)))
    return total / (K * (K - 1))


def bf_kse(Z, W, D):
    n = len(Z)
    b = [_two_bmus(z, W)[0] for z in Z]
    Dd = np.array([[_dist(a, c) for c in Z] for a in Z])
    Dm = np.array([[D[i, j] for j in b] for i in b])
    Dd = Dd / Dd.max() if Dd.max() > 0 else Dd
    Dm = Dm / Dm.max() if Dm.max() > 0 else Dm
    return np.sum((Dd - Dm) ** 2) / (n * n - n)


def _rank_min(row, j):
    return sum(1 for v in row if v < row[j])


def bf_np_tw(Z, W, k):
    n = len(Z)
    proj = [W[_two_bmus(z, W)[0]] for z in Z]
    Dd = [[_dist(a, c) for c in Z] for a in Z]
    Dp = [[_dist(a, c) for c in proj] for a in proj]
    npen = tpen = 0.0
    for i in range(n):
        r = [_rank_min(Dd[i], j) for j in range(n)]
        rh = [_rank_min(Dp[i], j) for j in range(n)]
        w = (sum(v <= k for v in rh) - 1) / (sum(v <= k for v in r) - 1)
        for j in range(n):
            if i != j and r[j] <= k < rh[j]:
                npen += (rh[j] - k) * w
            if i != j and rh[j] <= k < r[j]:
                tpen += (r[j] - k) / w
    norm = 2.0 / (n * k * (2 * n - 3 * k - 1))
    return 1 - norm * npen, 1 - norm * tpen


def _bmus(Z, W):
    return np.array([_two_bmus(z, W)[0] for z in Z])


# -- internal indices ------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=seeds, name=topo_names)
def test_quantization_and_topographic_error_match_brute_force(seed, name):
    topo = TOPOLOGIES[name]
    m, Z = _model(topo, seed), _data(seed)
    W, D = m.prototypes_, topo.distances()
    assert mq.quantization_error(m, Z) == pytest.approx(bf_qe(Z, W), rel=1e-10)
    assert mq.topographic_error(m, Z) == pytest.approx(bf_te(Z, W, D))


def test_topographic_error_rect_is_four_neighbour():
    # units 0 and 5 on a 3x4 grid are diagonal: an error; 0 and 1 are not
    W = np.zeros((12, 2))
    W[0], W[5], W[1] = [0, 0], [1, 0], [5, 5]
    W[[2, 3, 4, 6, 7, 8, 9, 10, 11]] = 50 + np.arange(9)[:, None]
    m = PrototypeSet(W, Lattice(3, 4))
    assert mq.topographic_error(m, [[0.4, 0.0]]) == 1.0
    W[5], W[1] = [5, 5], [1, 0]
    assert mq.topographic_error(PrototypeSet(W, Lattice(3, 4)), [[0.4, 0.0]]) == 0.0


def test_topographic_error_zero_on_regular_grid():
    rows, cols = 5, 6
    r, c = np.divmod(np.arange(rows * cols), cols)
    m = PrototypeSet(np.column_stack([r, c]).astype(float), Lattice(rows, cols))
    Z = np.random.default_rng(0).uniform([0, 0], [rows - 1, cols - 1], size=(500, 2))
    assert mq.topographic_error(m, Z) == 0.0


def test_quantization_error_properties():
    m = _model(Lattice(3, 4))
    W = m.prototypes_
    assert mq.quantization_error(m, W) == pytest.approx(0.0, abs=1e-7)
    perm = np.random.default_rng(1).permutation(12)
    Z = _data(1)
    assert mq.quantization_error(PrototypeSet(W[perm]), Z) == pytest.approx(
        mq.quantization_error(m, Z)
    )
    # points on circles of radius 0.25 around the nodes of a unit grid: QE = 0.25
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = 0.25 * np.column_stack([np.cos(angles), np.sin(angles)])
    grid = np.array([[i, j] for i in range(3) for j in range(3)], dtype=float)
    pts = (grid[:, None, :] + ring[None]).reshape(-1, 2)
    assert mq.quantization_error(PrototypeSet(grid, Lattice(3, 3)), pts) == pytest.approx(0.25)


def test_blockwise_matches_brute_force_beyond_one_block():
    topo = Lattice(2, 3)
    m = _model(topo, 3, d=2)
    Z = np.random.default_rng(5).normal(size=(2600, 2))
    W = m.prototypes_
    full = ((Z[:, None] - W[None]) ** 2).sum(-1)
    order = np.argsort(full, axis=1, kind="stable")
    assert mq.quantization_error(m, Z) == pytest.approx(np.sqrt(full.min(1)).mean(), rel=1e-10)
    te = np.mean(topo.distances()[order[:, 0], order[:, 1]] > 1)
    assert mq.topographic_error(m, Z) == pytest.approx(te)
    assert mq.quantization_error(m, Z.astype(np.float32)) == pytest.approx(
        np.sqrt(full.min(1)).mean(), rel=1e-5
    )


@settings(max_examples=10, deadline=None)
@given(seed=seeds, name=topo_names, squared=st.booleans())
def test_combined_error_matches_brute_force(seed, name, squared):
    topo = TOPOLOGIES[name]
    m, Z = _model(topo, seed), _data(seed, n=25)
    got = mq.combined_error(m, Z, squared=squared)
    assert got == pytest.approx(bf_ce(Z, m.prototypes_, topo.distances(), squared), rel=1e-9)


def test_combined_error_disconnected_graph_is_inf():
    W = np.array([[0.0], [1.0], [10.0], [11.0]])
    m = PrototypeSet(W, Graph(4, [(0, 1), (2, 3)]))
    assert mq.combined_error(m, [[0.2]]) == pytest.approx(0.2 + 1.0)
    assert mq.combined_error(m, [[5.4]]) == np.inf  # BMUs 1 and 2 lie in different components


@settings(max_examples=10, deadline=None)
@given(seed=seeds, name=topo_names, T=st.floats(0.2, 5.0))
def test_distortion_matches_brute_force(seed, name, T):
    topo = TOPOLOGIES[name]
    m, Z = _model(topo, seed), _data(seed, n=20)
    got = mq.distortion(m, Z, temperature=T)
    assert got == pytest.approx(bf_distortion(Z, m.prototypes_, topo.distances(), T), rel=1e-9)


def test_distortion_small_temperature_is_mean_squared_quantization_error():
    m, Z = _model(Lattice(3, 4)), _data(2)
    d2 = ((Z[:, None] - m.prototypes_[None]) ** 2).sum(-1).min(1)
    assert mq.distortion(m, Z, temperature=1e-3) == pytest.approx(d2.mean(), rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(seed=seeds, name=topo_names)
def test_topographic_product_matches_brute_force(seed, name):
    topo = TOPOLOGIES[name]
    m = _model(topo, seed)
    assert mq.topographic_product(m) == pytest.approx(
        bf_tp(m.prototypes_, topo.distances()), rel=1e-9, abs=1e-12
    )


def test_topographic_product_sign_says_whether_the_map_dimension_fits():
    chain = np.arange(6, dtype=float)[:, None]
    assert mq.topographic_product(PrototypeSet(chain, Lattice(1, 6))) == pytest.approx(0.0, abs=1e-9)
    r, c = np.divmod(np.arange(36), 6)
    snake = np.column_stack([r, np.where(r % 2 == 0, c, 5 - c)]).astype(float)
    # a square of 2-D data on a 1-D chain: map too small, TP < 0
    assert mq.topographic_product(PrototypeSet(snake, Lattice(1, 36))) < -0.03
    # a line of 1-D data snaking over a 2-D map: map too large, TP > 0
    position = (r * 6 + np.where(r % 2 == 0, c, 5 - c)).astype(float)[:, None]
    assert mq.topographic_product(PrototypeSet(position, Lattice(6, 6))) > 0.03


@settings(max_examples=10, deadline=None)
@given(seed=seeds, name=topo_names)
def test_kruskal_shepard_matches_brute_force(seed, name):
    topo = TOPOLOGIES[name]
    m, Z = _model(topo, seed), _data(seed, n=30)
    assert mq.kruskal_shepard_error(m, Z) == pytest.approx(
        bf_kse(Z, m.prototypes_, topo.distances()), rel=1e-9
    )


def test_kruskal_shepard_increases_when_units_are_permuted():
    rows, cols = 4, 4
    r, c = np.divmod(np.arange(16), cols)
    W = np.column_stack([r, c]).astype(float)
    Z = np.random.default_rng(0).uniform(0, 3, size=(200, 2))
    ordered = mq.kruskal_shepard_error(PrototypeSet(W, Lattice(rows, cols)), Z)
    shuffled = W[np.random.default_rng(1).permutation(16)]
    assert mq.kruskal_shepard_error(PrototypeSet(shuffled, Lattice(rows, cols)), Z) > ordered


@settings(max_examples=10, deadline=None)
@given(seed=seeds, k=st.integers(1, 4), n_units=st.integers(2, 8))
def test_neighborhood_preservation_and_trustworthiness_match_brute_force(seed, k, n_units):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_units, 2))
    m = PrototypeSet(W)  # these two need no topology: projections are prototype vectors
    Z = rng.normal(size=(20, 2))
    npr, tw = bf_np_tw(Z, W, k)
    assert mq.neighborhood_preservation(m, Z, k=k) == pytest.approx(npr, rel=1e-10)
    assert mq.trustworthiness(m, Z, k=k) == pytest.approx(tw, rel=1e-10)


def test_trustworthiness_without_ties_matches_scikit_learn():
    manifold = pytest.importorskip("sklearn.manifold")
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 3)) * 10
    W = Z + rng.normal(scale=0.8, size=Z.shape)  # one prototype per point, distinct projections
    m = PrototypeSet(W)
    assert np.array_equal(m.bmu(Z), np.arange(40))
    for k in (1, 3, 5):
        assert mq.trustworthiness(m, Z, k=k) == pytest.approx(
            manifold.trustworthiness(Z, W, n_neighbors=k), rel=1e-12
        )
        assert mq.neighborhood_preservation(m, Z, k=k) == pytest.approx(
            manifold.trustworthiness(W, Z, n_neighbors=k), rel=1e-12
        )


# -- external indices --------------------------------------------------------------------------


def _labelled(seed, n=60, classes=3, n_units=6):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_units, 2))
    Z = rng.normal(size=(n, 2))
    y = rng.integers(0, classes, size=n)
    return PrototypeSet(W, Lattice(2, n_units // 2)), Z, y


@settings(max_examples=15, deadline=None)
@given(seed=seeds)
def test_purity_matches_brute_force(seed):
    m, Z, y = _labelled(seed)
    b = _bmus(Z, m.prototypes_)
    expected = sum(max(np.sum((b == k) & (y == c)) for c in set(y)) for k in set(b)) / len(y)
    assert mq.purity(m, Z, y) == pytest.approx(expected)


def test_nmi_matches_scikit_learn_arithmetic():
    metrics = pytest.importorskip("sklearn.metrics")
    for seed in range(5):
        m, Z, y = _labelled(seed)
        b = m.bmu(Z)
        expected = metrics.normalized_mutual_info_score(y, b, average_method="arithmetic")
        assert mq.nmi(m, Z, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("average", ["arithmetic", "geometric", "min", "max"])
def test_nmi_means_match_scikit_learn(average):
    metrics = pytest.importorskip("sklearn.metrics")
    for seed in range(3):
        m, Z, y = _labelled(seed)
        expected = metrics.normalized_mutual_info_score(y, m.bmu(Z), average_method=average)
        assert mq.nmi(m, Z, y, average=average) == pytest.approx(expected, rel=1e-10)


def test_nmi_rejects_an_unknown_mean():
    m, Z, y = _labelled(0)
    with pytest.raises(ConfigError, match="average"):
        mq.nmi(m, Z, y, average="harmonic")


def test_nmi_by_hand():
    m = PrototypeSet(np.array([[0.0], [10.0]]), Lattice(1, 2))
    Z = np.array([[0.0], [0.1], [10.0], [10.1]])
    assert mq.nmi(m, Z, ["a", "a", "b", "b"]) == pytest.approx(1.0)
    assert mq.nmi(m, Z, ["a", "b", "a", "b"]) == pytest.approx(0.0, abs=1e-12)
    assert mq.nmi(m, Z[:2], [1, 1]) == 1.0  # one cluster, one class


@settings(max_examples=15, deadline=None)
@given(seed=seeds)
def test_unsupervised_accuracy_is_the_best_permutation(seed):
    m, Z, y = _labelled(seed, classes=4, n_units=4)
    b = _bmus(Z, m.prototypes_)
    best = max(
        np.mean(np.array([perm[k] for k in b]) == y) for perm in itertools.permutations(range(4))
    )
    assert mq.unsupervised_accuracy(m, Z, y) == pytest.approx(best)


def _components(units, D):
    units, seen, count = set(units), set(), 0
    for u in units:
        if u in seen:
            continue
        count += 1
        stack = [u]
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            stack.extend(w for w in units if D[v, w] == 1 and w not in seen)
    return count


@settings(max_examples=15, deadline=None)
@given(seed=seeds, name=topo_names)
def test_class_scatter_index_matches_brute_force(seed, name):
    topo = TOPOLOGIES[name]
    m, Z = _model(topo, seed, d=2), _data(seed, n=30, d=2)
    y = np.random.default_rng(seed).integers(0, 3, size=30)
    b = _bmus(Z, m.prototypes_)
    expected = np.mean([_components(b[y == c], topo.distances()) for c in np.unique(y)])
    assert mq.class_scatter_index(m, Z, y) == pytest.approx(expected)


def test_class_scatter_index_by_hand():
    # 3x3 grid, one prototype per cell: class 0 on opposite corners (2 groups), class 1 on a
    # row of two adjacent units (1 group): mean 1.5
    r, c = np.divmod(np.arange(9), 3)
    W = np.column_stack([r, c]).astype(float)
    m = PrototypeSet(W, Lattice(3, 3))
    Z = W[[0, 8, 1, 2]]
    assert mq.class_scatter_index(m, Z, [0, 0, 1, 1]) == 1.5


# -- sharpness ---------------------------------------------------------------------------------


def _bf_sharpness(images, h, w, squared=False):
    out = []
    for img in images:
        a = img.reshape(h, w)
        vals = []
        for i in range(h):
            for j in range(w):
                gi = (a[min(i + 1, h - 1), j] - a[max(i - 1, 0), j]) / (min(i + 1, h - 1) - max(i - 1, 0))
                gj = (a[i, min(j + 1, w - 1)] - a[i, max(j - 1, 0)]) / (min(j + 1, w - 1) - max(j - 1, 0))
                g2 = gi * gi + gj * gj
                vals.append(g2 if squared else np.sqrt(g2))
        out.append(np.mean(vals))
    return np.mean(out)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5)])
@pytest.mark.parametrize("squared", [False, True])
def test_prototype_sharpness_ratio_matches_brute_force(shape, squared):
    rng = np.random.default_rng(0)
    h, w = shape
    X = rng.uniform(size=(15, h * w))
    W = rng.uniform(size=(4, h * w)) * 0.5
    got = mq.prototype_sharpness_ratio(
        PrototypeSet(W), X, image_shape=None if h == w else shape, squared=squared
    )
    expected = _bf_sharpness(W, h, w, squared) / _bf_sharpness(X, h, w, squared)
    assert got == pytest.approx(expected, rel=1e-12)


def test_prototype_sharpness_ratio_blurred_prototypes_score_below_one():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(50, 64))
    W = np.stack([X[i::5].mean(axis=0) for i in range(5)])  # averages are blurrier
    assert mq.prototype_sharpness_ratio(PrototypeSet(W), X) < 0.8
    assert mq.prototype_sharpness_ratio(PrototypeSet(X[:5]), X) == pytest.approx(
        mq.prototype_sharpness_ratio(PrototypeSet(X[:5]), X[:5])
        * _bf_sharpness(X[:5], 8, 8)
        / _bf_sharpness(X, 8, 8)
    )


# -- data space through an encoder -------------------------------------------------------------


class _LinearDecoder:
    """decode(Z) = Z @ A + c: latent 2-D -> data 5-D."""

    def __init__(self):
        rng = np.random.default_rng(7)
        self.A, self.c = rng.normal(size=(2, 5)), rng.normal(size=5)

    def decode(self, Z):
        return np.asarray(Z) @ self.A + self.c


def test_metrics_in_data_space_use_decoded_prototypes():
    enc = _LinearDecoder()
    topo = Lattice(2, 3)
    m = _model(topo, 4, d=2)
    Wx = enc.decode(m.prototypes_)
    X = np.random.default_rng(9).normal(size=(30, 5))
    D = topo.distances()
    assert mq.quantization_error(m, X, encoder=enc) == pytest.approx(bf_qe(X, Wx))
    assert mq.topographic_error(m, X, encoder=enc) == pytest.approx(bf_te(X, Wx, D))
    assert mq.combined_error(m, X, encoder=enc) == pytest.approx(bf_ce(X, Wx, D))
    assert mq.topographic_product(m, encoder=enc) == pytest.approx(bf_tp(Wx, D))
    assert mq.kruskal_shepard_error(m, X, encoder=enc) == pytest.approx(bf_kse(X, Wx, D))
    with pytest.raises(ValidationError, match="X has 2 features"):
        mq.quantization_error(m, X[:, :2], encoder=enc)


# -- errors ------------------------------------------------------------------------------------

TOPOLOGY_METRICS = [
    mq.topographic_error,
    mq.combined_error,
    mq.distortion,
    mq.kruskal_shepard_error,
    mq.topographic_product,
]


@pytest.mark.parametrize("metric", TOPOLOGY_METRICS, ids=lambda f: f.__name__)
def test_metrics_needing_topology_refuse_no_topology(metric):
    m = PrototypeSet(np.random.default_rng(0).normal(size=(5, 2)), NoTopology(5))
    with pytest.raises(MetricNotApplicableError, match="topology"):
        metric(m, _data(0, d=2))
    with pytest.raises(MetricNotApplicableError, match="topology"):
        mq.class_scatter_index(m, _data(0, d=2), np.zeros(40))


def test_topographic_error_needs_two_units():
    m = PrototypeSet(np.zeros((1, 2)), Lattice(1, 1))
    with pytest.raises(MetricNotApplicableError, match="at least 2 units"):
        mq.topographic_error(m, _data(0, d=2))


def test_topographic_product_refuses_disconnected_graph():
    m = PrototypeSet(np.arange(4.0)[:, None], Graph(4, [(0, 1), (2, 3)]))
    with pytest.raises(MetricNotApplicableError, match="connected"):
        mq.topographic_product(m)


ALL = [
    mq.quantization_error,
    *TOPOLOGY_METRICS,
    mq.neighborhood_preservation,
    mq.trustworthiness,
]


@pytest.mark.parametrize("metric", ALL, ids=lambda f: f.__name__)
def test_bad_points_raise_validation_error(metric):
    m = _model(Lattice(3, 4))
    Z = _data(0)
    bad = Z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        metric(m, bad)
    inf = Z.copy()
    inf[0, 0] = np.inf
    with pytest.raises(ValidationError, match="infinity"):
        metric(m, inf)
    with pytest.raises(ValidationError, match="features"):
        metric(m, Z[:, :2])


def test_unfitted_model_raises():
    from protoflow.errors import NotFittedError

    with pytest.raises(NotFittedError):
        mq.quantization_error(PrototypeSet(), _data(0))


def test_bad_parameters_name_the_parameter():
    m, Z = _model(Lattice(3, 4)), _data(0)
    with pytest.raises(ConfigError, match="'k'"):
        mq.trustworthiness(m, Z, k=20)
    with pytest.raises(ConfigError, match="'k'"):
        mq.neighborhood_preservation(m, Z, k=0)
    with pytest.raises(ConfigError, match="'temperature'"):
        mq.distortion(m, Z, temperature=0.0)
    img = PrototypeSet(np.zeros((2, 12)))
    with pytest.raises(ConfigError, match="'image_shape'"):
        mq.prototype_sharpness_ratio(img, np.ones((3, 12)))
    with pytest.raises(ConfigError, match="'image_shape'"):
        mq.prototype_sharpness_ratio(img, np.ones((3, 12)), image_shape=(5, 5))
    with pytest.raises(ValidationError, match="constant"):
        mq.prototype_sharpness_ratio(img, np.ones((3, 12)), image_shape=(3, 4))


def test_bad_labels_raise():
    m, Z, y = _labelled(0)
    with pytest.raises(ValidationError, match="y must have shape"):
        mq.purity(m, Z, y[:-1])
    with pytest.raises(ValidationError, match="y"):
        mq.nmi(m, Z, np.full(len(y), np.nan))
    with pytest.raises(ValidationError, match="y is None"):
        mq.unsupervised_accuracy(m, Z, None)
