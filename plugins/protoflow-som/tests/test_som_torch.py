"""SOM(backend="torch"): the batch and minibatch epochs agree with numpy, stay deterministic,
save and load, and refuse what they cannot do with a clear error."""

import functools

import numpy as np
import pytest
from protoflow_som import SOM, ToroidalSOM, batch

import protoflow
from protoflow.errors import ConfigError
from protoflow.testing import blobs, parametrize_with_checks

torch = pytest.importorskip("torch")

MINIBATCH = {"algorithm": "minibatch", "batch_size": 64, "learning_rate": 0.05}


def _pair(X, **params):
    """The same model trained with both backends."""
    return SOM(**params).fit(X), SOM(backend="torch", device="cpu", **params).fit(X)


@pytest.mark.parametrize("extra", [
    {}, {"kind": "hex"}, {"toroidal": True}, {"init": "random"}, MINIBATCH, {**MINIBATCH, "kind": "hex"},
], ids=["batch", "batch-hex", "batch-torus", "batch-random-init", "minibatch", "minibatch-hex"])
def test_torch_matches_numpy_float64(extra):
    X = blobs(600, 6, 4, seed=1)
    a, b = _pair(X, rows=5, cols=6, epochs=4, seed=3, **extra)
    assert isinstance(b.prototypes_, np.ndarray) and b.prototypes_.dtype == np.float64
    np.testing.assert_allclose(b.prototypes_, a.prototypes_, rtol=0, atol=1e-10)
    # QE sums sqrt(||z||^2 - 2 z.w + ||w||^2): a row sitting on its prototype (init="random"
    # copies rows) has d2 ~ 1e-16 from cancellation on either backend, whose sqrt is ~1e-8
    np.testing.assert_allclose(b.quantization_error_history_, a.quantization_error_history_, rtol=1e-10, atol=1e-7)
    assert b.n_iter_ == a.n_iter_ == 4


@pytest.mark.parametrize("extra", [{}, MINIBATCH], ids=["batch", "minibatch"])
def test_torch_matches_numpy_float32(extra):
    X = blobs(500, 5, 3, seed=2)
    a, b = _pair(X, rows=4, cols=4, epochs=3, seed=0, dtype="float32", **extra)
    assert b.prototypes_.dtype == np.float32
    np.testing.assert_allclose(b.prototypes_, a.prototypes_, rtol=1e-5, atol=1e-5)


def test_same_seed_same_result_and_training_works():
    X = blobs(400, 4, 3, seed=4)
    runs = [SOM(rows=4, cols=4, epochs=3, seed=9, backend="torch").fit(X) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].prototypes_, runs[1].prototypes_)
    other = SOM(rows=4, cols=4, epochs=3, seed=10, backend="torch", init="random").fit(X)
    assert not np.array_equal(other.prototypes_, runs[0].prototypes_)
    hist = runs[0].quantization_error_history_
    assert hist[-1] < hist[0]


def test_bmus_match_numpy_over_several_blocks(monkeypatch):
    monkeypatch.setattr(batch, "_BLOCK_BYTES", 1)  # 256-row blocks
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(1000, 7)), rng.normal(size=(20, 7))
    b_np, d2_np = batch.bmus(X, batch.scoring_matrix(W))
    b_t, d2_t = batch.bmus(torch.as_tensor(X), batch.scoring_matrix(torch.as_tensor(W)))
    np.testing.assert_array_equal(b_t.numpy(), b_np)
    np.testing.assert_allclose(d2_t.numpy(), d2_np, rtol=1e-12, atol=1e-12)


def test_dead_units_keep_their_prototype_on_both_backends():
    # a vanishing neighbourhood (T = 1e-3) gives zero weight to units no row picked
    X = np.vstack([np.zeros((50, 2)), np.ones((50, 2))]) + np.random.default_rng(0).normal(scale=0.01, size=(100, 2))
    a, b = _pair(X, rows=3, cols=3, epochs=2, t_max=1e-3, t_min=1e-3, init="random", seed=1)
    np.testing.assert_allclose(b.prototypes_, a.prototypes_, rtol=0, atol=1e-12)


def test_partial_fit_and_switching_backends_between_epochs():
    X = blobs(300, 4, 3, seed=5)
    params = {"rows": 3, "cols": 4, "epochs": 4, "seed": 2, **MINIBATCH}
    ref = SOM(**params)
    mixed = SOM(**params)
    for i in range(4):
        ref.partial_fit(X)
        mixed.set_params(backend="torch" if i % 2 else "numpy").partial_fit(X)
    np.testing.assert_allclose(mixed.prototypes_, ref.prototypes_, rtol=0, atol=1e-10)
    assert isinstance(mixed._adam.m, np.ndarray)  # Adam's moments return to numpy


@parametrize_with_checks(
    [
        functools.partial(ToroidalSOM, rows=3, cols=4, epochs=2, backend="torch"),
        functools.partial(SOM, rows=2, cols=3, epochs=2, backend="torch", **MINIBATCH),
    ],
    ids=["torus-torch", "minibatch-torch"],
)
def test_conformance_with_torch_backend(component, check):
    check(component)


def test_save_load_keeps_backend_and_numpy_prototypes(tmp_path):
    X = blobs(200, 3, 3, seed=6)
    model = SOM(rows=3, cols=3, epochs=2, seed=0, backend="torch", device="cpu").fit(X)
    loaded = protoflow.load(protoflow.save(model, tmp_path / "som"))
    assert loaded.get_params()["backend"] == "torch" and loaded.get_params()["device"] == "cpu"
    assert isinstance(loaded.prototypes_, np.ndarray)
    np.testing.assert_array_equal(loaded.prototypes_, model.prototypes_)
    loaded.partial_fit(X)  # and it trains on from there
    assert loaded.n_iter_ == 3


def test_online_with_torch_is_a_config_error():
    with pytest.raises(ConfigError, match="'online' rule needs backend='numpy'"):
        SOM(algorithm="online", backend="torch").fit(blobs(50, 3, 2))


@pytest.mark.parametrize(("params", "match"), [
    ({"backend": "jax"}, "parameter 'backend'"),
    ({"backend": "torch", "device": "tpu"}, "parameter 'device'"),
    ({"device": "cuda"}, "backend='numpy' runs on the CPU only"),
    ({"backend": "torch", "device": "cuda"}, "CUDA is not available"),
])
def test_bad_backend_or_device_is_a_config_error(params, match, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=match):
        SOM(rows=2, cols=2, **params).fit(blobs(30, 2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("extra", [{}, MINIBATCH], ids=["batch", "minibatch"])
def test_cuda_matches_numpy(extra):
    X = blobs(600, 6, 4, seed=1)
    a = SOM(rows=5, cols=6, epochs=3, seed=3, **extra).fit(X)
    b = SOM(rows=5, cols=6, epochs=3, seed=3, backend="torch", device="cuda", **extra).fit(X)
    np.testing.assert_allclose(b.prototypes_, a.prototypes_, rtol=0, atol=1e-9)
