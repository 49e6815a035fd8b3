"""KMeansPrototypes.fit on chunked data: chunked Lloyd iterations from a seeded sample."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from protoflow_kmeans import KMeansPrototypes  # noqa: E402
from protoflow_kmeans.chunked import TOL, lloyd_stats, lloyd_update  # noqa: E402

from protoflow import Graph, NoTopology  # noqa: E402
from protoflow.errors import ConfigError, ValidationError  # noqa: E402
from protoflow.scale import gmm_chunks  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X = gmm_chunks(5_000, 4, chunk_rows=700, seed=11)
    return X, X.compute()


def numpy_lloyd(X, centers, max_iter, tol):
    """Plain in-memory Lloyd with scikit-learn's stopping rule; the reference."""
    tol = tol * X.var(axis=0).mean()
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        labels = ((X[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        new = np.array([X[labels == k].mean(0) if np.any(labels == k) else centers[k]
                        for k in range(len(centers))])
        shift = ((new - centers) ** 2).sum()
        centers = new
        if shift <= tol:
            break
    inertia = ((X[:, None, :] - centers[None]) ** 2).sum(-1).min(1).sum()
    return centers, n_iter, inertia


def _seeded_sample(Xn, k, seed):
    return Xn[np.sort(np.random.default_rng(seed).choice(len(Xn), size=k, replace=False))]


@pytest.mark.parametrize("max_iter", [3, 100])
def test_chunked_lloyd_equals_numpy_lloyd_from_the_same_init(data, max_iter):
    X, Xn = data
    m = KMeansPrototypes(n_units=9, max_iter=max_iter, seed=5).fit(X)
    centers, n_iter, inertia = numpy_lloyd(Xn, _seeded_sample(Xn, 9, 5), max_iter, TOL)
    np.testing.assert_allclose(m.prototypes_, centers, rtol=1e-10, atol=1e-12)
    assert m.n_iter_ == n_iter and m.algorithm_ == "lloyd"
    assert m.inertia_ == pytest.approx(inertia, rel=1e-10)
    assert isinstance(m.topology_, NoTopology) and m.n_features_in_ == 4


def test_chunked_lloyd_equals_scikit_learn_kmeans_from_the_same_init(data):
    from sklearn.cluster import KMeans

    X, Xn = data
    m = KMeansPrototypes(n_units=7, max_iter=200, seed=2, topology="knn", k=2).fit(X)
    km = KMeans(7, init=_seeded_sample(Xn, 7, 2), n_init=1, max_iter=200, tol=TOL).fit(Xn)
    np.testing.assert_allclose(m.prototypes_, km.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert m.n_iter_ == km.n_iter_ and m.inertia_ == pytest.approx(km.inertia_, rel=1e-10)
    assert isinstance(m.topology_, Graph)


def test_empty_centre_keeps_its_place():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])
    centers = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    stats = lloyd_stats(x, centers)
    np.testing.assert_array_equal(stats.counts, [2, 1, 0])
    np.testing.assert_allclose(stats.sums[:2], [[0.1, 0.0], [5.0, 5.0]])
    assert stats.inertia == pytest.approx(0.01)  # only (0.1, 0) is off its centre
    np.testing.assert_allclose(lloyd_update(centers, stats), [[0.05, 0], [5, 5], [100, 100]])


def test_chunked_errors(data):
    X, _ = data
    with pytest.raises(ConfigError, match="minibatch"):
        KMeansPrototypes(n_units=4, algorithm="minibatch").fit(X)
    with pytest.raises(ConfigError, match="n_init"):
        KMeansPrototypes(n_units=4, n_init=3).fit(X)
    with pytest.raises(ValidationError, match="fewer than n_units=40"):
        KMeansPrototypes(n_units=40).fit(X[:30])
    with pytest.raises(ConfigError, match="n_units"):
        KMeansPrototypes(n_units=0).fit(X)
