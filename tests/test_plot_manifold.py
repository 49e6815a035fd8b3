"""protoflow.plot.manifold_curves: the drawn curves are the exact nearest-sample distances and
the arrival marks sit at the first step in the target."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402

from protoflow import plot  # noqa: E402
from protoflow.errors import ConfigError, ValidationError  # noqa: E402
from protoflow.protocols import Trajectory  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _paths():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(30, 2))
    line = np.linspace([-2.0, 0.0], [2.0, 0.0], 9)
    music = Trajectory(points=np.stack([line, line[::-1]]), controller="music", target=[5, 6],
                       bmus=np.array([[0, 1, 2, 3, 4, 5, 6, 6, 6], [9] * 9]))
    linear = Trajectory(points=line, bmus=np.arange(9), controller="linear", target=8)
    return R, music, linear


def _brute(P, R):
    return np.array([min(np.linalg.norm(p - r) for r in R) for p in P])


def test_curves_are_nearest_sample_distances_with_arrivals_marked():
    R, music, linear = _paths()
    ax = plot.manifold_curves({"music": music, "linear": linear}, R)
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 9]
    assert [ln.get_label() for ln in lines] == ["music", "linear"]
    np.testing.assert_allclose(lines[0].get_ydata(), _brute(music.points[0], R))
    np.testing.assert_allclose(lines[1].get_ydata(), _brute(linear.points, R))
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert [float(d.get_xdata()[0]) for d in dots] == [5.0, 8.0]  # first BMU in the target
    assert ax.get_xlabel() == "step" and "nearest sample" in ax.get_ylabel()


def test_a_path_that_never_arrives_says_so_and_plain_points_get_no_mark():
    R, music, _ = _paths()
    ax = plot.manifold_curves(music, R, path=1, title="t")
    assert ax.get_lines()[0].get_label() == "music (never arrives)" and ax.get_title() == "t"
    assert not [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    ax = plot.manifold_curves(np.asarray(music.points[0]), R)
    assert not [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    ax = plot.manifold_curves(music, R, target=0)  # an explicit target wins
    assert [float(d.get_xdata()[0]) for d in ax.get_lines() if d.get_marker() == "o"] == [0.0]


def test_decoder_is_applied_before_measuring():
    R, _, linear = _paths()
    ax = plot.manifold_curves(linear, 2 * R, decoder=lambda Z: 2 * np.asarray(Z))
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), 2 * _brute(linear.points, R))


def test_misuse():
    R, music, _ = _paths()
    with pytest.raises(ConfigError, match="empty"):
        plot.manifold_curves({}, R)
    with pytest.raises(ValidationError):
        plot.manifold_curves(music, np.zeros((4, 3)))
