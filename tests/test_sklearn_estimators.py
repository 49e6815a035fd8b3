"""protoflow's models and encoders as scikit-learn estimators (docs/sklearn.md).

scikit-learn's own estimator checks run over every built-in model and encoder, with the few
expected failures declared (and explained in docs/sklearn.md); then the ways people use
estimators: Pipeline, GridSearchCV, cross_val_score, clone; the MiniSom vocabulary against
brute-force definitions; reprs; and that ``import protoflow`` leaves scikit-learn unloaded.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_clusterer_compute_labels_predict,
    check_clustering,
    parametrize_with_checks,
)

import protoflow  # noqa: E402
from protoflow.errors import NotFittedError, TopologyError  # noqa: E402

# -- the estimators, small -----------------------------------------------------------------

BUILDERS: dict[str, Any] = {
    "som": lambda: protoflow.create_model("som", rows=2, cols=2, epochs=3, seed=0),
    "toroidal-som": lambda: protoflow.create_model("toroidal-som", rows=2, cols=2, epochs=3, seed=0),
    "gng": lambda: protoflow.create_model("gng", max_units=4, epochs=2, insert_every=10, seed=0),
    "kmeans": lambda: protoflow.create_model("kmeans", n_units=3, seed=0),
    "pca": lambda: protoflow.create_encoder("pca"),
    "identity": lambda: protoflow.create_encoder("identity"),
}
MODELS = ("som", "toroidal-som", "gng", "kmeans")

#: every expected failure, with its reason (each explained in docs/sklearn.md)
OBJECT_DTYPE = ("protoflow refuses object-dtype arrays on purpose (protoflow.validation."
                "check_array: 'must hold numbers'), where scikit-learn converts them")
ONE_SAMPLE_PCA = ("the SOM's default init='pca' needs two samples; its error says so in words "
                  "scikit-learn's check does not look for")
PARTIAL_FIT_WIDTH = ("SOM.partial_fit refuses data of the wrong width in protoflow's words "
                     "('X has 1 features, but 4 were expected'), not scikit-learn's")


def expected_failures(estimator: Any) -> dict[str, str]:
    """The checks each estimator is known to fail, and why."""
    out = {"check_dtype_object": OBJECT_DTYPE}
    if type(estimator).__name__ in ("SOM", "ToroidalSOM"):
        out["check_fit2d_1sample"] = ONE_SAMPLE_PCA
        out["check_n_features_in_after_fitting"] = PARTIAL_FIT_WIDTH
    return out


with warnings.catch_warnings():
    # "does not inherit from sklearn.base.BaseEstimator": on purpose (protoflow must not
    # import scikit-learn); the checks below are what that warning is worried about
    warnings.filterwarnings("ignore", message=".*does not inherit from", category=UserWarning)
    _CHECKS = parametrize_with_checks([build() for build in BUILDERS.values()],
                                      expected_failed_checks=expected_failures)


@_CHECKS
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("memmap", [False, True])
def test_sklearn_clustering_checks(name: str, memmap: bool) -> None:
    """scikit-learn runs its clusterer checks only for subclasses of its ClusterMixin (which
    protoflow cannot inherit without importing scikit-learn), so they run here by hand."""
    if not memmap:
        check_clusterer_compute_labels_predict(name, BUILDERS[name]())
    check_clustering(name, BUILDERS[name](), readonly_memmap=memmap)


def test_the_expected_failures_still_fail() -> None:
    """An expected failure that starts passing should be removed from the list (and docs)."""
    from sklearn.utils.estimator_checks import (
        check_dtype_object,
        check_fit2d_1sample,
        check_n_features_in_after_fitting,
    )

    for name in BUILDERS:
        with pytest.raises((AssertionError, ValueError)):
            check_dtype_object(name, BUILDERS[name]())
    with pytest.raises(AssertionError, match="1 sample"):
        check_fit2d_1sample("som", BUILDERS["som"]())
    with pytest.raises(AssertionError, match="but 4 were expected"):
        check_n_features_in_after_fitting("som", BUILDERS["som"]())


# -- data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 0.0], [0.0, 5.0, 5.0, 5.0]])
    y = np.repeat(np.arange(3), 20)
    X = centres[y] + rng.normal(scale=0.6, size=(60, 4))
    return X, y


def som(**kw: Any) -> Any:
    return protoflow.create_model("som", **{"rows": 3, "cols": 3, "epochs": 5, "seed": 0, **kw})


# -- using the estimators --------------------------------------------------------------------


def test_pipeline_scaler_pca_som_predict(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    pipe = make_pipeline(StandardScaler(), protoflow.create_encoder("pca", n_components=2), som())
    labels = pipe.fit(X).predict(X)
    scaler, pca, model = (step for _, step in pipe.steps)
    Z = pca.encode(scaler.transform(X))
    np.testing.assert_array_equal(labels, model.bmu(Z))
    np.testing.assert_array_equal(pipe.fit_predict(X), model.labels_)
    assert pipe.score(X) == pytest.approx(model.score(Z))
    assert pca.inverse_transform(pca.transform(scaler.transform(X))).shape == X.shape
    html = sklearn.utils.estimator_html_repr(pipe)
    assert "SOM" in html and "PCAEncoder" in html


def test_grid_search_over_rows_and_cols(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    grid = GridSearchCV(som(), {"rows": [1, 3], "cols": [2, 3]}, cv=3).fit(X)
    # more units quantize better, on held-out data too: the largest map wins
    assert grid.best_params_ == {"rows": 3, "cols": 3}
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(scores < 0) and len(scores) == 4
    assert grid.best_estimator_.prototypes_.shape == (9, 4)
    np.testing.assert_array_equal(grid.predict(X), grid.best_estimator_.predict(X))


def test_cross_val_score_is_minus_the_held_out_quantization_error(
    blobs: tuple[np.ndarray, np.ndarray],
) -> None:
    X, _ = blobs
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(som(), X, cv=cv)
    expected = []
    for train, test in cv.split(X):
        W = som().fit(X[train]).prototypes_
        d = np.linalg.norm(X[test][:, None, :] - W[None], axis=2).min(axis=1)
        expected.append(-d.mean())
    np.testing.assert_allclose(scores, expected, rtol=1e-10)


def test_clone_copies_parameters_not_the_fit(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    model = som(rows=4, kind="hex").fit(X)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert not hasattr(copy, "prototypes_") and not hasattr(copy, "labels_")
    np.testing.assert_array_equal(copy.fit(X).prototypes_, model.prototypes_)
    enc = clone(protoflow.create_encoder("pca", n_components=3, whiten=True))
    assert enc.get_params() == {"n_components": 3, "whiten": True, "center": True}


def test_nested_parameters_follow_sklearn_conventions() -> None:
    class Holder(protoflow.ParamsMixin):
        def __init__(self, inner: Any = None, k: int = 1) -> None:
            self.inner = inner
            self.k = k

    h = Holder(inner=protoflow.create_encoder("pca", n_components=2))
    assert h.get_params()["inner__n_components"] == 2
    assert "inner__n_components" not in h.get_params(deep=False)
    h.set_params(inner__n_components=3, k=2)
    assert h.inner.n_components == 3 and h.k == 2
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        h.set_params(nope__x=1)


def test_labels_centres_and_fit_shortcuts(blobs: tuple[np.ndarray, np.ndarray], tmp_path: Any) -> None:
    X, _ = blobs
    model = som()
    assert not hasattr(model, "labels_") and not hasattr(model, "cluster_centers_")
    model.fit(X)
    np.testing.assert_array_equal(model.labels_, model.predict(X))
    assert model.labels_.shape == (60,) and model.labels_.dtype.kind == "i"
    assert model.cluster_centers_ is model.prototypes_
    np.testing.assert_array_equal(som().fit_predict(X), model.labels_)
    np.testing.assert_allclose(som().fit_transform(X), model.transform(X))
    # labels_ describe the training data: not saved with the model
    loaded = protoflow.load(protoflow.save(model, tmp_path / "som"))
    assert not hasattr(loaded, "labels_")
    np.testing.assert_array_equal(loaded.prototypes_, model.prototypes_)
    # partial_fit: the labels of the chunk it just saw
    model.partial_fit(X[:10])
    np.testing.assert_array_equal(model.labels_, model.predict(X[:10]))
    # pickling keeps everything
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.labels_, model.labels_)


def test_transform_keeps_squared_distances_and_distances_gives_plain_ones(
    blobs: tuple[np.ndarray, np.ndarray],
) -> None:
    X, _ = blobs
    model = som().fit(X)
    brute = np.linalg.norm(X[:, None, :] - model.prototypes_[None], axis=2)
    np.testing.assert_allclose(model.transform(X), brute**2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.distances(X), brute, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(protoflow.Inverter(model.prototypes_).invert(model.transform(X)), X,
                               atol=1e-8)
    assert model.score(X) == pytest.approx(-brute.min(axis=1).mean(), rel=1e-10)


def test_errors_scikit_learn_expects(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    from scipy import sparse

    X, _ = blobs
    with pytest.raises(SklearnNotFittedError) as info:
        som().predict(X)
    assert isinstance(info.value, NotFittedError)  # still protoflow's own class too
    with pytest.raises(TypeError, match="sparse"):
        som().fit(sparse.csr_matrix(X))
    model = som().fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but SOM is expecting 4 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="Reshape your data"):
        model.predict(X[0])


def test_desom_labels_are_bmus_of_the_encoded_training_data(
    blobs: tuple[np.ndarray, np.ndarray],
) -> None:
    pytest.importorskip("torch")
    X, _ = blobs
    model = protoflow.create_model("desom", rows=2, cols=2, latent_dim=2, layers=(8,),
                                   iterations=5, batch_size=16, progress=False, seed=0).fit(X)
    Z = model.encode(X)
    np.testing.assert_array_equal(model.labels_, model.predict(Z))
    d = np.linalg.norm(Z[:, None, :] - model.prototypes_[None], axis=2).min(axis=1)
    assert model.score(X) == pytest.approx(-d.mean(), rel=1e-6)


# -- MiniSom's vocabulary, against brute force ---------------------------------------------


def _grid_neighbours(r: int, c: int, rows: int, cols: int, torus: bool) -> list[tuple[int, int]]:
    out = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        rr, cc = r + dr, c + dc
        if torus:
            rr, cc = rr % rows, cc % cols
        if 0 <= rr < rows and 0 <= cc < cols and (rr, cc) != (r, c):
            out.append((rr, cc))
    return sorted(set(out))


@pytest.mark.parametrize("toroidal", [False, True])
def test_minisom_methods_match_brute_force(blobs: tuple[np.ndarray, np.ndarray], toroidal: bool) -> None:
    X, y = blobs
    rows, cols = 3, 4
    model = som(rows=rows, cols=cols, toroidal=toroidal).fit(X)
    W = model.prototypes_.reshape(rows, cols, -1)
    d = np.linalg.norm(X[:, None, None, :] - W[None], axis=3)  # (n, rows, cols)
    winners = [np.unravel_index(np.argmin(di), (rows, cols)) for di in d]
    winners = [(int(r), int(c)) for r, c in winners]

    assert [model.winner(x) for x in X] == winners
    expected_hits = np.zeros((rows, cols), dtype=int)
    for w in winners:
        expected_hits[w] += 1
    np.testing.assert_array_equal(model.activation_response(X), expected_hits)

    wm = model.win_map(X)
    assert sorted(wm) == sorted(set(winners))
    for pos, pts in wm.items():
        np.testing.assert_array_equal(np.array(pts), X[[i for i, w in enumerate(winners) if w == pos]])
    assert model.win_map(X)[(99, 99)] == []  # a defaultdict, as MiniSom's
    idx = model.win_map(X, return_indices=True)
    assert sum(len(v) for v in idx.values()) == 60

    lm = model.labels_map(X, y)
    for pos in set(winners):
        assert lm[pos] == Counter(int(y[i]) for i, w in enumerate(winners) if w == pos)

    um = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            nb = _grid_neighbours(r, c, rows, cols, toroidal)
            um[r, c] = np.mean([np.linalg.norm(W[r, c] - W[n]) for n in nb])
    np.testing.assert_allclose(model.distance_map(), um / um.max(), rtol=1e-12)
    assert model.distance_map().max() == pytest.approx(1.0)
    sums = np.array([[sum(np.linalg.norm(W[r, c] - W[n]) for n in _grid_neighbours(r, c, rows, cols, toroidal))
                      for c in range(cols)] for r in range(rows)])
    np.testing.assert_allclose(model.distance_map(scaling="sum"), sums / sums.max(), rtol=1e-12)


def test_minisom_methods_need_a_lattice(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blobs
    gng = BUILDERS["gng"]().fit(X)
    for call in (lambda: gng.winner(X[0]), gng.distance_map, lambda: gng.activation_response(X),
                 lambda: gng.win_map(X), lambda: gng.labels_map(X, y)):
        with pytest.raises(TopologyError, match="Lattice"):
            call()
    model = som().fit(X)
    with pytest.raises(ValueError, match="one label per point"):
        model.labels_map(X, y[:-1])
    with pytest.raises(ValueError, match="one point"):
        model.winner(X[:2])


# -- reprs -----------------------------------------------------------------------------------


def test_reprs_show_the_fitted_state(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    model = protoflow.create_model("som", rows=3, cols=3, epochs=2, seed=0)
    assert repr(model) == "SOM(rows=3, cols=3, epochs=2, seed=0)"
    assert "not fitted" in model._repr_html_()
    model.fit(X)
    assert repr(model) == "SOM(rows=3, cols=3, epochs=2, seed=0) [fitted: 9 units x 4 features]"
    page = model._repr_html_()
    assert "<b>SOM</b>" in page and "fitted: 9 units x 4 features" in page and "<b>3</b>" in page
    enc = protoflow.create_encoder("pca", n_components=2)
    assert repr(enc) == "PCAEncoder(n_components=2)"
    assert repr(enc.fit(X)) == "PCAEncoder(n_components=2) [fitted: 4 -> 2 features]"


def test_trajectory_and_graph_reprs_are_compact() -> None:
    rng = np.random.default_rng(0)
    t = protoflow.Trajectory(points=rng.normal(size=(21, 40)), bmus=np.arange(21),
                             info=[{"step_length": 0.1, "route": "exact"}] * 20,
                             controller="music", target=3)
    text = repr(t)
    assert text == ("Trajectory(controller='music', target=3, n_steps=20, points=(21, 40), "
                    "bmus=(21,), info=20 x ['route', 'step_length'])")
    same = protoflow.Trajectory(points=t.points.copy(), bmus=np.arange(21), info=t.info,
                                controller="music", target=3)
    assert same == t  # equality is unchanged by the repr
    g = protoflow.Graph(200, np.column_stack([np.arange(199), np.arange(1, 200)]))
    assert repr(g) == "Graph(n_units=200, n_edges=199)"
    assert repr(protoflow.Graph(3, [[0, 1]], positions=np.zeros((3, 2)))) == \
        "Graph(n_units=3, n_edges=1, positions=(3, 2))"


def test_import_protoflow_does_not_import_sklearn() -> None:
    code = ("import protoflow, sys; m = protoflow.create_model('som', rows=2, cols=2); "
            "repr(m); assert 'sklearn' not in sys.modules, 'sklearn imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_without_sklearn_tags_raise_attribute_error(monkeypatch: pytest.MonkeyPatch,
                                                    blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    model = som()
    tags = model.__sklearn_tags__()
    assert tags.estimator_type == "clusterer" and tags.transformer_tags is not None
    assert protoflow.create_encoder("pca").__sklearn_tags__().estimator_type is None
    monkeypatch.setitem(sys.modules, "sklearn.utils", None)  # as if scikit-learn were absent
    with pytest.raises(AttributeError, match=r"scikit-learn >= 1\.6"):
        model.__sklearn_tags__()
    monkeypatch.delitem(sys.modules, "sklearn")
    with pytest.raises(NotFittedError) as info:  # protoflow's own class, nothing imported
        model.predict(X)
    assert type(info.value) is NotFittedError
