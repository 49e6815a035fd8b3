"""Semantic helpers: classifier confidence, sharpness, manifold and cluster distances."""

from __future__ import annotations

import numpy as np
import pytest

from protoflow.errors import ConfigError, ValidationError
from protoflow.metrics import semantic as sm


class _Nearest:
    """A tiny probabilistic classifier: softmax of negative distances to class centres."""

    def __init__(self, centres, classes):
        self.centres = np.asarray(centres, float)
        self.classes_ = np.asarray(classes)

    def predict_proba(self, X):
        d = ((X[:, None] - self.centres) ** 2).sum(-1)
        e = np.exp(-(d - d.min(1, keepdims=True)))
        return e / e.sum(1, keepdims=True)


def test_classifier_confidence_counts_detours_and_first_hit():
    clf = _Nearest([[0.0], [5.0], [10.0]], ["a", "b", "c"])
    path = np.linspace(0, 10, 11)[:, None]  # passes through class b on its way from a to c
    out = sm.classifier_confidence(clf, path, "c")
    assert out["predicted"][0] == "a" and out["predicted"][-1] == "c"
    assert out["first_target_step"] == 8
    assert out["detour_steps"] == int(np.sum(out["predicted"] == "b")) > 0
    assert out["min"] <= out["mean"] <= 1.0
    assert np.allclose(out["confidence"], clf.predict_proba(path).max(1))
    never = sm.classifier_confidence(clf, path[:3], "c")
    assert never["first_target_step"] is None
    with pytest.raises(ValidationError):
        sm.classifier_confidence(clf, path, "z")


def test_sharpness_prefers_edges_to_blur():
    sharp = np.zeros((8, 8))
    sharp[:, 4:] = 1.0
    blur = np.tile(np.linspace(0, 1, 8), (8, 1))
    s = sm.sharpness(np.stack([sharp.ravel(), blur.ravel()]), (8, 8))
    assert s[0] > s[1] and s[1] == pytest.approx(0.0, abs=1e-20)
    assert sm.sharpness(np.zeros((1, 48)), (4, 4, 3))[0] == 0.0
    with pytest.raises(ValidationError):
        sm.sharpness(np.zeros((1, 10)), (3, 3))


def test_manifold_distance_is_mean_of_k_nearest():
    R = np.array([[0.0, 0], [1, 0], [0, 2], [10, 10]])
    d = sm.manifold_distance(np.zeros((1, 2)), R, k=3)
    assert d[0] == pytest.approx((0 + 1 + 2) / 3)
    assert sm.manifold_distance(R, R, k=1) == pytest.approx(np.zeros(4))
    with pytest.raises(ConfigError, match="k"):
        sm.manifold_distance(R, R, k=5)


def test_distance_to_cluster():
    M = np.array([[1.0, 0], [-1, 0]])
    P = np.array([[0.0, 3], [2, 0]])
    assert np.allclose(sm.distance_to_cluster(P, M), [3, 2])
    assert np.allclose(sm.distance_to_cluster(P, M, kind="nearest"), [np.sqrt(10), 1])
    with pytest.raises(ConfigError, match="kind"):
        sm.distance_to_cluster(P, M, kind="max")
