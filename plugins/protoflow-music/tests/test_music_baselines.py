"""The linear and radial baselines."""

from __future__ import annotations

import numpy as np
import pytest
from protoflow_music import MUSIC, LinearController, RadialController, step_lengths_of

import protoflow
from protoflow.errors import ConfigError, ValidationError
from protoflow.prototypes import PrototypeSet
from protoflow.testing import parametrize_with_checks
from protoflow.topology import Lattice


def _model():
    return PrototypeSet(np.random.default_rng(0).normal(size=(20, 5)), Lattice(4, 5))


@parametrize_with_checks([LinearController, RadialController])
def test_conformance(component, check):
    """Targets come from supported_targets: ("unit", "cluster") -> 7 and [3, 7, 8]."""
    check(component)


def test_registered_by_name():
    assert isinstance(protoflow.create_controller("linear"), LinearController)
    assert isinstance(protoflow.create_controller("radial"), RadialController)


def test_linear_is_an_equal_step_straight_line_to_the_goal():
    model = _model()
    Z0 = np.random.default_rng(1).normal(size=(3, 5))
    traj = LinearController().run(model, Z0, [2, 3], 10)
    goal = model.prototypes_[[2, 3]].mean(0)
    assert np.allclose(traj.points[:, -1], goal)
    steps = traj.steps
    assert np.allclose(steps, steps[:, :1])  # every step the same vector
    assert np.allclose(LinearController().step(model, Z0[0], 4), model.prototypes_[4])


def test_linear_rejects_free_mode():
    with pytest.raises(ValidationError):
        LinearController().run(_model(), np.zeros(5), None, 3)


def test_radial_matches_music_step_lengths_and_points_at_target():
    model = _model()
    Z0 = np.random.default_rng(2).normal(size=(2, 5)) * 2
    music = MUSIC(trust=0.1).run(model, Z0, 9, 15)
    lengths = step_lengths_of(music)
    radial = RadialController(step_lengths=lengths).run(model, Z0, 9, 15)
    assert np.allclose(step_lengths_of(radial), lengths)
    w = model.prototypes_[9]
    for k in range(15):
        d = radial.points[:, k + 1] - radial.points[:, k]
        r = w - radial.points[:, k]
        cos = np.sum(d * r, 1) / (np.linalg.norm(d, axis=1) * np.linalg.norm(r, axis=1))
        assert np.allclose(cos, 1.0)


def test_radial_fixed_length_stops_at_goal():
    model = _model()
    z0 = model.prototypes_[4] + 0.3
    traj = RadialController(step_length=0.2).run(model, z0, 4, 5)
    assert np.allclose(traj.points[-1], model.prototypes_[4])
    assert np.allclose(step_lengths_of(traj)[:1], 0.2)


def test_radial_step_lengths_errors_name_parameter():
    model = _model()
    with pytest.raises(ConfigError, match="step_lengths"):
        RadialController(step_lengths=[0.1, 0.1]).run(model, np.zeros(5), 3, 3)
    with pytest.raises(ConfigError, match="step_lengths"):
        RadialController(step_lengths=np.ones((3, 4))).run(model, np.zeros((2, 5)), 3, 3)
    with pytest.raises(ConfigError, match="step_length"):
        RadialController(step_length=-1.0).run(model, np.zeros(5), 3, 3)
