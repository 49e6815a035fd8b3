"""KMeansPrototypes with nan_policy="omit": the NaN-aware Lloyd iteration."""

import itertools

import numpy as np
import pytest
from protoflow_kmeans import KMeansPrototypes
from protoflow_kmeans.missing import lloyd_masked

from protoflow.errors import ConfigError
from protoflow.missing import masked_bmu, masked_sq_distances
from protoflow.testing import blobs, with_missing


def _observed_error(X, W, b):
    obs = ~np.isnan(X)
    return float(np.sum(np.where(obs, X - W[b], 0.0) ** 2))


def test_fitted_state_is_consistent():
    Xm = with_missing(blobs(300, 4, 5, seed=1), 0.3)
    model = KMeansPrototypes(8, topology="knn", k=2, seed=0, nan_policy="omit").fit(Xm)
    assert model.prototypes_.shape == (8, 4) and np.isfinite(model.prototypes_).all()
    assert model.algorithm_ == "lloyd" and 1 <= model.n_iter_ <= 300
    np.testing.assert_allclose(model.inertia_, masked_sq_distances(Xm, model.prototypes_).min(1).sum())
    assert model.topology_.n_units == 8
    np.testing.assert_array_equal(model.labels_, masked_bmu(Xm, model.prototypes_))


def test_converged_centres_are_the_observed_means_of_their_rows():
    Xm = with_missing(blobs(300, 4, 5, seed=2), 0.2, seed=1)
    W, _, n_iter = lloyd_masked(Xm, 6, max_iter=300, n_init=1, rng=np.random.default_rng(0),
                              tol=0.0)
    assert n_iter < 300
    b = masked_bmu(Xm, W)
    for k in range(6):
        rows = Xm[b == k]
        np.testing.assert_allclose(W[k], np.nanmean(rows, axis=0), rtol=1e-10)


def test_more_starts_never_give_a_worse_inertia():
    Xm = with_missing(blobs(200, 3, 6, seed=3), 0.3, seed=2)
    one = KMeansPrototypes(6, n_init=1, seed=4, nan_policy="omit").fit(Xm)
    many = KMeansPrototypes(6, n_init=5, seed=4, nan_policy="omit").fit(Xm)
    assert many.inertia_ <= one.inertia_ + 1e-9


def test_each_iteration_lowers_the_observed_error():
    Xm = with_missing(blobs(300, 5, 4, seed=5), 0.3, seed=3)
    errors = []
    for it in range(1, 6):
        W, _, _ = lloyd_masked(Xm, 5, max_iter=it, n_init=1, rng=np.random.default_rng(1))
        b = masked_bmu(Xm, W)
        errors.append(_observed_error(Xm, W, b))
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(errors)), errors


def test_chunked_input_with_omit_is_refused():
    da = pytest.importorskip("dask.array")
    X = da.from_array(blobs(100, 3), chunks=50)
    with pytest.raises(ConfigError, match="nan_policy"):
        KMeansPrototypes(4, nan_policy="omit").fit(X)
