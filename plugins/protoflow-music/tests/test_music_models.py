"""MUSIC runs unchanged on every registered model: this file names no model class and branches
on no model type, only on the shared parameter vocabulary and the protocol attributes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from protoflow_music import MUSIC

import protoflow
from protoflow.errors import ConfigError
from protoflow.testing import blobs

#: models other helpers provide; each is tested when its plugin is installed
EXPECTED = ("som", "toroidal-som", "gng", "kmeans", "desom", "prototypes")

#: small sizes in protoflow's shared parameter vocabulary (applied only where a model has them)
SMALL = {"rows": 4, "cols": 5, "epochs": 3, "max_units": 20, "n_units": 20, "iterations": 200,
         "latent_dim": 3, "batch_size": 32}


def _fitted(name: str, X: np.ndarray):
    model = protoflow.create_model(name)
    model.set_params(**{k: v for k, v in SMALL.items() if k in model.get_params()})
    try:
        return model.fit(X)
    except ConfigError:
        if "prototypes" not in model.get_params():
            raise
    # a fixed codebook needs its prototypes: take them from the data
    return model.set_params(prototypes=X[:: max(1, len(X) // 20)][:20]).fit(X)


def _names():
    return sorted(set(EXPECTED) | set(protoflow.get_registry().models))


@pytest.mark.parametrize("name", _names())
def test_informed_and_cluster_on_every_model(name):
    if name not in protoflow.get_registry().models:
        pytest.skip(f"model {name!r} is not registered (its plugin is not installed)")
    X = blobs(150, 4, 3, seed=0)
    try:
        model = _fitted(name, X)
    except ImportError as exc:  # e.g. torch missing for a torch-backed model
        pytest.skip(f"model {name!r} needs an optional dependency: {exc}")
    enc = getattr(model, "encoder", None)
    Z = X if enc is None else np.asarray(enc.encode(X))
    W = np.asarray(model.prototypes_, dtype=np.float64)
    z0 = Z[[0, 1, 2, 3]].astype(np.float64)
    target = int(np.argmax(((W - Z[0]) ** 2).sum(1)))  # the unit farthest from the first start
    cluster = [int(u) for u in np.argsort(((W - W[target]) ** 2).sum(1))[:3]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ring without topology falls back to knn
        for preserve in ("all", "ring", "knn"):
            ctrl = MUSIC(preserve=preserve, trust=0.2, gamma=0.95, k=4)
            traj = ctrl.run(model, z0, target, 60)
            assert traj.points.shape == (4, 61, W.shape[1])
            assert np.isfinite(traj.points).all()
            assert np.array_equal(traj.bmus[:, -1], model.bmu(traj.points[:, -1]))
            before = np.linalg.norm(z0 - W[target], axis=1)
            after = np.linalg.norm(traj.points[:, -1] - W[target], axis=1)
            assert (after < before).all(), f"{preserve}: informed steps did not approach the target"
        ctrl = MUSIC(mode="cluster", trust=0.2, subsample=2, seed=0)
        traj = ctrl.run(model, z0, cluster, 60)
        centre = W[cluster].mean(0)
        assert np.isfinite(traj.points).all()
        assert (np.linalg.norm(traj.points[:, -1] - centre, axis=1)
                < np.linalg.norm(z0 - centre, axis=1)).all()
