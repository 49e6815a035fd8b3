"""Missing data (NaN) support: the core's NaN-tolerant validation and masked distances
(`protoflow.missing`), and ``nan_policy`` on the SOM, k-means and GNG models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import protoflow
from protoflow.errors import ConfigError, ValidationError
from protoflow.missing import (
    check_observed,
    impute_from_prototypes,
    masked_bmu,
    masked_sq_distances,
    mean_impute,
)
from protoflow.params import declared_schema
from protoflow.testing import blobs, with_missing
from protoflow.validation import check_array


def _brute_force(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The definition, one pair at a time."""
    out = np.empty((len(X), len(W)))
    for i, x in enumerate(X):
        obs = ~np.isnan(x)
        for k, w in enumerate(W):
            out[i, k] = np.sum((x[obs] - w[obs]) ** 2) * X.shape[1] / obs.sum()
    return out


# -- validation ---------------------------------------------------------------------------------


def test_check_array_refuses_nan_by_default_and_accepts_it_when_asked():
    X = blobs(20, 3, seed=1)
    X[2, 1] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        check_array(X)
    out = check_array(X, allow_nan=True)
    assert np.isnan(out[2, 1]) and np.isfinite(np.delete(out.ravel(), 2 * 3 + 1)).all()


def test_allow_nan_still_refuses_infinity_and_huge_values():
    X = blobs(20, 3, seed=1)
    X[2, 1] = np.nan
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValidationError, match="infinity"):
        check_array(bad, allow_nan=True)
    with pytest.raises(ValidationError, match="Scale the data"):
        check_array(X * 1e160, allow_nan=True)  # the magnitude check sees the finite values


def test_all_nan_row_is_named():
    X = blobs(20, 3, seed=1)
    X[7] = np.nan
    with pytest.raises(ValidationError, match="row 7 has no observed value"):
        check_observed(X)
    with pytest.raises(ValidationError, match="row 7"):
        masked_sq_distances(X, blobs(4, 3, seed=2))


# -- distances and imputation -------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 6)),
               elements=st.floats(-100, 100)),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
)
def test_masked_distance_equals_the_brute_force_definition(X, n_units, seed):
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.random(X.shape) < 0.4] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    W = rng.normal(scale=50.0, size=(n_units, X.shape[1]))
    expected = _brute_force(X, W)
    got = masked_sq_distances(X, W)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-7 * max(1.0, expected.max()))
    b, d = masked_bmu(X, W, return_distance=True)
    np.testing.assert_allclose(d, expected[np.arange(len(X)), b], rtol=1e-9, atol=1e-6)
    assert (d <= expected.min(axis=1) + 1e-6 * max(1.0, expected.max())).all()


def test_masked_distance_of_complete_rows_is_the_ordinary_one():
    X, W = blobs(200, 6, seed=3), blobs(30, 6, seed=4)
    np.testing.assert_allclose(masked_sq_distances(X, W), protoflow.activations(X, W),
                               rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(masked_bmu(X, W), protoflow.bmu(X, W))


def test_impute_keeps_observed_entries_and_fills_the_rest_from_the_bmu():
    X = blobs(100, 5, seed=5)
    Xm = with_missing(X, 0.3, seed=1)
    W = blobs(10, 5, seed=6)
    out = impute_from_prototypes(Xm, W)
    miss = np.isnan(Xm)
    assert out is not Xm and np.isnan(Xm).sum() == miss.sum()  # the input is untouched
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[~miss], Xm[~miss])
    b = masked_bmu(Xm, W)
    rows, cols = np.nonzero(miss)
    np.testing.assert_array_equal(out[rows, cols], W[b[rows], cols])


def test_impute_checks_a_given_bmu():
    Xm = with_missing(blobs(10, 3, seed=5), 0.3)
    with pytest.raises(ValidationError, match="outside"):
        impute_from_prototypes(Xm, blobs(4, 3), np.full(10, 9))


def test_mean_impute_fills_with_column_means():
    X = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, 8.0]])
    np.testing.assert_array_equal(mean_impute(X), [[1.0, 6.0], [3.0, 4.0], [2.0, 8.0]])


def test_inversion_still_refuses_nan():
    W = blobs(12, 3, seed=2)
    A = protoflow.activations(blobs(4, 3, seed=3), W)
    A[0, 0] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        protoflow.Inverter(W).invert(A)


# -- the three models ---------------------------------------------------------------------------

MODELS: dict[str, dict[str, Any]] = {
    "som": {"rows": 6, "cols": 6, "epochs": 10, "seed": 0},
    "kmeans": {"n_units": 36, "seed": 0},
    "gng": {"max_units": 36, "epochs": 5, "seed": 0},
}

#: QE on the complete data, relative to training on the complete data: at most this much worse
#: (measured on this data: SOM +1.5% / +7%, k-means +7% / +18% (a different local optimum of
#: its own Lloyd iteration), GNG +0.3% / +7% at 10% / 30% missing)
QE_TOLERANCE = {0.1: 0.15, 0.3: 0.25}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return blobs(600, 6, 4, seed=11)


def _qe(model: Any, X: np.ndarray) -> float:
    return float(np.sqrt(model.activations(X).min(axis=1)).mean())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_nan_policy_is_declared(name):
    cls = type(protoflow.create_model(name))
    schema = declared_schema(cls)
    assert schema is not None and "nan_policy" in schema
    assert schema.validate({**cls().get_params(), "nan_policy": "omit"})["nan_policy"] == "omit"
    with pytest.raises(ConfigError, match="nan_policy"):
        protoflow.create_model(name, **MODELS[name], nan_policy="drop").fit(blobs(60, 6))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_raise_keeps_todays_error(name, data):
    Xm = with_missing(data, 0.1)
    for params in ({}, {"nan_policy": "raise"}):
        with pytest.raises(ValidationError, match="NaN"):
            protoflow.create_model(name, **MODELS[name], **params).fit(Xm)
    fitted = protoflow.create_model(name, **MODELS[name]).fit(data)
    with pytest.raises(ValidationError, match="NaN"):
        fitted.bmu(Xm)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_omit_on_complete_data_equals_raise(name, data):
    a = protoflow.create_model(name, **MODELS[name]).fit(data)
    b = protoflow.create_model(name, **MODELS[name], nan_policy="omit").fit(data)
    np.testing.assert_array_equal(a.prototypes_, b.prototypes_)


@pytest.mark.parametrize("fraction", [0.1, 0.3])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_omit_trains_on_missing_data(name, fraction, data):
    Xm = with_missing(data, fraction, seed=2)
    complete = protoflow.create_model(name, **MODELS[name]).fit(data)
    model = protoflow.create_model(name, **MODELS[name], nan_policy="omit").fit(Xm)
    assert np.isfinite(model.prototypes_).all()
    tol = QE_TOLERANCE[fraction]
    assert _qe(model, data) <= (1.0 + tol) * _qe(complete, data), (
        _qe(model, data), _qe(complete, data))
    # impute: observed entries unchanged, the rest filled, better than the column means
    out = model.impute(Xm)
    miss = np.isnan(Xm)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[~miss], Xm[~miss])
    rmse = np.sqrt(np.mean((out - data)[miss] ** 2))
    rmse_mean = np.sqrt(np.mean((mean_impute(Xm) - data)[miss] ** 2))
    assert rmse < 0.8 * rmse_mean, (rmse, rmse_mean)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_activations_and_bmu_with_missing_values(name, data):
    Xm = with_missing(data, 0.3, seed=3)
    model = protoflow.create_model(name, **MODELS[name], nan_policy="omit").fit(Xm)
    W = model.prototypes_
    np.testing.assert_allclose(model.activations(Xm), masked_sq_distances(Xm, W))
    np.testing.assert_array_equal(model.bmu(Xm), masked_bmu(Xm, W))
    # complete rows: the ordinary answer
    np.testing.assert_array_equal(model.bmu(data), protoflow.bmu(data, W))
    np.testing.assert_allclose(model.activations(data), protoflow.activations(data, W))
    bad = Xm.copy()
    bad[4] = np.nan
    for call in (model.fit, model.bmu, model.activations, model.impute):
        with pytest.raises(ValidationError, match="row 4"):
            call(bad)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_config_validate_knows_nan_policy(name):
    from protoflow.config import ConfigFileError, parse_config

    raw: dict[str, Any] = {"data": {"name": "gmm", "n_samples": 60, "n_features": 4},
                           "run": {"figures": False, "report": False}}
    parse_config({**raw, "model": {"name": name, "nan_policy": "omit"}})
    with pytest.raises(ConfigFileError, match="key 'nan_policy'"):
        parse_config({**raw, "model": {"name": name, "nan_policy": "ignore"}})
