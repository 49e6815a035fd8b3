"""Protocols, Trajectory value semantics, validation messages, the conformance kit itself."""

from __future__ import annotations

import numpy as np
import pytest

import protoflow
from protoflow.testing import check_controller, check_prototype_model
from protoflow.validation import check_array, check_choice, check_float, check_int, check_seed


def test_trajectory_is_frozen_read_only_and_compares_arrays() -> None:
    pts = np.arange(6.0).reshape(3, 2)
    t = protoflow.Trajectory(points=pts, bmus=[0, 1, 1], info=[{"len": 1.0}, {"len": 2.0}])
    pts[0, 0] = 99  # the trajectory kept its own copy
    assert t.points[0, 0] == 0
    with pytest.raises(ValueError):
        t.points[0, 0] = 5
    same = protoflow.Trajectory(points=np.arange(6.0).reshape(3, 2), bmus=[0, 1, 1],
                                info=[{"len": 1.0}, {"len": 2.0}])
    assert t == same
    other = protoflow.Trajectory(points=np.arange(6.0).reshape(3, 2) + 1, bmus=[0, 1, 1],
                                 info=[{"len": 1.0}, {"len": 2.0}])
    assert t != other
    assert t.n_steps == 2 and t.steps.shape == (2, 2)
    with pytest.raises(ValueError, match="bmus"):
        protoflow.Trajectory(points=pts, bmus=[0, 1])


@pytest.mark.parametrize(
    "bad,match",
    [
        ([[1.0, np.nan]], "NaN"),
        ([[1.0, np.inf]], "infinity"),
        ([1.0, 2.0], "reshape"),
        (np.zeros((0, 3)), "at least 1"),
        ([["a", "b"]], "numbers"),
        (np.zeros((2, 0)), "0 features"),
    ],
)
def test_check_array_messages(bad, match) -> None:
    with pytest.raises(protoflow.ValidationError, match=match):
        check_array(bad)


def test_parameter_checks_name_the_parameter() -> None:
    with pytest.raises(protoflow.ConfigError, match="'rows'"):
        check_int("rows", 0, minimum=1)
    with pytest.raises(protoflow.ConfigError, match="'rows'"):
        check_int("rows", 2.5)
    with pytest.raises(protoflow.ConfigError, match="'gamma'"):
        check_float("gamma", 1.5, maximum=1)
    with pytest.raises(protoflow.ConfigError, match=r"'kind'.*'rect', 'hex'"):
        check_choice("kind", "square", ["rect", "hex"])
    with pytest.raises(protoflow.ConfigError, match="seed"):
        check_seed(-1)
    assert check_seed(3).integers(100) == check_seed(3).integers(100)


def test_errors_share_one_base_and_builtin_parents() -> None:
    for exc in (protoflow.ValidationError, protoflow.ConfigError, protoflow.NotInvertibleError):
        assert issubclass(exc, protoflow.ProtoflowError) and issubclass(exc, ValueError)
    assert issubclass(protoflow.UnknownPluginError, LookupError)


def test_unfitted_model_error() -> None:
    with pytest.raises(protoflow.NotFittedError, match="PrototypeSet is not fitted"):
        protoflow.PrototypeSet().activations(np.zeros((1, 2)))


def test_prototype_set_passes_the_kit_spanning_or_not() -> None:
    W = np.random.default_rng(0).normal(size=(12, 4))
    check_prototype_model(lambda seed: protoflow.PrototypeSet(W, protoflow.Lattice(3, 4)))
    check_prototype_model(lambda seed: protoflow.PrototypeSet(np.ones((3, 4)) * np.arange(3)[:, None]))


def test_kit_catches_a_model_with_wrong_activations() -> None:
    class Liar(protoflow.PrototypeSet):
        def activations(self, Z):
            return np.sqrt(super().activations(Z))  # distances, not squared distances

    with pytest.raises(AssertionError, match="check_activations_are_squared_distances"):
        check_prototype_model(lambda seed: Liar(np.random.default_rng(0).normal(size=(6, 4))))


class _Greedy(protoflow.ControllerBase):
    """Test controller: moves a fixed fraction of the way to the target prototype."""

    def __init__(self, rate: float = 0.5, seed: int | None = None):
        self.rate = rate
        self.seed = seed

    def _step_with_info(self, model, z, target, state):
        w = model.prototypes_[target]
        return z + self.rate * (w - z), {"rate": self.rate}


def test_kit_accepts_a_correct_controller_and_catches_a_broken_one() -> None:
    check_controller(lambda seed: _Greedy(seed=seed))

    class Drifty(_Greedy):
        def run(self, model, z0, target, steps):
            t = super().run(model, z0, target, steps)
            return protoflow.Trajectory(points=t.points + 1.0, bmus=t.bmus, info=t.info)

    with pytest.raises(AssertionError, match="start at z0"):
        check_controller(lambda seed: Drifty(seed=seed))


def test_controller_run_converges_for_the_greedy_rule() -> None:
    W = np.random.default_rng(1).normal(size=(8, 2))
    m = protoflow.PrototypeSet(W)
    traj = _Greedy().run(m, np.zeros(2), 3, 30)
    np.testing.assert_allclose(traj.points[-1], W[3], atol=1e-6)
    assert traj.bmus[-1] == 3
