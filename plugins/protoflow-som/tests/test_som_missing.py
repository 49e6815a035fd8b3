"""SOM with nan_policy="omit": every algorithm trains on data with missing entries."""

import numpy as np
import pytest
from protoflow_som import SOM, ToroidalSOM, batch
from protoflow_som.init import pca_plane

from protoflow.errors import ConfigError, ValidationError
from protoflow.missing import masked_sq_distances, mean_impute
from protoflow.neighborhood import exponential_temperature
from protoflow.testing import blobs, with_missing
from protoflow.topology import Lattice


@pytest.fixture(scope="module")
def data():
    return blobs(400, 5, 4, seed=3)


def _qe(model, X):
    return float(np.sqrt(model.activations(X).min(axis=1)).mean())


#: epochs per algorithm (the online rule is per sample, so fewer)
EPOCHS = {"batch": 10, "minibatch": 10, "online": 3}
#: QE on the complete data at 20% missing, relative to the complete-data fit (measured about
#: +2% batch, -4..+5% minibatch and online)
QE_TOLERANCE = 0.15


@pytest.mark.parametrize("algorithm", ["batch", "minibatch", "online"])
def test_every_algorithm_trains_with_missing_entries(algorithm, data):
    params = dict(rows=5, cols=5, epochs=EPOCHS[algorithm], algorithm=algorithm, seed=0,
                  learning_rate=0.05 if algorithm == "minibatch" else None, batch_size=32)
    Xm = with_missing(data, 0.2, seed=1)
    complete = SOM(**params).fit(data)
    model = SOM(**params, nan_policy="omit").fit(Xm)
    assert np.isfinite(model.prototypes_).all()
    assert np.isfinite(model.quantization_error_history_).all()
    assert len(model.quantization_error_history_) == EPOCHS[algorithm]
    assert _qe(model, data) <= (1 + QE_TOLERANCE) * _qe(complete, data)


def test_masked_batch_stats_on_complete_data_equal_the_ordinary_ones(data):
    W = SOM(4, 4, epochs=2, seed=0).fit(data).prototypes_
    plain = batch.accumulate(data, W)
    masked = batch.accumulate_masked(data, W)
    np.testing.assert_allclose(masked.sums, plain.sums, rtol=1e-12)
    np.testing.assert_array_equal(masked.counts, np.repeat(plain.counts[:, None], 5, axis=1))
    np.testing.assert_allclose(masked.sq_error, plain.sq_error, rtol=1e-9)
    kernel = batch.KernelTable(Lattice(4, 4).distances())(1.0)
    np.testing.assert_allclose(batch.update_masked(W, masked, kernel),
                               batch.update(W, plain, kernel), rtol=1e-12)


def test_masked_update_keeps_a_feature_nobody_observes_near_a_unit():
    W = np.array([[0.0, 0.0], [10.0, 10.0]])
    X = np.array([[1.0, np.nan], [9.0, 11.0]])
    stats = batch.accumulate_masked(X, W)
    np.testing.assert_array_equal(stats.counts, [[1, 0], [1, 1]])
    out = batch.update_masked(W, stats, np.eye(2))  # no neighbourhood: unit 0 sees no 2nd value
    np.testing.assert_array_equal(out, [[1.0, 0.0], [9.0, 11.0]])
    first = batch.accumulate_masked(X[:1], W) + batch.accumulate_masked(X[1:], W)
    np.testing.assert_array_equal(first.sums, stats.sums)  # stats of chunks add up


def test_init_uses_the_mean_imputed_data(data):
    Xm = with_missing(data, 0.3, seed=2)
    # one batch epoch (the schedule's first and last) from the principal plane of the
    # mean-imputed data
    model = SOM(4, 6, epochs=1, seed=0, nan_policy="omit").fit(Xm)
    W0 = pca_plane(mean_impute(Xm), Lattice(4, 6))
    stats = batch.accumulate_masked(Xm, W0)
    cfg = model._config()
    T = exponential_temperature(0, 0, cfg["t_max"], cfg["t_min"])
    expected = batch.update_masked(W0, stats, batch.KernelTable(Lattice(4, 6).distances())(T))
    np.testing.assert_allclose(model.prototypes_, expected, rtol=1e-12)
    # init="random" works too (mean-imputed random rows)
    rnd = SOM(4, 6, epochs=3, init="random", seed=0, nan_policy="omit").fit(Xm)
    assert np.isfinite(rnd.prototypes_).all()


def test_partial_fit_float32_and_toroidal(data):
    Xm = with_missing(data, 0.2, seed=4)
    model = SOM(4, 4, epochs=3, seed=0, dtype="float32", nan_policy="omit")
    for chunk in np.array_split(Xm, 3):
        model.partial_fit(chunk)
    assert model.prototypes_.dtype == np.float32 and np.isfinite(model.prototypes_).all()
    assert model.n_iter_ == 3
    tor = ToroidalSOM(4, 4, epochs=3, seed=0, nan_policy="omit").fit(Xm)
    assert tor.toroidal and np.isfinite(tor.prototypes_).all()
    np.testing.assert_allclose(tor.activations(Xm), masked_sq_distances(Xm, tor.prototypes_))
    with pytest.raises(ValidationError, match="NaN"):
        SOM(4, 4, epochs=3, seed=0).fit(data).partial_fit(Xm)


def test_chunked_input_with_omit_is_refused(data):
    da = pytest.importorskip("dask.array")
    X = da.from_array(data, chunks=100)
    with pytest.raises(ConfigError, match="nan_policy"):
        SOM(4, 4, epochs=2, nan_policy="omit").fit(X)


def test_torch_backend_refuses_missing_entries(data):
    pytest.importorskip("torch")
    Xm = with_missing(data, 0.2)
    with pytest.raises(ConfigError, match="backend='numpy'"):
        SOM(4, 4, epochs=2, backend="torch", nan_policy="omit").fit(Xm)
    # complete data still trains with torch under "omit"
    SOM(4, 4, epochs=2, backend="torch", nan_policy="omit").fit(data)
