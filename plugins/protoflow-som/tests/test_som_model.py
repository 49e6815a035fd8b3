"""The "som" and "toroidal-som" models: conformance, training behaviour, schedules and errors."""

import functools

import numpy as np
import pytest
from protoflow_som import SOM, ToroidalSOM, batch

import protoflow
from protoflow.errors import ConfigError, ValidationError
from protoflow.neighborhood import exponential_temperature, gaussian_kernel
from protoflow.testing import blobs, parametrize_with_checks
from protoflow.topology import Lattice


def _qe(W, X):
    return np.sqrt(((X[:, None, :] - W[None]) ** 2).sum(-1).min(1)).mean()


def _initial(X, **params):
    """The prototypes a model starts from, before any epoch."""
    m = SOM(**params)
    m._start(X, m._config())
    return m.prototypes_


@parametrize_with_checks(
    [
        functools.partial(SOM, rows=3, cols=4, epochs=3),
        functools.partial(SOM, rows=3, cols=4, kind="hex", epochs=3, init="random"),
        functools.partial(ToroidalSOM, rows=4, cols=3, epochs=3),
        functools.partial(ToroidalSOM, rows=4, cols=4, kind="hex", epochs=2),
        functools.partial(SOM, rows=2, cols=3, algorithm="minibatch", batch_size=16, learning_rate=0.1, epochs=2),
        functools.partial(SOM, rows=2, cols=3, algorithm="online", epochs=1),
        functools.partial(SOM, rows=3, cols=3, dtype="float32", epochs=2),
    ],
    ids=["rect", "hex", "torus", "hex-torus", "minibatch", "online", "float32"],
)
def test_conformance(component, check):
    check(component)


def test_registered_under_both_names():
    som = protoflow.create_model("som")
    torus = protoflow.create_model("toroidal-som", rows=4, cols=6)
    assert type(som) is SOM and som.toroidal is False
    assert type(torus) is ToroidalSOM and torus.toroidal is True
    torus.fit(blobs(60, 3, 3))
    assert torus.topology_ == Lattice(4, 6, toroidal=True)
    assert torus.get_params()["toroidal"] is True


@pytest.mark.parametrize("algorithm,extra", [
    ("batch", {}), ("minibatch", {"learning_rate": 0.05, "batch_size": 32}), ("online", {}),
])
def test_each_algorithm_lowers_quantization_error(algorithm, extra):
    X = blobs(400, 5, 4, seed=3)
    m = SOM(rows=4, cols=5, algorithm=algorithm, epochs=5, t_min=0.5, seed=0, **extra).fit(X)
    W0 = _initial(X, rows=4, cols=5)
    assert _qe(m.prototypes_, X) < 0.8 * _qe(W0, X)
    assert m.n_iter_ == 5 and m.quantization_error_history_.shape == (5,)
    if algorithm == "batch":  # a batch epoch measures the map it starts from
        assert m.quantization_error_history_[0] == pytest.approx(_qe(W0, X), rel=1e-9)


def test_fit_is_the_documented_batch_schedule():
    """fit = init, then E batch updates at T_e = t_max (t_min/t_max)^(e/(E-1))."""
    X = blobs(150, 3, 3, seed=4)
    E, t_max, t_min = 4, 3.0, 0.7
    m = SOM(rows=3, cols=4, epochs=E, t_max=t_max, t_min=t_min, seed=0).fit(X)
    P = W0 = _initial(X, rows=3, cols=4)
    dist = Lattice(3, 4).distances()
    for e in range(E):
        T = exponential_temperature(e, E - 1, t_max, t_min)
        P = batch.update(P, batch.accumulate(X, P), gaussian_kernel(dist, T))
    np.testing.assert_allclose(m.prototypes_, P, rtol=1e-12)
    np.testing.assert_allclose(m.quantization_error_history_[0], _qe(W0, X), rtol=1e-9)


def test_default_schedule_scales_with_map():
    cfg = SOM(rows=8, cols=20)._config()
    assert cfg["t_max"] == 10.0 and cfg["t_min"] == 1.0
    assert SOM(rows=3, cols=3)._config()["t_min"] == 0.5


def test_toroidal_neighbourhood_wraps():
    """Two points at units 0 and 2 of a 1x4 map: unit 3 is 1 step from both on the ring, so
    it lands midway; on the open line it is 3 steps from unit 0 and sits near unit 2's point."""
    xa, xb = np.array([0.0, 0.0]), np.array([4.0, 0.0])
    W = np.array([[0.0, 0.1], [2.0, 1.0], [4.0, 0.1], [9.0, 5.0]])
    X = np.stack([xa, xb])
    kw = dict(rows=1, cols=4, epochs=1, t_max=1.0, t_min=1.0, init=W)
    ring = SOM(toroidal=True, **kw).fit(X).prototypes_
    line = SOM(toroidal=False, **kw).fit(X).prototypes_
    np.testing.assert_allclose(ring[3], (xa + xb) / 2, atol=1e-12)
    h = np.exp(-np.array([9.0, 1.0]))  # kernel at distances 3 and 1
    np.testing.assert_allclose(line[3], (h[0] * xa + h[1] * xb) / h.sum(), atol=1e-12)
    assert ToroidalSOM(rows=1, cols=4).fit(blobs(20, 2, 2)).topology_.toroidal


def test_same_seed_same_map_different_seed_different_map():
    X = blobs(200, 4, 3, seed=6)
    for algorithm in ("batch", "minibatch", "online"):
        kw = dict(rows=3, cols=3, epochs=2, init="random", algorithm=algorithm, learning_rate=0.1)
        a = SOM(seed=1, **kw).fit(X).prototypes_
        np.testing.assert_array_equal(a, SOM(seed=1, **kw).fit(X).prototypes_)
        assert not np.allclose(a, SOM(seed=2, **kw).fit(X).prototypes_)


def test_pca_init_spans_principal_plane():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 4)) * [5.0, 2.0, 0.1, 0.1] + [1.0, -1.0, 3.0, 0.0]
    W = _initial(X, rows=3, cols=6)
    np.testing.assert_allclose(W.mean(0), X.mean(0), atol=1e-9)
    # the long side (cols) follows the first component: +-sqrt(3 var) along x
    row0 = W[:6]
    assert np.ptp(row0[:, 0]) == pytest.approx(2 * np.sqrt(3 * X[:, 0].var(ddof=1)), rel=0.05)
    assert np.ptp(W[::6, 1]) == pytest.approx(2 * np.sqrt(3 * X[:, 1].var(ddof=1)), rel=0.05)
    assert np.abs(W[:, 2:] - X.mean(0)[2:]).max() < 0.1


def test_partial_fit_in_chunks():
    X = blobs(600, 4, 3, seed=8)
    m = SOM(rows=4, cols=4, epochs=6, seed=0)
    for chunk in np.array_split(X, 6):
        m.partial_fit(chunk)
    assert m.n_iter_ == 6 and m.prototypes_.shape == (16, 4)
    assert _qe(m.prototypes_, X) < 0.8 * _qe(_initial(X[:100], rows=4, cols=4), X)
    with pytest.raises(ValidationError, match="features"):
        m.partial_fit(X[:, :3])


def test_exact_out_of_core_epoch_equals_in_memory_epoch():
    X = blobs(500, 3, 3, seed=9)
    m = SOM(rows=3, cols=3, epochs=1, t_max=1.5, t_min=1.5, seed=0)
    W = _initial(X, rows=3, cols=3)
    stats = sum((batch.accumulate(c, W) for c in np.array_split(X, 7)[1:]),
                batch.accumulate(np.array_split(X, 7)[0], W))
    H = gaussian_kernel(Lattice(3, 3).distances(), 1.5)
    np.testing.assert_allclose(batch.update(W, stats, H), m.fit(X).prototypes_, rtol=1e-12)


def test_float32_path():
    X = blobs(500, 6, 3, seed=10)
    m32 = SOM(rows=5, cols=5, dtype="float32", seed=0).fit(X.astype(np.float32))
    m64 = SOM(rows=5, cols=5, seed=0).fit(X)
    assert m32.prototypes_.dtype == np.float32 and m64.prototypes_.dtype == np.float64
    assert _qe(m32.prototypes_.astype(float), X) == pytest.approx(_qe(m64.prototypes_, X), rel=1e-3)
    assert SOM(rows=2, cols=2, dtype=np.float32, epochs=1).fit(X).prototypes_.dtype == np.float32


def test_bad_input_and_parameters_name_the_culprit():
    X = blobs(50, 3, 2)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        SOM(rows=2, cols=2).fit(bad)
    with pytest.raises(ValidationError, match=r"50 samples.*init='random'"):
        SOM(rows=8, cols=8, init="random").fit(X)
    for params, name in [
        ({"rows": 0}, "rows"), ({"cols": 0}, "cols"), ({"kind": "tri"}, "kind"),
        ({"algorithm": "sgd"}, "algorithm"), ({"init": "kmeans"}, "init"),
        ({"init": np.zeros((3, 3))}, "init"), ({"init": np.zeros((4, 2))}, "init"),
        ({"dtype": "int8"}, "dtype"), ({"dtype": "nonsense"}, "dtype"), ({"epochs": 0}, "epochs"),
        ({"t_min": -1.0}, "t_min"), ({"t_max": 0}, "t_max"), ({"learning_rate": 0.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"), ({"toroidal": "yes"}, "toroidal"),
        ({"rows": 3, "kind": "hex", "toroidal": True}, "rows"),
    ]:
        kw = {"rows": 2, "cols": 2, **params}
        with pytest.raises(ConfigError, match=name):
            SOM(**kw).fit(X)
    m = SOM(rows=2, cols=2, epochs=1).fit(X)
    with pytest.raises(ValidationError):
        m.activations(X[:, :2])
