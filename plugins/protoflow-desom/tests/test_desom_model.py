"""DESOM: conformance, the loss as the paper defines it, schedule, encoder, persistence."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from protoflow_desom import DESOM  # noqa: E402
from protoflow_desom.model import som_loss  # noqa: E402

import protoflow  # noqa: E402
from protoflow.errors import ConfigError  # noqa: E402
from protoflow.neighborhood import gaussian_kernel  # noqa: E402
from protoflow.protocols import Encoder  # noqa: E402
from protoflow.testing import parametrize_with_checks  # noqa: E402
from protoflow.testing.data import blobs, labelled_blobs  # noqa: E402
from protoflow.topology import Lattice  # noqa: E402

TINY = {"rows": 3, "cols": 3, "latent_dim": 2, "layers": (16,), "iterations": 30, "batch_size": 16,
        "progress": False}


CONFORMANCE = TINY | {"iterations": 20}


@parametrize_with_checks(
    [
        functools.partial(DESOM, **CONFORMANCE),
        functools.partial(DESOM, **CONFORMANCE | {"variant": "conv", "layers": (4,), "image_shape": (2, 2),
                                                   "iterations": 10}),
    ],
    ids=["dense", "conv"],
)
def test_conformance(component, check):
    check(component)


def test_registered_by_name():
    assert isinstance(protoflow.create_model("desom", **TINY), DESOM)


def test_defaults_are_the_papers_table_2():
    p = DESOM().get_params()
    assert (p["rows"], p["cols"], p["latent_dim"], p["gamma"], p["t_min"]) == (8, 8, 10, 1e-3, 0.1)
    assert (p["batch_size"], p["lr"], p["iterations"], p["variant"]) == (256, 1e-3, 10000, "dense")
    assert p["t_max"] is None  # = the map size, 8 for 8x8


def test_som_loss_matches_its_definition_and_gradients():
    rng = np.random.default_rng(0)
    z = torch.tensor(rng.normal(size=(7, 3)), requires_grad=True)
    m = torch.tensor(rng.normal(size=(12, 3)), requires_grad=True)
    lat = Lattice(3, 4)
    kernel = gaussian_kernel(lat.distances(), 1.5)
    loss = som_loss(z, m, torch.tensor(kernel))
    loss.backward()
    Z, M = z.detach().numpy(), m.detach().numpy()
    d = ((Z[:, None] - M[None]) ** 2).sum(-1)
    w = kernel[d.argmin(1)]
    assert np.isclose(loss.item(), (w * d).sum(1).mean(), rtol=1e-12)
    # BMUs and weights are constants: the gradients are the paper's closed forms
    n = len(Z)
    grad_m = -(2 / n) * (w[:, :, None] * (Z[:, None] - M[None])).sum(0)
    grad_z = (2 / n) * (w[:, :, None] * (Z[:, None] - M[None])).sum(1)
    np.testing.assert_allclose(m.grad.numpy(), grad_m, atol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), grad_z, atol=1e-12)


def test_neighbourhood_uses_the_true_manhattan_distance():
    """The reference code gives units 1 and 8 of an 8x8 map distance 1; the true one is 2."""
    lat = DESOM(rows=8, cols=8, iterations=0, latent_dim=2, layers=(4,), progress=False)
    lat = lat.fit(blobs(70, 3, 2)).topology_
    assert lat == Lattice(8, 8) and lat.distances()[1, 8] == 2


def test_losses_have_the_keras_scale_and_end_at_t_min():
    """With one full-batch step and a vanishing learning rate the recorded losses must equal
    mean((x_hat - x)^2) over samples and features, and the SOM loss at T = t_min."""
    X = blobs(40, 6, 3, seed=5)
    model = DESOM(rows=2, cols=3, latent_dim=2, layers=(8,), iterations=1, batch_size=64, lr=1e-12,
                  t_min=0.3, seed=0, progress=False).fit(X)
    rec, som = model.loss_history_[0]
    Z = model.encoder.encode(X)
    assert np.isclose(rec, np.mean((model.encoder.decode(Z) - X) ** 2), rtol=1e-4)
    d = ((Z[:, None] - model.prototypes_[None]) ** 2).sum(-1)
    w = gaussian_kernel(model.topology_.distances(), 0.3)[d.argmin(1)]
    assert np.isclose(som, (w * d).sum(1).mean(), rtol=1e-4)


def test_gamma_zero_leaves_prototypes_at_their_encoded_samples():
    X = blobs(50, 5, 2, seed=1)
    model = DESOM(gamma=0.0, seed=3, **TINY).fit(X)
    init = DESOM(seed=3, **(TINY | {"iterations": 0})).fit(X)
    np.testing.assert_allclose(model.prototypes_, init.prototypes_, atol=1e-6)
    # and the initial prototypes are encodings of training samples
    dist = ((init.encoder.encode(X)[:, None] - init.prototypes_[None]) ** 2).sum(-1)
    assert np.allclose(dist.min(axis=0), 0, atol=1e-10)


def test_update_interval_switches_the_som_term_off_between_updates():
    model = DESOM(update_interval=3, seed=0, **TINY).fit(blobs(40, 4, 2))
    som = model.loss_history_[:, 1]
    on = np.arange(len(som)) % 3 == 0
    assert np.isfinite(som[on]).all() and np.isnan(som[~on]).all()


def test_training_organises_the_map_and_the_latent_space():
    X, y = labelled_blobs(300, 10, 3, seed=2)
    model = DESOM(rows=2, cols=2, latent_dim=2, layers=(32,), iterations=300, batch_size=32,
                  lr=3e-3, gamma=0.1, seed=0, progress=False).fit(X / 4)
    first, last = model.loss_history_[:20].mean(0), model.loss_history_[-20:].mean(0)
    assert last[0] < first[0] and last[1] < first[1]
    bmus = model.bmu(model.encode(X / 4))
    purity = sum(np.bincount(y[bmus == k]).max() for k in np.unique(bmus)) / len(y)
    assert purity > 0.9


def test_encoder_decodes_prototypes_and_survives_save_load(tmp_path):
    X = blobs(60, 5, 3, seed=4)
    model = protoflow.create_model("desom", seed=1, **TINY).fit(X)
    assert isinstance(model.encoder, Encoder)
    decoded = model.decoded_prototypes_()
    assert decoded.shape == (9, 5)
    np.testing.assert_allclose(decoded, model.encoder.decode(model.prototypes_))
    loaded = protoflow.load(protoflow.save(model, tmp_path / "desom"))
    assert np.array_equal(loaded.encoder.encode(X), model.encoder.encode(X))
    assert np.array_equal(loaded.decoded_prototypes_(), decoded)
    assert np.array_equal(loaded.loss_history_, model.loss_history_, equal_nan=True)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"rows": 0}, "rows"), ({"gamma": -1.0}, "gamma"), ({"t_min": 0.0}, "t_min"),
     ({"t_max": -2.0}, "t_max"), ({"update_interval": 0}, "update_interval"),
     ({"iterations": 2.5}, "iterations"), ({"variant": "lstm"}, "variant"), ({"seed": -1}, "seed")],
)
def test_bad_parameters_name_themselves(params, name):
    with pytest.raises(ConfigError, match=name):
        DESOM(**(TINY | params)).fit(blobs(30, 4, 2))


def test_inversion_runs_in_the_learned_latent_space():
    """No special case: activations of encoded data against the latent prototypes invert back
    to the codes, and decoding them gives the encoder's reconstructions."""
    from protoflow.inversion import Inverter, activations

    X = blobs(60, 5, 3, seed=6)
    model = DESOM(seed=2, **TINY).fit(X)
    Z = model.encode(X)
    Z_hat = Inverter(model.prototypes_).invert(activations(Z, model.prototypes_))
    np.testing.assert_allclose(Z_hat, Z, atol=1e-8)
    np.testing.assert_allclose(model.encoder.decode(Z_hat), model.encoder.decode(Z), atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        DESOM(device="cuda", **TINY).fit(blobs(30, 4, 2))


def test_progress_flag_reaches_the_bar(monkeypatch):
    """The bar itself is tested with the autoencoder (same training loop); here: DESOM's flag."""
    from protoflow_encoders import torch_training

    seen, real = [], torch_training.Progress

    def spy(*args, **kwargs):
        seen.append((args[1], kwargs["enabled"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch_training, "Progress", spy)
    for flag in (True, False):
        DESOM(seed=0, **(TINY | {"progress": flag, "iterations": 2})).fit(blobs(30, 4, 2))
    assert seen == [("desom", True), ("desom", False)]
