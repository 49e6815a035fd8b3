"""The torch example backbone runs through a TOML config end to end: the pipeline, the
inversion check, MUSIC against linear interpolation, the figures and the report, exactly as
examples/vq_music.toml describes (with a smaller budget)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("protoflow_music")

import protoflow_vq.plugin

import protoflow
from protoflow import runs
from protoflow.testing import isolated_registry

CONFIG = Path(__file__).resolve().parents[2] / "vq_music.toml"


def test_vq_music_runs_through_music_and_the_report(tmp_path):
    # the installed plugins (encoders, music, k-means, the core's datasets) plus this one,
    # whether or not it is installed itself
    with isolated_registry(protoflow_vq.plugin, entry_points=True):
        result = protoflow.run(CONFIG, out=tmp_path / "run", overrides=[
            "model.epochs=3", "model.n_units=40", "compare.0.model.n_units=40", "run.steps=20",
            "run.starts=1"])
    out = tmp_path / "run"
    vq = result.metrics["backbones"]["vq-sgd"]
    assert vq["inversion"]["max_relative_error"] < 1e-8
    summary = vq["trajectories"]["summary"]
    assert {"music", "linear"} <= set(summary)
    assert (out / "report.html").stat().st_size > 10_000
    assert runs.verify_run(out) == []
    manifest = json.loads((out / runs.MANIFEST).read_text())
    assert {"kind": "model", "name": "vq-sgd"}.items() <= next(
        c for c in manifest["components"] if c["name"] == "vq-sgd").items()
