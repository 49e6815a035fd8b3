"""The torch autoencoder: conformance, architecture, determinism, training, persistence."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from protoflow_encoders import AutoencoderEncoder  # noqa: E402
from protoflow_encoders._nets import build_autoencoder, pooled_sizes  # noqa: E402

import protoflow  # noqa: E402
from protoflow.errors import ConfigError  # noqa: E402
from protoflow.testing import parametrize_with_checks  # noqa: E402
from protoflow.testing.data import blobs  # noqa: E402

TINY = {"latent_dim": 3, "layers": (16,), "epochs": 3, "batch_size": 16, "progress": False}


@parametrize_with_checks(
    [
        functools.partial(AutoencoderEncoder, **TINY),
        functools.partial(AutoencoderEncoder, **TINY | {"variant": "conv", "layers": (4, 8), "image_shape": (2, 3)}),
    ],
    ids=["dense", "conv"],
)
def test_conformance(component, check):
    check(component)


def test_default_dense_architecture_is_the_papers():
    enc, dec = build_autoencoder("dense", 784, 10, (500, 500, 2000), None)
    shapes = [tuple(m.weight.shape[::-1]) for m in enc if isinstance(m, torch.nn.Linear)]
    assert shapes == [(784, 500), (500, 500), (500, 2000), (2000, 10)]
    assert isinstance(enc[-1], torch.nn.Linear) and isinstance(dec[-1], torch.nn.Linear)  # linear code/output
    assert sum(isinstance(m, torch.nn.ReLU) for m in enc) == 3
    rev = [tuple(m.weight.shape[::-1]) for m in dec if isinstance(m, torch.nn.Linear)]
    assert rev == [(10, 2000), (2000, 500), (500, 500), (500, 784)]
    assert AutoencoderEncoder().get_params()["layers"] is None  # None = these defaults


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 5, 7)])
def test_conv_architecture_round_trips_any_image_size(shape):
    n = int(np.prod(shape))
    enc, dec = build_autoencoder("conv", n, 10, (32, 64, 128, 256), shape)
    convs = [m for m in enc if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in enc) == 4
    x = torch.zeros(2, n)
    assert enc(x).shape == (2, 10) and dec(enc(x)).shape == (2, n)
    assert pooled_sizes(28, 28, 4) == [(28, 28), (14, 14), (7, 7), (4, 4), (2, 2)]


def test_same_seed_same_weights_other_seed_differs():
    X = blobs(64, 5, 3, seed=0)
    a = AutoencoderEncoder(seed=1, **TINY).fit(X)
    b = AutoencoderEncoder(seed=1, **TINY).fit(X)
    c = AutoencoderEncoder(seed=2, **TINY).fit(X)
    assert np.array_equal(a.encode(X), b.encode(X))
    assert np.array_equal(a.loss_history_, b.loss_history_)
    assert not np.allclose(a.encode(X), c.encode(X))


def test_training_reduces_the_reconstruction_error():
    X = blobs(200, 8, 4, seed=1) / 4
    ae = AutoencoderEncoder(latent_dim=2, layers=(32,), epochs=40, batch_size=32, lr=3e-3, seed=0,
                            progress=False).fit(X)
    untrained = AutoencoderEncoder(latent_dim=2, layers=(32,), epochs=0, seed=0).fit(X)
    err = np.mean((ae.decode(ae.encode(X)) - X) ** 2)
    err0 = np.mean((untrained.decode(untrained.encode(X)) - X) ** 2)
    assert err < 0.5 * err0
    assert ae.loss_history_.shape == (40,) and ae.loss_history_[-1] < ae.loss_history_[0]
    # the recorded loss is Keras' 'mse': a mean over samples *and* features
    assert abs(ae.loss_history_[-1] - err) < 0.5 * err + 1e-3


def test_save_load_stores_weights_without_pickle(tmp_path):
    X = blobs(40, 6, 2, seed=3)
    ae = protoflow.create_encoder("autoencoder", seed=0, **TINY).fit(X)
    path = protoflow.save(ae, tmp_path / "ae")
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only
        assert any(k.startswith("state:encoder.") for k in npz.files)
    loaded = protoflow.load(path)
    Z = ae.encode(X)
    assert np.array_equal(loaded.encode(X), Z)
    assert np.array_equal(loaded.decode(Z), ae.decode(Z))
    assert loaded.get_params() == ae.get_params() | {"layers": [16]}  # tuples come back as lists


@pytest.mark.parametrize(
    ("params", "name"),
    [({"variant": "rnn"}, "variant"), ({"latent_dim": 0}, "latent_dim"), ({"epochs": -1}, "epochs"),
     ({"lr": 0.0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"layers": (8, "x")}, "layers"),
     ({"variant": "conv", "image_shape": (2, 2)}, "image_shape"), ({"device": "tpu"}, "device"),
     ({"variant": "conv", "image_shape": None}, "image_shape")],
)
def test_bad_parameters_name_themselves(params, name):
    with pytest.raises(ConfigError, match=name):
        AutoencoderEncoder(**(TINY | params)).fit(blobs(20, 6, 2))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        AutoencoderEncoder(device="cuda", **TINY).fit(blobs(20, 4, 2))


def test_progress_bar_is_drawn_on_a_terminal_only(monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    AutoencoderEncoder(**(TINY | {"progress": True, "epochs": 1})).fit(blobs(32, 4, 2))
    assert "autoencoder" in err.getvalue() and "2/2" in err.getvalue()  # 32 rows / 16 = 2 steps
    plain = io.StringIO()  # not a terminal: nothing is drawn
    monkeypatch.setattr("sys.stderr", plain)
    AutoencoderEncoder(**(TINY | {"progress": True, "epochs": 1})).fit(blobs(32, 4, 2))
    assert plain.getvalue() == ""


def test_torch_threads_sets_and_restores_the_thread_count():
    from protoflow.backend import torch_threads

    before = torch.get_num_threads()
    with torch_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before
