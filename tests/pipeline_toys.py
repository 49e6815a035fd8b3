"""Throwaway plugins for the pipeline, config and CLI tests (not collected: no test_ prefix).

They are deliberately tiny so the tests exercise the pipeline, not real models. Load with
``importlib`` (tests run with --import-mode=importlib) and register with `register_toys`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import protoflow
from protoflow.base import ControllerBase, EncoderBase, PrototypeModelBase
from protoflow.data import Dataset
from protoflow.topology import Lattice
from protoflow.validation import check_array, check_int, check_seed


class ToyPCA(EncoderBase):
    """PCA by SVD: encode (n, d) -> (n, n_components); decode back."""

    def __init__(self, n_components: int = 2, seed: Any = None) -> None:
        self.n_components = n_components
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> ToyPCA:
        X = check_array(X)
        self.mean_ = X.mean(axis=0)
        _, _, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        self.components_ = Vt[: check_int("n_components", self.n_components, minimum=1)]
        self.exact_inverse_ = self.components_.shape[0] == X.shape[1]
        return self

    def encode(self, X: Any) -> np.ndarray:
        return (check_array(X) - self.mean_) @ self.components_.T

    def decode(self, Z: Any) -> np.ndarray:
        return check_array(Z) @ self.components_ + self.mean_


class ToyGrid(PrototypeModelBase):
    """A few Lloyd iterations from seeded samples, on a rows x cols lattice."""

    def __init__(self, rows: int = 3, cols: int = 3, kind: str = "rect", toroidal: bool = False,
                 iterations: int = 5, seed: Any = None) -> None:
        self.rows, self.cols, self.kind, self.toroidal = rows, cols, kind, toroidal
        self.iterations = iterations
        self.seed = seed

    def fit(self, Z: Any, y: Any = None) -> ToyGrid:
        Z = check_array(Z)
        rng = check_seed(self.seed)
        K = check_int("rows", self.rows, minimum=1) * check_int("cols", self.cols, minimum=1)
        W = Z[rng.choice(len(Z), size=K, replace=len(Z) < K)] + rng.normal(scale=1e-3, size=(K, Z.shape[1]))
        for _ in range(self.iterations):
            b = protoflow.bmu(Z, W)
            for k in range(K):
                if np.any(b == k):
                    W[k] = Z[b == k].mean(axis=0)
        self.prototypes_ = W
        self.topology_ = Lattice(self.rows, self.cols, kind=self.kind, toroidal=self.toroidal)
        self.n_features_in_ = Z.shape[1]
        return self


class ToyStep(ControllerBase):
    """Moves a fraction `rate` towards the target (or cluster mean), plus seeded noise."""

    name = "toy-step"
    supported_targets = ("unit", "cluster")

    def __init__(self, rate: float = 0.2, noise: float = 0.01, mode: str = "auto",
                 seed: Any = None) -> None:
        self.rate, self.noise, self.mode, self.seed = rate, noise, mode, seed

    def _start(self, model: Any, z0: np.ndarray, target: Any) -> Any:
        if self.mode != "auto" and (np.ndim(target) == 0) != (self.mode == "informed"):
            raise protoflow.ValidationError(f"mode {self.mode!r} does not fit target {target!r}")
        return check_seed(self.seed)

    def _step_with_info(self, model: Any, z: np.ndarray, target: Any, state: Any):
        goal = np.asarray(model.prototypes_)[np.atleast_1d(target)].mean(axis=0)
        z_next = z + self.rate * (goal - z) + state.normal(scale=self.noise, size=z.shape)
        return z_next, {"step_length": np.linalg.norm(z_next - z, axis=-1)}


def toy_blobs(n_samples: int = 150, n_features: int = 4, image: bool = False, seed: Any = None) -> Dataset:
    """Three labelled blobs; with `image`, 9 features shown as 3x3 images."""
    d = 9 if image else n_features
    rng = check_seed(seed)
    y = np.arange(n_samples) % 3
    centres = rng.normal(scale=3.0, size=(3, d))
    X = centres[y] + rng.normal(size=(n_samples, d))
    return Dataset(X=X, y=y, image_shape=(3, 3) if image else None, name="toy-blobs")


class ToyPlugin:
    @protoflow.hookimpl
    def protoflow_register_models(self, registry):
        registry.add_model("toy-grid", ToyGrid, summary="test lattice model")

    @protoflow.hookimpl
    def protoflow_register_encoders(self, registry):
        registry.add_encoder("toy-pca", ToyPCA, summary="test PCA")

    @protoflow.hookimpl
    def protoflow_register_controllers(self, registry):
        registry.add_controller("toy-step", ToyStep, summary="test controller")

    @protoflow.hookimpl
    def protoflow_register_datasets(self, registry):
        registry.add_dataset("toy-blobs", toy_blobs, summary="test blobs")


PLUGIN_NAME = "pipeline-toys"


def register_toys() -> None:
    """Register the toys in the default registry (idempotent)."""
    if protoflow.get_registry().plugin_manager.get_plugin(PLUGIN_NAME) is None:
        protoflow.register(ToyPlugin(), name=PLUGIN_NAME)


def unregister_toys() -> None:
    if protoflow.get_registry().plugin_manager.get_plugin(PLUGIN_NAME) is not None:
        protoflow.unregister(PLUGIN_NAME)


def autouse_fixture() -> Any:
    """An autouse fixture registering the toys for each test of the module that assigns it."""
    import pytest

    @pytest.fixture(autouse=True)
    def _toys() -> Any:
        register_toys()
        yield
        unregister_toys()

    return _toys


TOY_TOML = """
[run]
seed = 3
steps = 12
starts = 2
pairs = [{ source = 0, target = 1 }, { source_index = 4, target_cluster = 2 }]
baselines = [{ name = "toy-step", rate = 0.5, noise = 0.0 }]

[data]
name = "toy-blobs"
image = true

[encoder]
name = "toy-pca"
n_components = 3

[model]
name = "toy-grid"
rows = 3
cols = 4

[controller]
name = "toy-step"

[[compare]]
label = "hex"
model = { name = "toy-grid", rows = 4, cols = 3, kind = "hex" }
"""


def config_fixture() -> Any:
    """A fixture writing the toy config without figures or report to ``tmp_path/toy.toml``
    (the CLI and run-folder tests: fast, and no matplotlib needed)."""
    import pytest

    @pytest.fixture()
    def config(tmp_path: Any) -> Any:
        path = tmp_path / "toy.toml"
        path.write_text(TOY_TOML.replace("[run]\n", "[run]\nfigures = false\nreport = false\n", 1))
        return path

    return config
