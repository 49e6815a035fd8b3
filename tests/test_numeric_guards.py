"""Finite input never yields silent inf/NaN, and no allocation is attempted that cannot fit:
values whose squared distances would overflow are refused with advice to scale, and a map
too large for memory is refused with the estimate before anything is allocated."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protoflow
from protoflow import validation
from protoflow.errors import MemoryLimitError, ValidationError
from protoflow.validation import check_array, check_memory, safe_magnitude


def test_huge_but_finite_values_are_refused_with_advice():
    X = np.full((4, 3), 1e155)
    with pytest.raises(ValidationError, match=r"values up to 1e\+155.*Scale the data"):
        check_array(X)
    W = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ValidationError, match="overflow float64"):
        protoflow.activations(X, W)


def test_float32_input_has_the_float32_limit():
    X = np.full((2, 4), 1e18, dtype=np.float32)
    with pytest.raises(ValidationError, match="overflow float32"):
        check_array(X, allow_float32=True)
    check_array(X)  # converted to float64 it is fine


@settings(max_examples=60, deadline=None)
@given(exponent=st.floats(0, 300), n_features=st.integers(1, 64), seed=st.integers(0, 2**16))
def test_activations_of_accepted_input_are_finite(exponent, n_features, seed):
    rng = np.random.default_rng(seed)
    scale = 10.0**exponent
    Z, W = scale * rng.uniform(-1, 1, size=(3, n_features)), scale * rng.uniform(-1, 1, size=(4, n_features))
    try:
        A = protoflow.activations(Z, W)
    except ValidationError as exc:
        assert "Scale the data" in str(exc)
        assert np.abs(np.concatenate([Z, W])).max() > safe_magnitude(np.float64, n_features)
    else:
        assert np.isfinite(A).all() and (A >= 0).all()


def test_memory_guard_refuses_with_the_estimate(monkeypatch):
    monkeypatch.setattr(validation, "_available_memory", lambda: 8 << 30)
    with pytest.raises(MemoryLimitError, match=r"about 1\.82 TiB.*8 GiB is available.*smaller"):
        check_memory(2e12, "the thing", hint="Use a smaller thing.")
    check_memory(1 << 30, "a small thing")  # fits: nothing raised
    monkeypatch.setattr(validation, "_available_memory", lambda: None)
    check_memory(1e30, "unknown budget")  # unknown: not checked


def test_a_lattice_too_large_for_memory_is_refused_before_allocating():
    lattice = protoflow.Lattice(3000, 3000)
    with pytest.raises(MemoryLimitError, match=r"3000x3000 lattice would need about 2.88 PiB"):
        lattice.distances()
    assert isinstance(MemoryLimitError("x"), MemoryError)


@pytest.mark.parametrize(("rows", "cols"), [(10**9, 1), (3000, 3000)])
def test_a_som_too_large_for_memory_is_refused_with_the_estimate(rows, cols):
    pytest.importorskip("protoflow_som")
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(MemoryLimitError, match=rf"a {rows}x{cols} SOM on 3 features would need about"):
        protoflow.create_model("som", rows=rows, cols=cols, init="random", seed=0).fit(X)


def test_a_diverging_autoencoder_stops_with_the_iteration_and_the_setting():
    pytest.importorskip("torch")
    pytest.importorskip("protoflow_encoders")
    from protoflow.errors import DivergenceError

    X = np.random.default_rng(0).normal(size=(64, 6))
    ae = protoflow.create_encoder("autoencoder", latent_dim=2, layers=[4], epochs=20, batch_size=16,
                                  lr=1e30, seed=0, progress=False)  # Adam steps of ~1e30
    with pytest.raises(DivergenceError, match=r"diverged at iteration \d+ of 80.*lr=1e\+30"):
        ae.fit(X)


def test_data_too_large_for_the_float32_network_is_refused_up_front():
    pytest.importorskip("protoflow_encoders")
    X = np.random.default_rng(0).normal(size=(64, 6)) * 1e30  # fine in float64, not in float32
    ae = protoflow.create_encoder("autoencoder", latent_dim=2, layers=[4], epochs=1, seed=0)
    with pytest.raises(ValidationError, match=r"overflow float32.*Scale the data"):
        ae.fit(X)


def test_desom_refuses_data_its_float32_network_would_overflow():
    pytest.importorskip("protoflow_desom")
    X = np.random.default_rng(0).normal(size=(32, 6)) * 1e20
    model = protoflow.create_model("desom", rows=2, cols=2, latent_dim=2, layers=[4], iterations=2)
    with pytest.raises(ValidationError, match="overflow float32"):
        model.fit(X)


def test_a_diverging_vq_stops_with_the_epoch_and_the_setting():
    pytest.importorskip("torch")
    vq_model = pytest.importorskip("protoflow_vq.model")
    from protoflow.errors import DivergenceError

    X = np.random.default_rng(0).normal(size=(64, 3))
    with pytest.raises(DivergenceError, match=r"diverged in epoch \d+ of 40.*lr"):
        vq_model.VQSGD(n_units=4, epochs=40, lr=1e200, seed=0, progress=False).fit(X * 1e120)


def test_music_from_an_overflowing_point_is_refused_with_advice():
    pytest.importorskip("protoflow_music")
    W = np.random.default_rng(0).normal(size=(9, 3))
    model = protoflow.PrototypeSet(W, protoflow.Lattice(3, 3))
    with pytest.raises(ValidationError, match="Scale the data"):
        protoflow.create_controller("music", seed=0).run(model, np.full(3, 1e160), 4, 3)
