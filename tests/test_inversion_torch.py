"""Inverter(backend="torch") and the backend/device resolution in `protoflow.backend`."""

import subprocess
import sys

import numpy as np
import pytest

from protoflow import backend as _backend
from protoflow.errors import ConfigError, ValidationError
from protoflow.inversion import Inverter, activations, invert

torch = pytest.importorskip("torch")


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _problem(n=200, n_units=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    W, Z = rng.normal(size=(n_units, d)), rng.normal(size=(n, d))
    return W, Z, activations(Z, W)


def test_torch_matches_numpy_for_a_batch_and_one_point():
    W, Z, A = _problem()
    ref, inv = Inverter(W), Inverter(W, backend="torch", device="cpu")
    out = inv.invert(A)
    assert isinstance(out, np.ndarray) and out.shape == Z.shape
    np.testing.assert_allclose(out, ref.invert(A), rtol=0, atol=1e-10)
    np.testing.assert_allclose(out, Z, rtol=0, atol=1e-9)
    one = inv.invert(A[3])
    assert one.shape == (8,)
    np.testing.assert_allclose(one, ref.invert(A[3]), rtol=0, atol=1e-10)


def test_tensor_in_tensor_out():
    W, Z, A = _problem()
    inv = Inverter(W, backend="torch")
    out = inv.invert(torch.as_tensor(A, dtype=torch.float32))  # float32 input is promoted
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == Z.shape
    np.testing.assert_allclose(out.numpy(), Z, atol=1e-4)
    single = inv.invert(torch.as_tensor(A[0]))
    assert single.shape == (8,)
    np.testing.assert_allclose(single.numpy(), Z[0], atol=1e-9)


def test_weighted_nearest_and_one_shot_agree_with_numpy():
    W, _, A = _problem(n=30)
    cov = np.diag(np.linspace(0.5, 2.0, W.shape[0]))
    np.testing.assert_allclose(
        Inverter(W, noise_cov=cov, backend="torch").invert(A), Inverter(W, noise_cov=cov).invert(A), atol=1e-10
    )
    np.testing.assert_allclose(
        Inverter(W, backend="torch").invert(A, n_nearest=12), Inverter(W).invert(A, n_nearest=12), atol=1e-10
    )
    np.testing.assert_allclose(invert(A, W, backend="torch"), invert(A, W), atol=1e-10)


def test_model_inverter_passes_the_backend_through():
    from protoflow.prototypes import PrototypeSet

    W, Z, A = _problem()
    inv = PrototypeSet(W).inverter(backend="torch")
    np.testing.assert_allclose(inv.invert(A), Z, atol=1e-9)


def test_bad_activations_raise_validation_errors():
    W, _, A = _problem(n=5)
    inv = Inverter(W, backend="torch")
    bad = A.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        inv.invert(bad)
    with pytest.raises(ValidationError, match="NaN"):
        inv.invert(torch.as_tensor(bad))
    with pytest.raises(ValidationError, match=r"shape \(n_samples, 40\)"):
        inv.invert(torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValidationError, match="floating"):
        inv.invert(torch.zeros(3, 40, dtype=torch.int64))
    with pytest.raises(ValidationError):
        inv.invert(A[:, :5])


@pytest.mark.parametrize(("backend", "device", "match"), [
    ("jax", None, "parameter 'backend' must be one of"),
    ("torch", "gpu", "parameter 'device' must be"),
    ("numpy", "cuda", "backend='numpy' runs on the CPU only"),
    ("torch", "cuda", "CUDA is not available"),
    ("torch", "cuda:1", "CUDA is not available"),
])
def test_bad_backend_or_device(backend, device, match, no_cuda):
    W, _, _ = _problem(n=2)
    with pytest.raises(ConfigError, match=match):
        Inverter(W, backend=backend, device=device)


def test_resolve_device(no_cuda):
    assert _backend.resolve_device("numpy", None) is None
    assert _backend.resolve_device("numpy", "cpu") is None
    assert _backend.resolve_device("torch", None) == torch.device("cpu")
    assert _backend.resolve_device("torch", "auto") == torch.device("cpu")


def test_cuda_device_checks_when_cuda_is_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _backend.resolve_device("torch", "auto") == torch.device("cuda")
    assert _backend.resolve_device("torch", "cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match="has 1 CUDA device"):
        _backend.resolve_device("torch", "cuda:2")
    with pytest.raises(ConfigError, match="must be 'cpu', 'cuda', 'cuda:N'"):
        _backend.resolve_device("torch", "cuda:x")


def test_missing_torch_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(_backend.TorchNotInstalledError, match="pip install torch"):
        _backend.resolve_device("torch", "cpu")
    assert _backend.resolve_device("numpy", None) is None  # numpy needs no torch
    assert issubclass(_backend.TorchNotInstalledError, ImportError)


def test_import_protoflow_does_not_import_torch():
    code = (
        "import sys, numpy as np, protoflow, protoflow.inversion as inv\n"
        "inv.Inverter(np.random.default_rng(0).normal(size=(5, 3))).invert(np.ones((2, 5)))\n"
        "import protoflow_som, protoflow_music\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_numpy():
    W, _, A = _problem()
    inv = Inverter(W, backend="torch", device="cuda")
    np.testing.assert_allclose(inv.invert(A), Inverter(W).invert(A), atol=1e-10)
    out = inv.invert(torch.as_tensor(A, device="cuda"))
    assert out.device.type == "cuda"
