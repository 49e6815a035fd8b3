"""GrowingNeuralGas with nan_policy="omit"."""

import numpy as np
from protoflow_gng import GrowingNeuralGas

from protoflow.missing import masked_sq_distances
from protoflow.testing import blobs, with_missing


def test_the_grown_graph_is_valid_and_finite():
    Xm = with_missing(blobs(500, 4, 4, seed=1), 0.3)
    model = GrowingNeuralGas(20, epochs=3, insert_every=50, seed=0, nan_policy="omit").fit(Xm)
    n = len(model.prototypes_)
    assert 2 < n <= 20 and np.isfinite(model.prototypes_).all()
    assert np.isfinite(model.errors_).all() and (model.errors_ >= 0).all()
    edges = model.topology_.edges
    assert len(edges) and edges.max() < n and set(np.unique(edges)) == set(range(n))
    assert model.n_steps_ == 3 * 500


def test_seeded_fits_repeat_and_activations_are_masked():
    Xm = with_missing(blobs(300, 3, 3, seed=2), 0.2)
    a = GrowingNeuralGas(10, epochs=2, insert_every=40, seed=3, nan_policy="omit").fit(Xm)
    b = GrowingNeuralGas(10, epochs=2, insert_every=40, seed=3, nan_policy="omit").fit(Xm)
    np.testing.assert_array_equal(a.prototypes_, b.prototypes_)
    np.testing.assert_allclose(a.activations(Xm), masked_sq_distances(Xm, a.prototypes_))
    filled = a.impute(Xm)
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~np.isnan(Xm)], Xm[~np.isnan(Xm)])


def test_missing_coordinates_do_not_move_the_winner():
    # the third sample observes only feature 0: feature 1 of the units may only move towards
    # the observed 10 and 14 (a zero fill, or NaN, would drag it out of [10, 14])
    X = np.array([[10.0, 10.0], [14.0, 14.0], [11.0, np.nan]])
    for seed in range(5):
        model = GrowingNeuralGas(3, epochs=20, insert_every=7, seed=seed, nan_policy="omit")
        W = model.fit(X).prototypes_
        assert np.isfinite(W).all()
        assert ((W[:, 1] >= 10.0) & (W[:, 1] <= 14.0)).all(), W
        assert ((W[:, 0] >= 10.0) & (W[:, 0] <= 14.0)).all(), W
