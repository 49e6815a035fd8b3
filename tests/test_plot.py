"""protoflow.plot: every function on rect, hex and toroidal lattices, a graph and no topology;
the drawn values checked against brute force (hits, U-matrix, class map)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402

import protoflow  # noqa: E402
from protoflow import plot  # noqa: E402
from protoflow.errors import (  # noqa: E402
    ConfigError,
    NotFittedError,
    TopologyError,
    ValidationError,
)
from protoflow.protocols import Trajectory  # noqa: E402
from protoflow.prototypes import PrototypeSet  # noqa: E402
from protoflow.report import figures as F  # noqa: E402
from protoflow.topology import Graph, Lattice, NoTopology  # noqa: E402

TOPOLOGIES = {
    "rect": Lattice(3, 4),
    "hex": Lattice(3, 4, kind="hex"),
    "torus": Lattice(4, 5, toroidal=True),
    "hex-torus": Lattice(4, 6, kind="hex", toroidal=True),
    "graph": Graph(7, [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5)]),  # unit 6 is isolated
}
LABEL = "mean distance to neighbours"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _model(topo, n_features=3, seed=0):
    W = np.random.default_rng(seed).normal(size=(topo.n_units, n_features))
    return PrototypeSet(W, topo)


def _data(n=120, n_features=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, 3, size=n)


def _units(ax) -> np.ndarray:
    """The per-unit values drawn on `ax` (the artist protoflow.plot tags), flattened."""
    found = [a for a in [*ax.images, *ax.collections] if a.get_gid() == "protoflow-units"]
    assert len(found) == 1
    return np.ma.filled(np.ma.asarray(found[0].get_array(), dtype=float), np.nan).ravel()


def _colorbar_labels(ax) -> list[str]:
    return [a.get_ylabel() for a in ax.figure.axes if a is not ax]


def _lattice_neighbours(topo: Lattice, unit: int) -> set[int]:
    """Brute force, independent of Topology: 4 (rect) or 6 (odd-r hex) offsets, wrapped on a
    torus, dropped off the edge otherwise."""
    r, c = divmod(unit, topo.cols)
    if topo.kind == "rect":
        offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    elif r % 2 == 0:
        offsets = [(-1, -1), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 0)]
    else:
        offsets = [(-1, 0), (-1, 1), (0, -1), (0, 1), (1, 0), (1, 1)]
    out = set()
    for dr, dc in offsets:
        rr, cc = r + dr, c + dc
        if topo.toroidal:
            rr, cc = rr % topo.rows, cc % topo.cols
        elif not (0 <= rr < topo.rows and 0 <= cc < topo.cols):
            continue
        out.add(rr * topo.cols + cc)
    return out


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_umatrix_values_are_the_mean_distance_to_neighbours(name):
    topo = TOPOLOGIES[name]
    model = _model(topo)
    W = model.prototypes_
    expected = np.full(topo.n_units, np.nan)
    for i in range(topo.n_units):
        if isinstance(topo, Lattice):
            nb = sorted(_lattice_neighbours(topo, i))
        else:
            nb = sorted({int(b) for a, b in topo.edges if a == i} | {int(a) for a, b in topo.edges if b == i})
        if nb:
            expected[i] = np.mean([np.linalg.norm(W[j] - W[i]) for j in nb])
    ax = plot.umatrix(model)
    np.testing.assert_allclose(_units(ax), expected, equal_nan=True)
    np.testing.assert_allclose(plot.umatrix_values(model), expected, equal_nan=True)
    assert LABEL in _colorbar_labels(ax)
    assert ax.get_title().startswith("U-matrix") and ax.get_xlabel() and ax.get_ylabel()
    if name == "graph":
        assert np.isnan(_units(ax)[6])  # the isolated unit has no neighbours


def test_torus_wrap_changes_the_border_units():
    W = np.random.default_rng(0).normal(size=(20, 3))
    flat = plot.umatrix_values(PrototypeSet(W, Lattice(4, 5)))
    torus = plot.umatrix_values(PrototypeSet(W, Lattice(4, 5, toroidal=True)))
    interior = [6, 7, 8, 11, 12, 13]
    np.testing.assert_allclose(flat[interior], torus[interior])
    assert not np.allclose(flat[[0, 4, 15, 19]], torus[[0, 4, 15, 19]])


@pytest.mark.parametrize("name", ["hex", "hex-torus"])
def test_hex_lattice_is_drawn_as_one_hexagon_per_unit(name):
    topo = TOPOLOGIES[name]
    ax = plot.umatrix(_model(topo))
    coll = next(a for a in ax.collections if a.get_gid() == "protoflow-units")
    paths = coll.get_paths()
    assert len(paths) == topo.n_units
    assert all(len(np.unique(p.vertices[:-1].round(9), axis=0)) == 6 for p in paths)


def test_ax_is_used_and_returned():
    _fig, axes = plt.subplots(1, 2)
    assert plot.umatrix(_model(TOPOLOGIES["rect"]), ax=axes[1]) is axes[1]
    assert axes[1].images and not axes[0].images
    ax = plot.umatrix(_model(TOPOLOGIES["rect"]), colorbar=False)
    assert len(ax.figure.axes) == 1


@pytest.mark.parametrize("name", [*TOPOLOGIES, "none"])
def test_hits_are_bmu_counts(name):
    topo = TOPOLOGIES.get(name, NoTopology(5))
    model = _model(topo)
    X, _ = _data()
    ax = plot.hits(model, X)
    counts = _units(ax)
    assert counts.sum() == len(X)
    np.testing.assert_array_equal(counts, np.bincount(model.bmu(X), minlength=topo.n_units))
    assert "hits (samples per unit)" in _colorbar_labels(ax)
    assert ax.get_title().startswith(f"Hit map ({len(X)} samples)")
    texts = sorted(int(t.get_text()) for t in ax.texts)
    assert texts == sorted(counts.astype(int).tolist())  # every unit annotated


@pytest.mark.parametrize("name", [*TOPOLOGIES, "none"])
def test_class_map_draws_the_majority_label(name):
    topo = TOPOLOGIES.get(name, NoTopology(5))
    model = _model(topo)
    X, y = _data()
    names = np.array(["zero", "one", "two"])[y]
    ax = plot.class_map(model, X, names)
    drawn = _units(ax)
    bmu = model.bmu(X)
    classes = np.unique(names)
    for u in range(topo.n_units):
        won = names[bmu == u]
        if len(won) == 0:
            assert np.isnan(drawn[u])
        else:
            counts = [np.sum(won == c) for c in classes]
            assert drawn[u] == int(np.argmax(counts))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(classes) <= set(legend)
    assert ("no hits" in legend) == bool(np.isnan(drawn).any())


def test_class_map_checks_y():
    X, y = _data()
    with pytest.raises(ValidationError, match="one label per row"):
        plot.class_map(_model(TOPOLOGIES["rect"]), X, y[:-1])


@pytest.mark.parametrize("name", [*TOPOLOGIES, "none"])
def test_component_planes_returns_one_axes_per_feature(name):
    topo = TOPOLOGIES.get(name, NoTopology(5))
    model = _model(topo, n_features=5)
    axes = plot.component_planes(model)
    assert isinstance(axes, np.ndarray) and axes.shape == (5,)
    for d, ax in enumerate(axes):
        np.testing.assert_allclose(_units(ax), model.prototypes_[:, d])
        assert ax.get_title() == f"z[{d}]"
    fig = axes[0].figure
    assert len(fig.axes) == 5 + 5 + 3  # planes, their colour bars, 3 hidden cells of a 2x4 grid
    assert fig._suptitle is not None and "Component planes" in fig._suptitle.get_text()
    sub = plot.component_planes(model, features=[4, 1], names=["a", "b"])
    assert [a.get_title() for a in sub] == ["a", "b"]
    np.testing.assert_allclose(_units(sub[0]), model.prototypes_[:, 4])
    with pytest.raises(ConfigError):
        plot.component_planes(model, features=[5])


@pytest.mark.parametrize("name", ["rect", "hex", "graph", "none"])
def test_prototypes_as_images_lays_out_the_mosaic(name):
    topo = TOPOLOGIES.get(name, NoTopology(5))
    model = _model(topo, n_features=6)
    ax = plot.prototypes_as_images(model, (2, 3))
    mosaic = ax.images[0].get_array()
    rows, cols = (topo.rows, topo.cols) if isinstance(topo, Lattice) else (
        int(np.ceil(topo.n_units / np.ceil(np.sqrt(topo.n_units)))), int(np.ceil(np.sqrt(topo.n_units))))
    shift = 2 if name == "hex" else 0  # odd rows shifted by half an image
    assert mosaic.shape == (rows * 3 + 1, cols * 4 + 1 + shift)
    np.testing.assert_allclose(mosaic[1:3, 1:4], model.prototypes_[0].reshape(2, 3))
    assert ax.get_title().startswith("Prototypes") and ax.get_xlabel() and ax.get_ylabel()


def test_prototypes_as_images_decodes_with_an_encoder():
    X, _ = _data(n=80, n_features=8)
    enc = protoflow.create_encoder("pca", n_components=3).fit(X)
    model = PrototypeSet(enc.encode(X[:12]), Lattice(3, 4))
    ax = plot.prototypes_as_images(model, (2, 4), decoder=enc)
    first = enc.decode(model.prototypes_[:1]).reshape(2, 4)
    lo, hi = ax.images[0].get_clim()
    np.testing.assert_allclose(ax.images[0].get_array()[1:3, 1:5], np.clip(first, lo, hi))
    assert ax.get_title().startswith("Decoded prototypes")
    with pytest.raises(ValidationError, match="image_shape"):
        plot.prototypes_as_images(model, (3, 3), decoder=enc)
    with pytest.raises(ConfigError):
        plot.prototypes_as_images(model, (2, 4), decoder="nope")


def _segments(ax) -> list[np.ndarray]:
    return [np.column_stack(line.get_data()) for line in ax.lines if len(line.get_xdata()) > 1]


def test_trajectory_on_a_torus_wraps_across_the_seam():
    topo = TOPOLOGIES["torus"]  # 4 x 5
    bmus = np.array([5, 5, 9, 8, 3])  # row 1: col 0 -> col 4 (across the seam) -> col 3; up
    traj = Trajectory(points=np.zeros((5, 3)), bmus=bmus, controller="music", target=3)
    ax = plot.trajectory_on_map(_model(topo), traj)
    segs = _segments(ax)
    assert len(segs) == 2  # the seam splits the path
    steps = np.concatenate([np.linalg.norm(np.diff(s, axis=0), axis=1) for s in segs])
    np.testing.assert_allclose(steps, 1.0)  # every drawn step is one cell long
    assert ax.get_xlim() == (-0.5, 4.5)  # the off-map parts do not widen the view
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"music", "start", "end", "target"} <= set(legend)
    assert LABEL in _colorbar_labels(ax) and "music path over the U-matrix" in ax.get_title()


@pytest.mark.parametrize("name", ["rect", "hex", "hex-torus", "graph"])
def test_trajectory_follows_the_bmus(name):
    topo = TOPOLOGIES[name]
    bmus = np.array([0, 0, 1, 2, 2, 3])
    traj = Trajectory(points=np.zeros((6, 3)), bmus=bmus)
    ax = plot.trajectory_on_map(_model(topo), traj)
    segs = _segments(ax)
    xy = topo.coordinates()
    np.testing.assert_allclose(np.concatenate(segs), xy[[0, 1, 2, 3]])


def test_trajectory_batch_and_checks():
    topo = TOPOLOGIES["rect"]
    traj = Trajectory(points=np.zeros((2, 3, 3)), bmus=np.array([[0, 1, 2], [4, 5, 6]]))
    ax = plot.trajectory_on_map(_model(topo), traj)
    assert len(_segments(ax)) == 2
    ax = plot.trajectory_on_map(_model(topo), traj, path=1)
    np.testing.assert_allclose(_segments(ax)[0], topo.coordinates()[[4, 5, 6]])
    bad = Trajectory(points=np.zeros((2, 3)), bmus=np.array([0, 99]))
    with pytest.raises(ValidationError, match="unit 99"):
        plot.trajectory_on_map(_model(topo), bad)
    with pytest.raises(ValidationError, match="Trajectory"):
        plot.trajectory_on_map(_model(topo), np.zeros((3, 3)))


def test_no_topology_is_a_clear_error():
    model = _model(NoTopology(6))
    traj = Trajectory(points=np.zeros((2, 3)), bmus=np.array([0, 1]))
    for call in (lambda: plot.umatrix(model), lambda: plot.umatrix_values(model),
                 lambda: plot.trajectory_on_map(model, traj)):
        with pytest.raises(TopologyError, match="no topology") as info:
            call()
        assert "hits(model, X)" in str(info.value)
    assert F.umatrix(model, "u") is None  # the report skips it


def test_inputs_are_validated():
    model = _model(TOPOLOGIES["rect"])
    with pytest.raises(ValidationError, match="features"):
        plot.hits(model, np.zeros((4, 2)))
    with pytest.raises(ValidationError, match=r"NaN|inf"):
        plot.hits(model, np.full((4, 3), np.nan))
    with pytest.raises(NotFittedError):
        plot.umatrix(protoflow.create_model("som", rows=2, cols=2))
    with pytest.raises(ValidationError, match="fitted protoflow model"):
        plot.umatrix(np.zeros((4, 3)))


def test_decoded_strip_shows_n_evenly_spaced_frames():
    P = np.arange(21 * 4, dtype=float).reshape(21, 4)
    traj = Trajectory(points=P, bmus=np.zeros(21, dtype=int), controller="music")
    ax = plot.decoded_strip(traj, lambda Z: Z, (2, 2), n=5)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "5", "10", "15", "20"]
    mosaic = ax.images[0].get_array()
    assert mosaic.shape == (4, 5 * 3 + 1)
    np.testing.assert_allclose(mosaic[1:3, 4:6], P[5].reshape(2, 2))
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "music"
    assert ax.get_title() == "Decoded trajectory (20 steps)"
    with pytest.raises(ConfigError):
        plot.decoded_strip(traj, None, (2, 2), n=0)


def test_confidence_curves_match_the_classifier():
    from sklearn.linear_model import LogisticRegression

    X, y = _data(n=200)
    clf = LogisticRegression().fit(X, y)
    a = Trajectory(points=np.linspace(X[0], X[1], 8), bmus=np.zeros(8, dtype=int), controller="music")
    b = np.linspace(X[2], X[3], 8)
    ax = plot.confidence_curves({"music": a, "line": b}, clf)
    assert [line.get_label() for line in ax.lines] == ["music", "line"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), clf.predict_proba(a.points).max(axis=1))
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "confidence of predicted class"
    assert str(clf.predict(a.points[:1])[0]) == ax.texts[0].get_text()
    with pytest.raises(ConfigError, match="predict_proba"):
        plot.confidence_curves(a, object())


def test_a_real_gng_and_knn_kmeans_draw_as_graphs():
    X, _y = _data(n=150)
    for model in (protoflow.create_model("gng", max_units=12, epochs=2, seed=0).fit(X),
                  protoflow.create_model("kmeans", n_units=8, topology="knn", k=2, seed=0).fit(X)):
        assert isinstance(model.topology_, Graph)
        ax = plot.umatrix(model)
        np.testing.assert_allclose(_units(ax), plot.umatrix_values(model), equal_nan=True)
        assert _units(plot.hits(model, X)).sum() == len(X)


def test_the_report_draws_with_protoflow_plot(monkeypatch):
    model = _model(TOPOLOGIES["hex"])
    calls = []
    real = plot.umatrix
    monkeypatch.setattr(plot, "umatrix", lambda *a, **k: calls.append(k) or real(*a, **k))
    png = F.umatrix(model, "hex: U-matrix")
    assert png.startswith(b"\x89PNG") and calls and calls[0]["title"] == "hex: U-matrix"
    assert F.umatrix(model, "hex: U-matrix") == png  # deterministic bytes


def test_matplotlib_is_imported_lazily_with_a_clear_error():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import numpy as np, protoflow, protoflow.plot, protoflow.report.figures\n"
        "m = protoflow.PrototypeSet(np.eye(4), protoflow.Lattice(2, 2))\n"
        "try:\n    protoflow.plot.umatrix(m)\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "need matplotlib: pip install 'protoflow-core[report]'" in out.stdout
    code = "import sys, protoflow, protoflow.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_even_offset_hex_lattice_is_drawn_where_its_coordinates_are():
    import attrs

    if "hex_offset" not in attrs.fields_dict(Lattice):
        pytest.skip("this checkout's Lattice has no hex_offset")
    topo = Lattice(4, 3, kind="hex", hex_offset="even")
    model = _model(topo, n_features=4)
    coll = next(a for a in plot.umatrix(model).collections if a.get_gid() == "protoflow-units")
    centres = np.array([p.vertices[:-1].mean(axis=0) for p in coll.get_paths()])
    np.testing.assert_allclose(centres, topo.coordinates(), atol=1e-9)
    mosaic = plot.prototypes_as_images(model, (2, 2)).images[0].get_array()
    np.testing.assert_allclose(mosaic[1:3, 2:4], model.prototypes_[0].reshape(2, 2))  # row 0 shifted
    np.testing.assert_allclose(mosaic[4:6, 1:3], model.prototypes_[3].reshape(2, 2))  # row 1 not
