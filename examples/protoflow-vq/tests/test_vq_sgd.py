"""The vq-sgd model: conformance, quality against k-means, determinism, errors, persistence."""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import protoflow_vq.plugin
import pytest
from protoflow_vq import VQSGD, knn_topology

import protoflow
import protoflow.testing
from protoflow.registry import load_registry, using_registry
from protoflow.testing import blobs, check_prototype_model

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.fixture
def vq_registry() -> Iterator[protoflow.registry.Registry]:
    """A fresh registry holding only this plugin, the default while the test runs (so it
    works whether or not protoflow-vq is installed, without touching the default registry)."""
    reg = load_registry(entry_points=False, plugins=[protoflow_vq.plugin])
    with using_registry(reg):
        yield reg


def _qe(X: np.ndarray, W: np.ndarray) -> float:
    return float(((X[:, None, :] - W[None, :, :]) ** 2).sum(-1).min(1).mean())


# -- conformance ------------------------------------------------------------------------------


@pytest.mark.parametrize("topology", ["none", "knn"])
def test_conformance_kit(vq_registry, topology):
    check_prototype_model(
        lambda seed: VQSGD(n_units=8, epochs=3, topology=topology, seed=seed, progress=False)
    )


# The upgraded kit (classes, partials, one pytest test per check) when this protoflow has it.
if hasattr(protoflow.testing, "parametrize_with_checks"):

    @protoflow.testing.parametrize_with_checks(
        [
            functools.partial(VQSGD, n_units=8, epochs=3, progress=False),
            functools.partial(VQSGD, n_units=8, epochs=3, topology="knn", k=2, progress=False),
        ]
    )
    def test_each_conformance_check(vq_registry, component, check):
        check(component)


def test_registered_by_the_plugin(vq_registry):
    info = vq_registry.get("model", "vq-sgd")
    assert info.factory is VQSGD
    model = protoflow.create_model("vq-sgd", n_units=5, epochs=2)
    assert isinstance(model, VQSGD) and model.n_units == 5 and model.epochs == 2


# -- training ---------------------------------------------------------------------------------


def test_loss_decreases_and_attributes():
    X = blobs(400, 5, 4, seed=3)
    m = VQSGD(n_units=10, epochs=8, batch_size=32, seed=0, progress=False).fit(X)
    h = m.loss_history_
    assert h.shape == (8,) and h.dtype == np.float64 and np.isfinite(h).all()
    assert h[-1] < 0.8 * h[0], f"loss did not decrease: {h}"
    assert m.prototypes_.shape == (10, 5) and m.prototypes_.dtype == np.float64
    assert m.n_features_in_ == 5 and m.n_iter_ == 8 and m.n_steps_ == 8 * 13
    assert m.device_ == "cpu" and isinstance(m.topology_, protoflow.NoTopology)
    # the last epoch's running loss is close to the final quantisation error
    assert abs(_qe(X, m.prototypes_) - h[-1]) < 0.1 * h[-1]


@pytest.mark.parametrize(("n_centers", "n_units"), [(4, 12), (5, 16)])
def test_quantisation_error_close_to_kmeans(n_centers, n_units):
    from sklearn.cluster import KMeans

    X = blobs(800, 6, n_centers, seed=4)
    km = KMeans(n_units, n_init=10, random_state=0).fit(X)
    vq = VQSGD(n_units=n_units, epochs=20, batch_size=64, seed=0, progress=False).fit(X)
    qe_vq, qe_km = _qe(X, vq.prototypes_), _qe(X, km.cluster_centers_)
    assert qe_vq <= 1.10 * qe_km, f"vq-sgd QE {qe_vq:.4f} vs k-means {qe_km:.4f}"
    # and training mattered: the seeded starting samples alone are far worse
    start = X[np.random.default_rng(0).choice(len(X), n_units, replace=False)]
    assert qe_vq < 0.9 * _qe(X, start)


def test_same_seed_same_prototypes_other_seed_differs():
    X = blobs(200, 4, 3, seed=5)
    a = VQSGD(n_units=6, epochs=4, seed=11, progress=False).fit(X)
    b = VQSGD(n_units=6, epochs=4, seed=11, progress=False).fit(X)
    c = VQSGD(n_units=6, epochs=4, seed=12, progress=False).fit(X)
    assert np.array_equal(a.prototypes_, b.prototypes_)
    assert np.array_equal(a.loss_history_, b.loss_history_)
    assert not np.allclose(a.prototypes_, c.prototypes_)


def test_fit_leaves_parameters_unchanged():
    m = VQSGD(n_units=4, epochs=2, batch_size=10_000, topology="knn", k=2, seed=1, progress=False)
    before = m.get_params()
    m.fit(blobs(50, 3, 2, seed=0))
    assert m.get_params() == before
    assert m.n_steps_ == 2  # batch_size is capped at n_samples for the fit only


def test_knn_topology():
    X = blobs(300, 4, 3, seed=6)
    m = VQSGD(n_units=9, epochs=3, topology="knn", k=3, seed=0, progress=False).fit(X)
    assert isinstance(m.topology_, protoflow.Graph)
    assert m.topology_ == knn_topology(m.prototypes_, 3)
    W = m.prototypes_
    d = ((W[:, None] - W[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    for i in range(9):
        nearest = set(np.argsort(d[i], kind="stable")[:3].tolist())
        assert nearest <= set(m.topology_.neighbors(i).tolist())


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so the progress output is drawn."""

    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_only(monkeypatch, capsys):
    X = blobs(30, 2, 3, seed=0)
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    VQSGD(n_units=3, epochs=2, seed=0, progress=True).fit(X)
    out = term.getvalue()
    assert "protoflow: vq-sgd: 3 prototypes, 2 epochs on cpu\n" in out
    assert "vq-sgd" in out and "2/2" in out  # the bar reached the last epoch
    term.seek(0)
    term.truncate()
    VQSGD(n_units=3, epochs=2, seed=0, progress=False).fit(X)
    assert term.getvalue() == ""
    monkeypatch.undo()
    VQSGD(n_units=3, epochs=2, seed=0, progress=True).fit(X)  # captured: not a terminal
    assert capsys.readouterr().err == ""


# -- errors -----------------------------------------------------------------------------------

X_SMALL = blobs(40, 3, 2, seed=0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_units": 0}, "'n_units' must be >= 1"),
        ({"n_units": 2.5}, "'n_units' must be an integer"),
        ({"epochs": 0}, "'epochs' must be >= 1"),
        ({"batch_size": True}, "'batch_size' must be an integer"),
        ({"lr": 0.0}, "'lr' must be > 0.0"),
        ({"lr": float("nan")}, "'lr' must be finite"),
        ({"lr": "fast"}, "'lr' must be a number"),
        ({"topology": "grid"}, "'topology' must be one of 'none', 'knn'"),
        ({"topology": "knn", "k": 8}, "'k' must be <= 7"),
        ({"topology": "knn", "n_units": 1}, "needs n_units >= 2"),
        ({"k": 0}, "'k' must be >= 1"),
        ({"device": "tpu"}, "'device' must be"),
        ({"device": 0}, "'device' must be"),
        ({"seed": -1}, "'seed' must be a non-negative integer"),
        ({"progress": "yes"}, "'progress' must be true or false"),
    ],
)
def test_bad_parameters_are_config_errors(params, message):
    model = VQSGD(**{"n_units": 8, "epochs": 1, "progress": False, **params})
    with pytest.raises(protoflow.ConfigError, match=message):
        model.fit(X_SMALL)
    assert not hasattr(model, "prototypes_")


def test_cuda_where_there_is_none_is_a_config_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(protoflow.ConfigError, match="CUDA is not available"):
        VQSGD(n_units=2, epochs=1, device="cuda", progress=False).fit(X_SMALL)


def test_auto_device_resolves_to_what_is_there():
    import torch

    m = VQSGD(n_units=2, epochs=1, device="auto", seed=0, progress=False).fit(X_SMALL)
    assert m.device_ == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert m.prototypes_.dtype == np.float64 and isinstance(m.prototypes_, np.ndarray)


@pytest.mark.parametrize(
    ("Z", "message"),
    [
        (np.where(np.eye(40, 3) > 0, np.nan, X_SMALL), "Z contains NaN"),
        (np.where(np.eye(40, 3) > 0, np.inf, X_SMALL), "Z contains infinity"),
        (X_SMALL[:, 0], "Z must be 2-dimensional"),
        (X_SMALL[:5], "fewer than n_units=8"),
        ([["a", "b"]] * 10, "must hold numbers"),
        (None, "Z is None"),
    ],
)
def test_bad_input_is_a_validation_error(Z, message):
    with pytest.raises(protoflow.ValidationError, match=message):
        VQSGD(n_units=8, epochs=1, progress=False).fit(Z)


def test_without_torch_fit_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(protoflow.TorchNotInstalledError, match="the 'vq-sgd' model needs PyTorch"):
        VQSGD(n_units=2, epochs=1, progress=False).fit(X_SMALL)


# -- persistence ------------------------------------------------------------------------------


def test_save_load_roundtrip(vq_registry, tmp_path: Path):
    X = blobs(120, 4, 3, seed=7)
    m = VQSGD(n_units=6, epochs=3, topology="knn", k=2, lr=0.2, seed=3, progress=False).fit(X)
    path = protoflow.save(m, tmp_path / "vq")
    loaded = protoflow.load(path)
    assert type(loaded) is VQSGD
    assert loaded.get_params() == m.get_params()
    assert np.array_equal(loaded.prototypes_, m.prototypes_)
    assert np.array_equal(loaded.loss_history_, m.loss_history_)
    assert loaded.topology_ == m.topology_
    assert (loaded.n_iter_, loaded.n_steps_, loaded.n_features_in_, loaded.device_) == (3, 3, 4, "cpu")
    assert np.array_equal(loaded.bmu(X), m.bmu(X))
    assert protoflow.read_metadata(path)["name"] == "vq-sgd"
