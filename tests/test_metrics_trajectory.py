"""Trajectory metrics (spec §4) on paths whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoflow.errors import ValidationError
from protoflow.metrics import trajectory as tm
from protoflow.protocols import Trajectory


def _line(n=11, d=3):
    return np.outer(np.arange(n), np.ones(d)) * 0.5


def test_straight_line_is_perfectly_continuous_and_efficient():
    P = _line()
    assert np.allclose(tm.continuity(P), 1.0)
    assert np.allclose(tm.cosine_to_first(P), 1.0)
    assert tm.geodesic_efficiency(P) == pytest.approx(1.0)
    curv = tm.curvature(P, np.zeros(11, dtype=int))
    assert np.allclose(curv["within"], 0.0) and len(curv["across"]) == 0
    assert np.isnan(curv["median_across"])


def test_square_path_turns_by_right_angles():
    P = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=float)
    assert np.allclose(tm.continuity(P), 0.0)
    assert np.allclose(tm.cosine_to_first(P), [1, 0, -1, 0])
    assert tm.geodesic_efficiency(P) == pytest.approx(0.0)
    curv = tm.curvature(P, np.array([0, 0, 1, 1, 2]))
    # steps 2 and 4 change the BMU, step 3 does not; each turns pi/2 over a unit step
    assert np.allclose(curv["across"], np.pi / 2) and len(curv["across"]) == 2
    assert np.allclose(curv["within"], np.pi / 2) and len(curv["within"]) == 1


def test_transitions_and_dwell():
    b = np.array([3, 3, 3, 1, 1, 4, 4, 4, 4, 3])
    P = np.zeros((10, 2))
    assert tm.transition_rate(P, b) == pytest.approx(3 / 9)
    assert tm.dwell_lengths(P, b).tolist() == [3, 2, 4, 1]
    med, iqr = tm.dwell_stats(P, b)
    assert med == pytest.approx(2.5)
    assert iqr == pytest.approx(np.percentile([3, 2, 4, 1], 75) - np.percentile([3, 2, 4, 1], 25))


def test_zero_steps_are_skipped():
    P = np.array([[0, 0], [1, 0], [1, 0], [2, 0], [2, 0], [2, 0]], dtype=float)
    assert np.allclose(tm.continuity(P), [1.0])
    assert tm.geodesic_efficiency(P) == pytest.approx(1.0)
    assert np.isnan(tm.geodesic_efficiency(np.zeros((4, 2))))
    assert len(tm.continuity(np.zeros((4, 2)))) == 0


def test_segmented_continuity_needs_two_steps_per_segment():
    # segment 0: points 0-3 (three steps, straight); segment 1: points 4-5 (one inside step)
    P = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [3, 1], [2, 1]], dtype=float)
    b = np.array([0, 0, 0, 0, 1, 1])
    seg = tm.segmented_continuity(P, b)
    assert np.allclose(seg, [1.0])
    # a zig-zag within one cell averages its cosines
    Z = np.array([[0, 0], [1, 0], [2, 1], [3, 0]], dtype=float)
    assert np.allclose(tm.segmented_continuity(Z, np.zeros(4, dtype=int)), np.mean(tm.continuity(Z)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_unitless_metrics_are_invariant_to_step_rescaling(seed, scale):
    rng = np.random.default_rng(seed)
    P = np.cumsum(rng.normal(size=(20, 4)), axis=0)
    b = rng.integers(0, 3, size=20)
    Q = P * scale
    assert np.allclose(tm.continuity(P), tm.continuity(Q))
    assert np.allclose(tm.segmented_continuity(P, b), tm.segmented_continuity(Q, b))
    assert tm.geodesic_efficiency(P) == pytest.approx(tm.geodesic_efficiency(Q))
    assert 0.0 <= tm.geodesic_efficiency(P) <= 1.0 + 1e-12
    c = tm.continuity(P)
    assert (np.abs(c) <= 1).all()


def test_trajectory_input_and_batch_split():
    P = np.stack([_line(5, 2), _line(5, 2)[::-1]])
    traj = Trajectory(points=P, bmus=np.zeros((2, 5), dtype=int))
    with pytest.raises(ValidationError, match="split_paths"):
        tm.continuity(traj)
    paths = tm.split_paths(traj)
    assert len(paths) == 2
    summary = tm.trajectory_summary(paths[1])
    assert summary["geodesic_efficiency"] == pytest.approx(1.0)
    assert summary["transition_rate"] == 0.0 and summary["dwell_median"] == 5
    assert set(summary) >= {"continuity_mean", "curvature_within", "segmented_continuity_iqr"}


def test_bmus_required_and_checked():
    with pytest.raises(ValidationError, match="bmus"):
        tm.transition_rate(np.zeros((3, 2)))
    with pytest.raises(ValidationError, match="bmus"):
        tm.dwell_lengths(np.zeros((3, 2)), np.zeros(4, dtype=int))
