"""The `protoflow` command: subcommands and exit codes (0 ok, 1 failed, 2 usage/config, 3 plugin)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from protoflow.cli import main

_spec = importlib.util.spec_from_file_location("pipeline_toys", Path(__file__).with_name("pipeline_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)


_toys = toys.autouse_fixture()


config = toys.config_fixture()


def test_run_succeeds_and_prints_a_summary(config, tmp_path, capsys):
    assert main(["run", str(config), "--out", str(tmp_path / "o"), "--set", "run.steps=5"]) == 0
    out = capsys.readouterr().out
    assert "inversion max relative error" in out and "wrote" in out
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["config"]["run"]["steps"] == 5


def test_quiet_prints_nothing(config, tmp_path, capsys):
    assert main(["run", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_config_error_exits_2_with_one_line_per_problem(config, capsys):
    code = main(["run", str(config), "--set", "model.rowz=3", "--set", "run.stepz=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and "did you mean 'rows'" in err and "did you mean 'steps'" in err
    assert main(["run", str(config), "--set", "nonsense"]) == 2
    assert main(["run", str(Path(config).with_name("absent.toml"))]) == 2


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_unknown_plugin_exits_3(config, capsys):
    assert main(["run", str(config), "--set", "controller.name=toy-stpe"]) == 3
    err = capsys.readouterr().err
    assert "did you mean 'toy-step'" in err.lower() and err.count("\n") == 1
    assert main(["explore", "missing.npz", "--start-unit", "0", "--target", "1", "--controller", "music"]) == 1


def test_failed_run_exits_1_and_debug_shows_the_traceback(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nname = "file"\npath = "nowhere.npy"\n[model]\nname = "toy-grid"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2  # caught by validation
    assert "no file or folder 'nowhere.npy'" in capsys.readouterr().err
    np.save(tmp_path / "nowhere.npy", np.arange(5.0))  # exists, but is not a table: fails at run
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "expected (n_samples, n_features)" in err and "Traceback" not in err
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_config_validate(config, capsys):
    assert main(["config", "validate", str(config)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["config", "validate", str(config), "--set", "model.name=nope"]) == 3


def test_plugins_json_lists_the_toys(capsys):
    assert main(["plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "toy-grid" in {m["name"] for m in listed["model"]}
    assert "toy-blobs" in {d["name"] for d in listed["dataset"]}
    assert "failures" in listed


def test_inspect_invert_explore_on_a_saved_model(config, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    model = str(out / "model.npz")
    assert main(["inspect", model]) == 0
    text = capsys.readouterr().out
    assert "model 'toy-grid'" in text and "rows=3" in text and "prototypes_" in text
    assert main(["inspect", model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "toy-grid"

    import protoflow

    m = protoflow.load(model)
    Z = np.random.default_rng(1).normal(size=(5, 3))
    np.save(tmp_path / "a.npy", m.activations(Z))
    assert main(["invert", model, "--activations", str(tmp_path / "a.npy"),
                 "--out", str(tmp_path / "z.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), Z, atol=1e-9)
    np.savetxt(tmp_path / "z.csv", Z, delimiter=",")
    assert main(["invert", model, "--points", str(tmp_path / "z.csv")]) == 0
    captured = capsys.readouterr()
    assert "max relative error" in captured.err
    np.testing.assert_allclose(np.loadtxt(captured.out.splitlines(), delimiter=","), Z, atol=1e-9)

    assert main(["explore", model, "--start-unit", "0", "--target", "5", "--controller",
                 "toy-step", "--steps", "7", "--set", "noise=0.0", "--set", "rate=0.9", "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as npz:
        P, bmus = npz["points"], npz["bmus"]
    assert P.shape == (8, 3) and bmus[-1] == 5
    assert main(["explore", model, "--start-unit", "99", "--target", "1", "--controller", "music"]) == 2
    assert main(["explore", model, "--start-unit", "0", "--target", "1", "--controller", "nope"]) == 3
