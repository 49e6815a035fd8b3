"""Identity and PCA encoders: conformance, exact inverse, least squares, whitening floor."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protoflow_encoders import WHITEN_FLOOR, IdentityEncoder, PCAEncoder

import protoflow
from protoflow.errors import ConfigError, ValidationError
from protoflow.testing import parametrize_with_checks

PCA_PARAMS = [{}, {"whiten": True}, {"n_components": 3}, {"n_components": 0.8, "whiten": True}, {"center": False}]


@parametrize_with_checks([*(functools.partial(PCAEncoder, **p) for p in PCA_PARAMS), IdentityEncoder])
def test_conformance(component, check):
    check(component)


def test_registered_by_name():
    assert isinstance(protoflow.create_encoder("pca", whiten=True), PCAEncoder)
    assert isinstance(protoflow.create_encoder("identity"), IdentityEncoder)


def test_identity_returns_a_copy_of_the_data():
    X = np.arange(12.0).reshape(4, 3)
    enc = IdentityEncoder().fit(X)
    Z = enc.encode(X)
    assert np.array_equal(Z, X) and Z is not X
    assert enc.exact_inverse_ and enc.n_components_ == 3


def _data(seed: int, n: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 30), d=st.integers(1, 12), whiten=st.booleans(),
       center=st.booleans())
def test_full_dimension_is_an_exact_inverse(seed, n, d, whiten, center):
    """Also when n_samples < n_features: the basis is complete, so decode inverts encode."""
    X = _data(seed, n, d)
    enc = PCAEncoder(whiten=whiten, center=center).fit(X)
    assert enc.exact_inverse_ and enc.n_components_ == d
    np.testing.assert_allclose(enc.components_ @ enc.components_.T, np.eye(d), atol=1e-10)
    np.testing.assert_allclose(enc.decode(enc.encode(X)), X, rtol=0, atol=1e-9 * max(1, np.abs(X).max()))


def test_matches_scikit_learn_up_to_sign():
    from sklearn.decomposition import PCA

    X = _data(0, 200, 8)
    ours = PCAEncoder(n_components=4).fit(X)
    ref = PCA(n_components=4).fit(X)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(np.abs(ours.components_ @ ref.components_.T), np.eye(4), atol=1e-8)


def test_truncated_decode_is_the_least_squares_reconstruction():
    X = _data(1, 100, 6)
    enc = PCAEncoder(n_components=2, whiten=True).fit(X)
    assert not enc.exact_inverse_
    Xh = enc.decode(enc.encode(X))
    resid = Xh - X
    # the residual is orthogonal to the principal subspace, and decoding is a projection
    np.testing.assert_allclose((resid @ enc.components_.T), 0, atol=1e-9)
    np.testing.assert_allclose(enc.decode(enc.encode(Xh)), Xh, atol=1e-9)
    # no other point of the subspace reconstructs better: compare to the explicit lstsq solution
    V = enc.components_.T
    coef, *_ = np.linalg.lstsq(V, (X - enc.mean_).T, rcond=None)
    np.testing.assert_allclose(Xh, (V @ coef).T + enc.mean_, atol=1e-9)


def test_variance_fraction_picks_the_fewest_components():
    X = _data(2, 300, 10)
    enc = PCAEncoder(n_components=0.9).fit(X)
    full = PCAEncoder().fit(X).explained_variance_ratio_
    k = enc.n_components_
    assert full[:k].sum() >= 0.9 - 1e-12
    assert k == 1 or full[: k - 1].sum() < 0.9


def test_whitening_gives_unit_variance_and_respects_the_floor():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 5)) * [10.0, 3.0, 1.0, 0.5, 0.2]
    X = np.hstack([X, np.full((500, 2), 7.0), 1e-9 * rng.normal(size=(500, 1))])  # dead directions
    enc = PCAEncoder(whiten=True).fit(X)
    Z = enc.encode(X)
    np.testing.assert_allclose(np.var(Z[:, :5], axis=0, ddof=1), 1.0, rtol=1e-8)
    assert np.isfinite(Z).all()
    # floored directions are not blown up: their whitened variance stays below 1
    assert np.var(Z[:, 5:], axis=0, ddof=1).max() <= 1.0
    assert enc.scale_.min() >= np.sqrt(WHITEN_FLOOR * enc.explained_variance_[0]) * (1 - 1e-12)
    np.testing.assert_allclose(enc.decode(Z), X, atol=1e-9 * np.abs(X).max())


def test_center_false_keeps_the_mean_in_the_components():
    X = _data(4, 50, 3) + 100.0
    enc = PCAEncoder(center=False, n_components=1).fit(X)
    assert np.array_equal(enc.mean_, np.zeros(3))
    direction = X.mean(axis=0) / np.linalg.norm(X.mean(axis=0))
    assert abs(enc.components_[0] @ direction) > 0.99


@pytest.mark.parametrize("value", [0, 7, 1.0, 0.0, -0.5, "all", True])
def test_bad_n_components_names_the_parameter(value):
    with pytest.raises(ConfigError, match="n_components"):
        PCAEncoder(n_components=value).fit(_data(0, 20, 6))


def test_bad_flags_and_data():
    with pytest.raises(ConfigError, match="whiten"):
        PCAEncoder(whiten="yes").fit(_data(0, 20, 3))
    enc = PCAEncoder(n_components=2).fit(_data(0, 20, 3))
    with pytest.raises(ValidationError):
        enc.decode(np.zeros((1, 3)))


def test_works_without_torch():
    """identity and pca import and run with torch absent; the autoencoder names the fix."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, protoflow\n"
        "X = np.random.default_rng(0).normal(size=(20, 4))\n"
        "protoflow.create_encoder('pca', whiten=True).fit(X).encode(X)\n"
        "protoflow.create_encoder('identity').fit(X)\n"
        "try:\n"
        "    protoflow.create_encoder('autoencoder', epochs=1).fit(X)\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ERR" in out.stdout and "pip install torch==2.13.0" in out.stdout
