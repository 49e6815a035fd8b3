"""MUSIC(backend="torch"): batched trajectories and the solver routes agree with numpy."""

import functools
import warnings

import numpy as np
import pytest
from protoflow_music import MUSIC, solve_regularized

from protoflow.errors import ConfigError
from protoflow.prototypes import PrototypeSet
from protoflow.testing import parametrize_with_checks
from protoflow.topology import Lattice

torch = pytest.importorskip("torch")

CASES = [
    ({}, 7),
    ({"preserve": "ring", "passes": 2}, 7),
    ({"preserve": "knn", "k": 3, "solver": "woodbury"}, 7),
    ({"solver": "cg"}, 7),
    ({"mode": "cluster", "subsample": 0.5, "target_weights": "gaussian"}, [3, 7, 8]),
    ({"mode": "cluster", "target_weights": [1.0, 2.0, 0.5], "row_normalize": False}, [3, 7, 8]),
    ({"mode": "cluster-random", "step_noise": 0.01, "target_noise": 0.01, "jitter": 0.01}, [3, 7, 8]),
    ({"mode": "free", "preserve": "knn", "k": 2}, None),
]


def _model(n_units=30, d=6, seed=0):
    return PrototypeSet(np.random.default_rng(seed).normal(size=(n_units, d)), Lattice(5, 6))


@pytest.mark.parametrize(("params", "target"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_batched_trajectories_match_numpy(params, target):
    model = _model()
    z0 = np.random.default_rng(1).normal(size=(9, 6))
    ref = MUSIC(seed=4, **params).run(model, z0, target, 6)
    out = MUSIC(seed=4, backend="torch", device="cpu", **params).run(model, z0, target, 6)
    assert isinstance(out.points, np.ndarray) and out.points.shape == (9, 7, 6)
    np.testing.assert_allclose(out.points, ref.points, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(out.bmus, ref.bmus)


def test_step_info_matches_numpy():
    model = _model()
    z0 = np.random.default_rng(2).normal(size=(5, 6))
    params = {"mode": "cluster", "passes": 2, "target_noise": 0.01}
    ref_z, ref_info = _step_info(MUSIC(seed=1, **params), model, z0, [2, 9])
    out_z, info = _step_info(MUSIC(seed=1, backend="torch", **params), model, z0, [2, 9])
    np.testing.assert_allclose(out_z, ref_z, atol=1e-10)
    for key in ("energy_preserve", "energy_target", "energy_reg", "energy", "step_length"):
        np.testing.assert_allclose(info[key], ref_info[key], rtol=1e-9, atol=1e-12)
    assert info["solver"] == ref_info["solver"] and info["n_rows"] == ref_info["n_rows"]


def _step_info(ctrl, model, z, target):
    return ctrl._step_with_info(model, z, target, ctrl._start(model, z, target))


def test_single_point_step_returns_numpy():
    model = _model()
    z = np.random.default_rng(3).normal(size=6)
    out = MUSIC(backend="torch").step(model, z, 4)
    assert isinstance(out, np.ndarray) and out.shape == (6,)
    np.testing.assert_allclose(out, MUSIC().step(model, z, 4), atol=1e-12)


@pytest.mark.parametrize("route", ["woodbury", "cholesky", "cg"])
@pytest.mark.parametrize(("r", "d"), [(4, 15), (25, 6), (0, 3)])
def test_solver_routes_on_tensors(route, r, d):
    rng = np.random.default_rng(r * 100 + d)
    J, y = rng.normal(size=(3, r, d)), rng.normal(size=(3, r))
    ref, _ = solve_regularized(J, y, 0.05, route)
    out, used = solve_regularized(torch.as_tensor(J), torch.as_tensor(y), 0.05, route)
    assert used == route and isinstance(out, torch.Tensor) and out.shape == (3, d)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


@parametrize_with_checks([(functools.partial(MUSIC, backend="torch"), {"targets": (7,)})], ids=["torch"])
def test_conformance_with_torch_backend(component, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(component)


@pytest.mark.parametrize(("params", "match"), [
    ({"backend": "cupy"}, "parameter 'backend'"),
    ({"backend": "torch", "device": "cuda"}, "CUDA is not available"),
    ({"device": "cuda:0"}, "backend='numpy' runs on the CPU only"),
])
def test_bad_backend_or_device(params, match, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=match):
        MUSIC(**params).step(_model(), np.zeros(6), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_numpy():
    model = _model()
    z0 = np.random.default_rng(1).normal(size=(9, 6))
    ref = MUSIC(seed=4, mode="cluster").run(model, z0, [3, 7], 4)
    out = MUSIC(seed=4, mode="cluster", backend="torch", device="cuda").run(model, z0, [3, 7], 4)
    np.testing.assert_allclose(out.points, ref.points, atol=1e-9)
