"""The pipeline end to end on tiny data with throwaway plugins."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

import protoflow
from protoflow.config import ConfigFileError
from protoflow.errors import ConfigError
from protoflow.pipeline import run

_spec = importlib.util.spec_from_file_location("pipeline_toys", Path(__file__).with_name("pipeline_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)


_toys = toys.autouse_fixture()


def _raw(**run_overrides):
    raw = tomllib.loads(toys.TOY_TOML)
    raw["run"].update(run_overrides)
    return raw


def test_run_writes_every_artifact(tmp_path):
    result = run(_raw(), out=tmp_path / "out")
    out = tmp_path / "out"
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "timings.json", "report.html", "model.npz", "model-hex.npz",
            "encoder.npz", "trajectories.npz", "figures"} <= names
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"inversion_error.png", "prototypes_toy-grid.png", "umatrix_hex.png",
            "trajectory_toy-grid_pair0.png", "confidence_toy-grid_pair1.png"} <= figs
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == result.metrics
    assert set(metrics["backbones"]) == {"toy-grid", "hex"}
    # saved models load back with identical prototypes
    m = protoflow.load(out / "model.npz")
    np.testing.assert_array_equal(m.prototypes_, result.backbones["toy-grid"].model.prototypes_)
    with np.load(out / "trajectories.npz") as npz:
        P = npz["toy-grid__pair0__toy-step__points"]
    assert P.shape == (2, 13, 3)  # starts x (steps + 1) x latent dim


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    quick = {"figures": False, "report": False}  # figures do not enter metrics.json
    run(_raw(**quick), out=tmp_path / "a")
    run(_raw(**quick), out=tmp_path / "b")
    a = (tmp_path / "a" / "metrics.json").read_bytes()
    assert a == (tmp_path / "b" / "metrics.json").read_bytes()
    assert (tmp_path / "a" / "timings.json").exists()
    run(_raw(seed=4, **quick), out=tmp_path / "c")
    assert a != (tmp_path / "c" / "metrics.json").read_bytes()


def test_inversion_check_is_exact_when_prototypes_span(tmp_path):
    inv = run(_raw(), write=False).metrics["backbones"]["toy-grid"]["inversion"]
    assert inv["spans"] and inv["rank"] == 3
    assert inv["max_relative_error"] < 1e-10 and inv["sigma_min"] > 0
    by_n = {r["n"]: r["median"] for r in inv["error_vs_n"]}
    assert by_n[4] < 1e-10 < by_n[2]  # exact from D + 1 = 4 prototypes, not below


def test_non_spanning_prototypes_are_reported_not_fatal():
    raw = _raw()
    raw["model"].update(rows=1, cols=3)  # 3 prototypes cannot span 3 dimensions
    raw["run"]["pairs"] = []
    inv = run(raw, write=False).metrics["backbones"]["toy-grid"]["inversion"]
    assert not inv["spans"] and inv["rank"] < 3
    assert "do not affinely span" in inv["note"]


def test_trajectories_reach_unit_and_cluster_targets():
    result = run(_raw(steps=40), write=False)
    tr = result.metrics["backbones"]["toy-grid"]["trajectories"]
    assert [p["pair"] for p in tr["pairs"]] == ["label 0 -> label 1", "sample 4 -> cluster of label 2"]
    assert len(tr["pairs"][1]["target_units"]) >= 1
    base = tr["summary"]["toy-step-2"]  # the baseline (rate 0.5, no noise) converges
    assert base["final_distance_to_target"] < 1e-6
    assert base["reached_target_class"] == 1.0
    # starts of a label are samples with that label
    y = result.dataset.y
    assert all(y[s] == 0 for s in tr["pairs"][0]["start_samples"])
    unit_labels = result.backbones["toy-grid"].unit_labels
    assert all(unit_labels[u] == 2 for u in tr["pairs"][1]["target_units"])


def test_model_with_its_own_encoder_is_used_in_its_latent_space():
    class OwnEncoderGrid(toys.ToyGrid):
        """Fits a 2-component PCA of its input and a grid in that space (like DESOM)."""

        def fit(self, Z, y=None):
            self.encoder = toys.ToyPCA(n_components=2).fit(Z)
            return super().fit(self.encoder.encode(Z))

    class Plugin:
        @protoflow.hookimpl
        def protoflow_register_models(self, registry):
            registry.add_model("own-encoder-grid", OwnEncoderGrid)

    protoflow.register(Plugin(), name="own-encoder")
    try:
        raw = _raw()
        raw["model"]["name"] = "own-encoder-grid"
        result = run(raw, write=False)
    finally:
        protoflow.unregister("own-encoder")
    bb = result.backbones["own-encoder-grid"]
    assert bb.Z_train.shape[1] == 2 and bb.model.prototypes_.shape[1] == 2
    assert result.metrics["backbones"]["own-encoder-grid"]["model"]["own_encoder"]
    assert result.metrics["backbones"]["own-encoder-grid"]["inversion"]["max_relative_error"] < 1e-10


def test_core_metric_modules_are_always_used():
    # the core's own metric modules are imported directly (no ImportError fallback): every run
    # has the trajectory and semantic path metrics, and no "not available" note
    result = run(_raw(), write=False)
    assert not any("not available" in n for n in result.metrics["notes"])
    summary = result.metrics["backbones"]["toy-grid"]["trajectories"]["summary"]["toy-step"]
    assert "geodesic_efficiency" in summary and "manifold_distance" in summary


def test_run_time_errors_name_the_problem():
    raw = _raw()
    raw["run"]["pairs"] = [{"source": 7, "target": 1}]
    with pytest.raises(ConfigError, match="source label 7"):
        run(raw, write=False)
    raw["run"]["pairs"] = [{"source": 0, "target_unit": 99}]
    with pytest.raises(ConfigError, match="unit 99"):
        run(raw, write=False)


def test_config_errors_surface_before_any_work(tmp_path):
    raw = _raw()
    raw["model"]["rowz"] = 3
    with pytest.raises(ConfigFileError, match="did you mean 'rows'"):
        run(raw, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_config_file_with_relative_data_path_and_overrides(tmp_path, monkeypatch):
    X = np.random.default_rng(0).normal(size=(60, 3))
    np.savez(tmp_path / "mine.npz", X=X, y=np.arange(60) % 2)
    cfg = tmp_path / "conf" / "c.toml"
    cfg.parent.mkdir()
    cfg.write_text('[data]\nname = "file"\npath = "../mine.npz"\n[model]\nname = "toy-grid"\n')
    monkeypatch.chdir(tmp_path / "conf")
    result = run(cfg, overrides=["model.rows=2", "run.figures=false", "run.report=false"])
    assert result.out == Path("runs/c")
    assert (tmp_path / "conf" / "runs" / "c" / "metrics.json").exists()
    assert not (tmp_path / "conf" / "runs" / "c" / "report.html").exists()
    assert result.backbones["toy-grid"].model.prototypes_.shape == (6, 3)


def test_a_controller_that_cannot_take_a_cluster_is_refused_before_training():
    class UnitOnly(toys.ToyStep):
        supported_targets = ("unit",)

    class Plugin:
        @protoflow.hookimpl
        def protoflow_register_controllers(self, registry):
            registry.add_controller("unit-only", UnitOnly)

    raw = _raw(steps=5)
    raw["controller"] = {"name": "unit-only"}
    raw["run"]["baselines"] = []
    name = protoflow.register(Plugin(), name="unit-only-plugin")
    try:
        with pytest.raises(ConfigFileError, match="'unit-only' cannot steer toward a cluster"):
            run(raw, write=False)
    finally:
        protoflow.unregister(name)


MANIFOLD_KEYS = {"out_of_range_fraction", "out_of_range_max_excess", "nearest_sample_distance_mean",
                 "nearest_sample_distance_max", "nearest_sample_distance_final",
                 "latent_consistency_mean", "latent_consistency_max", "arrival_step", "arrived",
                 "stall_steps", "longest_stall"}


def test_manifold_and_arrival_metrics_are_reported_per_path_and_in_the_summary(tmp_path):
    from protoflow.metrics import arrival_step, nearest_sample_distance

    result = run(_raw(steps=40, figures=False, report=False), out=tmp_path / "out")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    tr = metrics["backbones"]["toy-grid"]["trajectories"]
    for name, summary in tr["summary"].items():
        assert MANIFOLD_KEYS <= set(summary), name
    pair = tr["pairs"][0]
    ctrl = pair["controllers"]["toy-step-2"]
    for p in ctrl["paths"]:
        assert MANIFOLD_KEYS <= set(p)
        assert 0.0 <= p["out_of_range_fraction"] <= 1.0
        assert p["latent_consistency_max"] < 1e-8  # the toy PCA keeps every dimension
        assert isinstance(p["arrived"], bool) and (p["arrival_step"] is None) == (not p["arrived"])
    # recomputed from the stored trajectory against the training rows
    bb = result.backbones["toy-grid"]
    traj = result.trajectories[("toy-grid", 0, "toy-step-2")]
    P0 = np.asarray(traj.points)[0]
    data = result.dataset
    curve = np.asarray(ctrl["curves"]["nearest_sample_distance"])
    assert curve.shape == (41,)
    np.testing.assert_allclose(curve.mean(), ctrl["paths"][0]["nearest_sample_distance_mean"])
    # the training split is a subset of the data: its distances are >= those to every row
    assert np.all(curve >= nearest_sample_distance(bb.encoder.decode(P0), data.X) - 1e-9)
    arrival = arrival_step(np.asarray(traj.bmus)[0], pair["target_units"][0])
    assert ctrl["paths"][0]["arrival_step"] == (None if arrival < 0 else arrival)
