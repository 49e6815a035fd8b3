"""Importers of foreign codebooks (protoflow.interop) against the libraries' own definitions.

Each foreign map is trained briefly on 200 x 4 points, imported, and compared with what the
library itself says: its neighbours (MiniSom's Euclidean coordinates, somoclu's training
kernel observed through a one-point update), its winners, its quantization error and (MiniSom)
its topographic error. The printed figures (``pytest -s``) are the agreement report.
"""

from __future__ import annotations

import numpy as np
import pytest

import protoflow
from protoflow import (
    ConfigError,
    Graph,
    Lattice,
    NoTopology,
    PrototypeSet,
    ValidationError,
    interop,
)
from protoflow.metrics.map_quality import quantization_error, topographic_error


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(5, 4))
    return (centres[rng.integers(0, 5, 200)] + rng.normal(size=(200, 4))).astype(np.float64)


def _pairs(adjacent: np.ndarray) -> set[tuple[int, int]]:
    i, j = np.nonzero(np.triu(adjacent, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def _report(name: str, ours: set, theirs: set, **figures: float) -> None:
    extra = " ".join(f"{k}={v:.3g}" for k, v in figures.items())
    print(f"\n[interop] {name}: neighbour pairs {len(ours & theirs)}/{len(theirs)} agree "
          f"(protoflow {len(ours)}) {extra}")


# -- MiniSom ---------------------------------------------------------------------------------

MINISOM_MAPS = [("rectangular", 6, 5), ("hexagonal", 6, 8), ("hexagonal", 7, 5), ("hexagonal", 10, 12)]


@pytest.fixture(scope="module", params=MINISOM_MAPS, ids=lambda p: f"{p[0]}-{p[1]}x{p[2]}")
def minisom_map(request, X):
    minisom = pytest.importorskip("minisom", reason="minisom is not installed (test extra)")
    topology, x, y = request.param
    som = minisom.MiniSom(x, y, 4, sigma=1.5, learning_rate=0.5, topology=topology, random_seed=1)
    som.pca_weights_init(X)
    som.train_batch(X, 400)
    return som


def test_minisom_unit_order_and_coordinates(minisom_map) -> None:
    som = minisom_map
    x, y, _ = som.get_weights().shape
    model = PrototypeSet.from_minisom(som)
    U = interop.minisom_units(som)
    assert U.shape == (x, y) and sorted(U.ravel()) == list(range(x * y))
    np.testing.assert_array_equal(model.prototypes_[U], som.get_weights())
    hexagonal = som.topology == "hexagonal"
    assert model.topology_ == Lattice(
        y, x, "hex" if hexagonal else "rect",
        hex_offset=("odd" if y % 2 else "even") if hexagonal else "odd",
    )
    xx, yy = som.get_euclidean_coordinates()
    xy = model.topology_.coordinates()[U]
    np.testing.assert_allclose(xy[..., 0], xx + (0.5 if hexagonal else 0.0), atol=1e-12)
    np.testing.assert_allclose(xy[..., 1], yy, atol=1e-12)


def test_minisom_neighbours_bmus_qe_te_agree(minisom_map, X) -> None:
    som = minisom_map
    x, y, _ = som.get_weights().shape
    model = interop.from_minisom(som)
    order = interop.minisom_units(som).ravel()  # MiniSom flat index i*y + j -> protoflow unit
    # MiniSom's neighbours: its coordinates at Euclidean distance 1 (what its hexagonal
    # topographic error and its neighbourhood functions use).
    xx, yy = som.get_euclidean_coordinates()
    P = np.column_stack([xx.ravel(), yy.ravel()])
    E = np.linalg.norm(P[:, None] - P[None], axis=-1)
    theirs = {tuple(sorted((int(order[a]), int(order[b])))) for a, b in _pairs(np.isclose(E, 1.0))}
    ours = _pairs(model.topology_.distances() == 1)
    wins = np.array([order[np.ravel_multi_index(som.winner(z), (x, y))] for z in X])
    bmus = protoflow.bmu(X, model.prototypes_)
    qe_diff = abs(quantization_error(model, X) - som.quantization_error(X))
    hexagonal = som.topology == "hexagonal"
    te = topographic_error(model, X, neighborhood="lattice" if hexagonal else "moore")
    te_diff = abs(te - som.topographic_error(X))
    _report(f"MiniSom {som.topology} {x}x{y}", ours, theirs, bmu_agreement=np.mean(bmus == wins),
            qe_diff=qe_diff, te_diff=te_diff, te=te)
    assert ours == theirs
    np.testing.assert_array_equal(bmus, wins)
    assert qe_diff < 1e-12
    assert te_diff < 1e-12
    if not hexagonal:
        # MiniSom's rectangular TE: grid distance <= 1.42, i.e. the 8 surrounding units
        gi, gj = np.divmod(np.arange(x * y), y)
        G = np.hypot(gi[:, None] - gi[None], gj[:, None] - gj[None])
        moore = {tuple(sorted((int(order[a]), int(order[b])))) for a, b in _pairs(G <= 1.42)}
        r, c = model.topology_.grid_position(np.arange(x * y))
        cheb = np.maximum(abs(r[:, None] - r[None]), abs(c[:, None] - c[None]))
        assert _pairs(cheb == 1) == moore
        assert topographic_error(model, X) >= te  # 4-neighbour count is never smaller


def test_plain_3d_codebook_is_wrong_for_minisom_hex(X) -> None:
    """Why the importer exists: the 3-D shortcut lays MiniSom's hex rows along the wrong axis."""
    minisom = pytest.importorskip("minisom", reason="minisom is not installed (test extra)")
    som = minisom.MiniSom(10, 12, 4, topology="hexagonal", random_seed=0)
    naive = PrototypeSet(som.get_weights())
    xx, yy = som.get_euclidean_coordinates()
    P = np.column_stack([xx.ravel(), yy.ravel()])
    theirs = _pairs(np.isclose(np.linalg.norm(P[:, None] - P[None], axis=-1), 1.0))
    wrong = _pairs(Lattice(10, 12, "hex").distances() == 1)  # the naive unit order is i*y + j
    assert len(theirs) == 317 and len(theirs ^ wrong) == 100
    assert naive.topology_.kind == "rect"


class _FakeMiniSom:
    def __init__(self, topology: str = "rectangular", **attrs) -> None:
        self._w = np.random.default_rng(0).normal(size=(3, 4, 2))
        self.topology = topology
        self.__dict__.update(attrs)

    def get_weights(self) -> np.ndarray:
        return self._w


def test_minisom_refusals_and_warnings() -> None:
    with pytest.raises(ConfigError, match="toroidal"):
        interop.from_minisom(_FakeMiniSom(toroidal=True))
    with pytest.raises(ConfigError, match="topology 'triangular'"):
        interop.from_minisom(_FakeMiniSom("triangular"))
    with pytest.raises(ConfigError, match="get_weights"):
        interop.from_minisom(object())
    bad = _FakeMiniSom()
    bad._w = np.zeros((3, 4))
    with pytest.raises(ValidationError, match="3 dimensions"):
        interop.from_minisom(bad)

    def _cosine_distance(x, w):  # MiniSom's name for its cosine distance method
        return x

    with pytest.warns(UserWarning, match="'cosine' distance"):
        interop.from_minisom(_FakeMiniSom(_activation_distance=_cosine_distance))


def test_imported_hex_map_saves_and_loads(tmp_path) -> None:
    model = interop.from_minisom(_FakeMiniSom("hexagonal"))  # y = 4 rows: the "even" layout
    assert model.topology_.hex_offset == "even"
    back = protoflow.load(protoflow.save(model, tmp_path / "m"))
    assert back.topology_ == model.topology_
    np.testing.assert_array_equal(back.prototypes_, model.prototypes_)


# -- somoclu ---------------------------------------------------------------------------------

SOMOCLU_MAPS = [
    ("rectangular", "planar", 5, 4),
    ("rectangular", "toroid", 5, 4),
    ("hexagonal", "planar", 5, 4),
    ("hexagonal", "planar", 4, 5),
    ("hexagonal", "toroid", 5, 4),
]


def _somoclu():
    return pytest.importorskip(
        "somoclu", reason="somoclu is not installed (it needs a hand-built wheel: benchmarks/README.md)"
    )


def _somoclu_neighbours(somoclu, n_columns: int, n_rows: int, grid: str, maptype: str) -> set:
    """somoclu's own neighbours, observed: one batch epoch with a bubble of radius 1 around a
    single unit moves exactly the units its training kernel puts at map distance <= 1."""
    pairs = set()
    for unit in range(n_columns * n_rows):
        cb = np.zeros((n_rows * n_columns, 2), dtype=np.float32)
        cb[unit] = 1.0
        som = somoclu.Somoclu(n_columns, n_rows, initialcodebook=cb, maptype=maptype,
                              gridtype=grid, neighborhood="bubble")
        som.train(np.ones((1, 2), dtype=np.float32), epochs=1, radius0=1, radiusN=1,
                  radiuscooling="exponential", scale0=1.0, scaleN=1.0, scalecooling="exponential")
        moved = np.flatnonzero(np.all(som.codebook.reshape(-1, 2) == 1.0, axis=1))
        pairs |= {(min(unit, v), max(unit, v)) for v in moved.tolist() if v != unit}
    return pairs


@pytest.mark.parametrize("grid,maptype,n_columns,n_rows", SOMOCLU_MAPS)
def test_somoclu_neighbours_bmus_qe_agree(grid, maptype, n_columns, n_rows, X) -> None:
    somoclu = _somoclu()
    data = X.astype(np.float32)
    som = somoclu.Somoclu(n_columns, n_rows, maptype=maptype, gridtype=grid, initialization="pca")
    som.train(data, epochs=10)
    model = PrototypeSet.from_somoclu(som)
    n = n_rows * n_columns
    np.testing.assert_array_equal(model.prototypes_, som.codebook.reshape(n, -1))
    theirs = _somoclu_neighbours(somoclu, n_columns, n_rows, grid, maptype)
    ours = _pairs(model.topology_.distances() == 1)
    am = som.get_surface_state(data)  # somoclu's own (n_samples, n_units) Euclidean distances
    col_row = som.get_bmus(am)
    wins = col_row[:, 1] * n_columns + col_row[:, 0]
    bmus = protoflow.bmu(data, model.prototypes_)
    qe_diff = abs(quantization_error(model, data) - am.min(axis=1).mean())
    _report(f"somoclu {grid} {maptype} {n_columns}x{n_rows}", ours, theirs,
            bmu_agreement=np.mean(bmus == wins), qe_diff=qe_diff)
    assert np.mean(bmus == wins) >= 0.99  # float32 codebook: a near-tie may flip
    assert qe_diff < 1e-5
    if grid == "rectangular":
        assert ours == theirs
        assert model.topology_ == Lattice(n_rows, n_columns, "rect", maptype == "toroid")
        # somoclu's U-matrix: mean codebook distance to the units within 1.5, the 8-neighbours
        r, c = np.divmod(np.arange(n), n_columns)
        dr, dc = abs(r[:, None] - r[None]), abs(c[:, None] - c[None])
        if maptype == "toroid":
            dr, dc = np.minimum(dr, n_rows - dr), np.minimum(dc, n_columns - dc)
        moore = np.maximum(dr, dc) == 1
        W = model.prototypes_.astype(np.float64)
        D = np.linalg.norm(W[:, None] - W[None], axis=-1)
        umatrix = (D * moore).sum(axis=1) / moore.sum(axis=1)
        np.testing.assert_allclose(umatrix, som.umatrix.ravel(), rtol=1e-5, atol=1e-6)
    else:
        assert model.topology_ == Lattice(n_rows, n_columns, "hex", maptype == "toroid",
                                          hex_offset="even")
        # somoclu 1.7.6's kernel is not a hexagonal lattice; neighbors="kernel" reproduces it
        kernel = interop.from_somoclu(som, neighbors="kernel").topology_
        assert isinstance(kernel, Graph)
        assert _pairs(kernel.distances() == 1) == theirs
        assert len(ours & theirs) < len(theirs)


def test_somoclu_refusals() -> None:
    somoclu = _somoclu()
    som = somoclu.Somoclu(4, 3, maptype="toroid", gridtype="hexagonal")
    with pytest.raises(ValidationError, match="train the map"):
        interop.from_somoclu(som)
    som.train(np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32), epochs=2)
    with pytest.raises(ConfigError, match="odd number of rows"):
        interop.from_somoclu(som)
    assert isinstance(interop.from_somoclu(som, neighbors="kernel").topology_, Graph)
    with pytest.raises(ConfigError, match="neighbors"):
        interop.from_somoclu(som, neighbors="hex")
    with pytest.raises(ConfigError, match=r"somoclu\.Somoclu"):
        interop.from_somoclu(object())


# -- scikit-learn ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kmeans(X):
    cluster = pytest.importorskip("sklearn.cluster")
    return cluster.KMeans(n_clusters=12, n_init=1, random_state=0).fit(X)


def test_sklearn_none_agrees(kmeans, X) -> None:
    model = PrototypeSet.from_sklearn(kmeans)
    assert model.topology_ == NoTopology(12)
    np.testing.assert_array_equal(model.prototypes_, kmeans.cluster_centers_)
    bmus = protoflow.bmu(X, model.prototypes_)
    d2 = protoflow.activations(X, model.prototypes_).min(axis=1).clip(min=0)
    inertia_rel = abs(d2.sum() - kmeans.inertia_) / kmeans.inertia_
    score_rel = abs(d2.sum() + kmeans.score(X)) / kmeans.inertia_
    print(f"\n[interop] sklearn KMeans none: bmu_agreement={np.mean(bmus == kmeans.predict(X)):.3g} "
          f"inertia_rel_diff={inertia_rel:.3g} score_rel_diff={score_rel:.3g}")
    np.testing.assert_array_equal(bmus, kmeans.predict(X))
    np.testing.assert_array_equal(bmus, kmeans.labels_)
    assert inertia_rel < 1e-10 and score_rel < 1e-10
    assert quantization_error(model, X) == pytest.approx(np.sqrt(d2).mean(), rel=1e-12)


@pytest.mark.parametrize("k", [1, 4])
def test_sklearn_knn_agrees(kmeans, X, k) -> None:
    neighbors = pytest.importorskip("sklearn.neighbors")
    model = interop.from_sklearn(kmeans, "knn", k=k)
    assert isinstance(model.topology_, Graph)
    G = neighbors.kneighbors_graph(kmeans.cluster_centers_, k, include_self=False).toarray() > 0
    theirs = _pairs(G | G.T)
    ours = _pairs(model.topology_.distances() == 1)
    _report(f"sklearn KMeans knn k={k}", ours, theirs)
    assert ours == theirs
    assert all(len(model.topology_.neighbors(u)) >= k for u in range(12))
    assert 0.0 <= topographic_error(model, X) <= 1.0


def test_sklearn_minibatch_and_refusals(X) -> None:
    cluster = pytest.importorskip("sklearn.cluster")
    mbk = cluster.MiniBatchKMeans(n_clusters=6, n_init=1, random_state=0, batch_size=64).fit(X)
    model = interop.from_sklearn(mbk)
    np.testing.assert_array_equal(protoflow.bmu(X, model.prototypes_), mbk.predict(X))
    with pytest.raises(ConfigError, match="cluster_centers_"):
        interop.from_sklearn(cluster.KMeans(n_clusters=3))
    with pytest.raises(ConfigError, match=r"'k' must be an integer in 1\.\.5"):
        interop.from_sklearn(mbk, "knn", k=6)
    with pytest.raises(ConfigError, match="'none' or 'knn'"):
        interop.from_sklearn(mbk, "lattice")


# -- the topographic error's neighbourhood -----------------------------------------------------


def test_topographic_error_neighbourhoods() -> None:
    # three points whose (first, second) BMUs are side by side (0, 1), diagonal (0, 4) and
    # two rows and columns apart (0, 8) on a 3x3 grid; the other units lie far away
    lat = Lattice(3, 3)
    W = np.array([[50.0 + 10 * k, 50.0] for k in range(9)])
    W[0], W[1], W[4], W[8] = (0, 0), (1, 0), (0, 1), (-1, 0)
    Z = np.array([[0.4, 0.0], [0.0, 0.4], [-0.4, 0.0]])
    b = np.argsort(protoflow.activations(Z, W), axis=1)[:, :2]
    assert b.tolist() == [[0, 1], [0, 4], [0, 8]]
    model = PrototypeSet(W, lat)
    assert topographic_error(model, Z) == pytest.approx(2 / 3)
    assert topographic_error(model, Z, neighborhood="moore") == pytest.approx(1 / 3)
    assert topographic_error(model, Z, neighborhood="8") == pytest.approx(1 / 3)
    # on a 3x3 torus every unit touches every other in the 8-neighbourhood
    torus = PrototypeSet(W, Lattice(3, 3, toroidal=True))
    assert topographic_error(torus, Z, neighborhood="moore") == 0.0
    assert topographic_error(torus, Z) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="rectangular lattice"):
        topographic_error(PrototypeSet(W, Lattice(3, 3, "hex")), Z, neighborhood="moore")
    with pytest.raises(ConfigError, match="neighborhood"):
        topographic_error(model, Z, neighborhood="queen")
