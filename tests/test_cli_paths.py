"""The CLI's formerly silent or broken paths: an underdetermined `invert --n-nearest` is an
error unless asked for, every controller and mode (free mode included) is reachable from
`explore`, a misspelt controller parameter is a named config error, and outputs are written
exactly where the user said (or refused before any work)."""

from __future__ import annotations

import numpy as np
import pytest

import protoflow
from protoflow.cli import main

pytest.importorskip("protoflow_music")


@pytest.fixture()
def model_file(tmp_path):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 6))
    path = protoflow.save(protoflow.PrototypeSet(W, protoflow.Lattice(5, 8)), tmp_path / "m")
    return str(path), W


def test_invert_refuses_fewer_than_d_plus_one_nearest_prototypes(model_file, tmp_path, capsys):
    path, W = model_file
    Z = np.random.default_rng(1).normal(size=(3, 6))
    np.save(tmp_path / "A.npy", protoflow.activations(Z, W))
    args = ["invert", path, "--activations", str(tmp_path / "A.npy"), "--out", str(tmp_path / "Z.npy")]
    assert main([*args, "--n-nearest", "5"]) == 2
    err = capsys.readouterr().err
    assert "at least 7 (D + 1)" in err and "--allow-underdetermined" in err
    assert not (tmp_path / "Z.npy").exists()
    assert main([*args, "--n-nearest", "7"]) == 0  # D + 1 suffice: the exact point
    assert np.allclose(np.load(tmp_path / "Z.npy"), Z, atol=1e-8)
    assert main([*args, "--n-nearest", "5", "--allow-underdetermined"]) == 0  # asked for


@pytest.mark.parametrize("out", ["f.txt", "f", "f.npz"])
def test_invert_out_with_another_extension_is_refused_before_work(model_file, tmp_path, out, capsys):
    path, W = model_file
    np.save(tmp_path / "A.npy", protoflow.activations(W[:2] + 0.1, W))
    target = tmp_path / out
    assert main(["invert", path, "--activations", str(tmp_path / "A.npy"), "--out", str(target)]) == 2
    assert "--out must end in" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.npy", "m.npz"]


def test_invert_writes_exactly_the_named_file(model_file, tmp_path):
    path, W = model_file
    np.save(tmp_path / "A.npy", protoflow.activations(W[:2] + 0.1, W))
    assert main(["invert", path, "--activations", str(tmp_path / "A.npy"), "--out", str(tmp_path / "z.csv")]) == 0
    assert np.allclose(np.loadtxt(tmp_path / "z.csv", delimiter=","), W[:2] + 0.1, atol=1e-9)


@pytest.mark.parametrize(("controller", "extra"), [
    ("music", []), ("music", ["--set", "mode='cluster'"]), ("linear", []), ("radial", []),
])
def test_every_controller_is_reachable_from_explore(model_file, tmp_path, controller, extra):
    path, W = model_file
    out = tmp_path / "p.npz"
    assert main(["explore", path, "--start-unit", "0", "--target", "12,13", "--controller", controller,
                 "--steps", "6", "--out", str(out), *extra]) == 0
    with np.load(out) as f:
        assert f["points"].shape == (7, 6) and np.allclose(f["points"][0], W[0])


def test_free_mode_is_reachable_and_a_targetless_linear_is_a_clear_error(model_file, tmp_path, capsys):
    path, _ = model_file
    assert main(["explore", path, "--start-unit", "3", "--controller", "music", "--steps", "4",
                 "--out", str(tmp_path / "free.npy")]) == 0
    assert np.load(tmp_path / "free.npy").shape == (5, 6)
    assert main(["explore", path, "--start-unit", "3", "--controller", "linear"]) == 2
    assert "cannot steer toward a none target" in capsys.readouterr().err


def test_a_misspelt_parameter_is_named_with_a_suggestion(model_file, capsys):
    path, _ = model_file
    assert main(["explore", path, "--start-unit", "0", "--target", "1", "--controller", "music",
                 "--set", "gama=0.5"]) == 2
    err = capsys.readouterr().err
    assert "no parameter 'gama' (did you mean 'gamma'?)" in err and "Traceback" not in err


def test_create_checks_parameter_names_against_the_signature():
    with pytest.raises(protoflow.ConfigError, match=r"has no parameter 'seed'\. Its parameters: none"):
        protoflow.create_controller("linear", seed=0)
