"""SOM.fit on chunked data (dask arrays, .npy files) equals the in-memory fit (threaded scheduler;
the distributed cluster is exercised in tests/test_scale_cluster.py)."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from protoflow_som import SOM, ToroidalSOM  # noqa: E402

from protoflow.errors import ConfigError, ValidationError  # noqa: E402
from protoflow.scale import gmm_chunks  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X = gmm_chunks(6_000, 5, chunk_rows=1_100, seed=7)  # uneven last chunk
    return X, X.compute()


def _assert_same_fit(a, b, rtol=1e-10):
    np.testing.assert_allclose(a.prototypes_, b.prototypes_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.quantization_error_history_, b.quantization_error_history_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_ and a.n_features_in_ == b.n_features_in_
    assert a.topology_ == b.topology_ and a.prototypes_.dtype == b.prototypes_.dtype


@pytest.mark.parametrize(
    "params",
    [
        {"init": "pca"},
        {"init": "random"},
        {"init": "pca", "kind": "hex", "toroidal": True, "rows": 6},
        {"init": "random", "t_max": 2.0, "t_min": 0.7},
    ],
)
def test_chunked_fit_equals_in_memory_fit(data, params):
    X, Xn = data
    kw = {"rows": 5, "cols": 4, "epochs": 4, "seed": 3, **params}
    _assert_same_fit(SOM(**kw).fit(X), SOM(**kw).fit(Xn))


def test_float32_and_toroidal_subclass(data):
    X, Xn = data
    a = ToroidalSOM(4, 4, epochs=3, dtype="float32", seed=1).fit(X.astype(np.float32))
    b = ToroidalSOM(4, 4, epochs=3, dtype="float32", seed=1).fit(Xn.astype(np.float32))
    assert a.topology_.toroidal
    _assert_same_fit(a, b, rtol=1e-5)


def test_npy_files_train_like_the_array(data, tmp_path):
    _, Xn = data
    paths = [tmp_path / "a.npy", tmp_path / "b.npy"]
    np.save(paths[0], Xn[:2500])
    np.save(paths[1], Xn[2500:])
    _assert_same_fit(SOM(4, 4, epochs=3, seed=0).fit(paths), SOM(4, 4, epochs=3, seed=0).fit(Xn))


def test_given_init_array_is_used_and_checked(data):
    X, Xn = data
    W0 = Xn[:12] + 0.1
    _assert_same_fit(SOM(3, 4, epochs=2, init=W0).fit(X), SOM(3, 4, epochs=2, init=W0).fit(Xn))
    with pytest.raises(ConfigError, match="init"):
        SOM(3, 4, init=np.zeros((12, 3))).fit(X)
    with pytest.raises(ConfigError, match="init"):
        SOM(3, 4, init="kmeans++").fit(X)


def test_chunked_fit_errors(data):
    X, _ = data
    with pytest.raises(ConfigError, match="algorithm='batch'"):
        SOM(3, 3, algorithm="online").fit(X)
    with pytest.raises(ValidationError, match="init='random' draws 100"):
        SOM(10, 10, init="random").fit(X[:50])
    bad = da.from_array(np.where(np.arange(40)[:, None] == 33, np.inf, 1.0) * np.ones((40, 2)), chunks=10)
    with pytest.raises(ValidationError, match="inf"):
        SOM(2, 2, init=np.ones((4, 2))).fit(bad)


def test_chunked_fit_then_in_memory_use(data):
    X, Xn = data
    som = SOM(4, 4, epochs=2, seed=0).fit(X)
    assert som.bmu(Xn[:10]).shape == (10,)
    som.partial_fit(Xn[:500])  # continues in memory
    assert som.n_iter_ == 3


def test_torch_backend_is_refused_on_chunked_input(data):
    pytest.importorskip("torch")
    if "backend" not in SOM().get_params():
        pytest.skip("this SOM has no backend parameter")
    with pytest.raises(ConfigError, match="backend='numpy'"):
        SOM(2, 2, backend="torch").fit(data[0])
