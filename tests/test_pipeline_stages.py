"""The pipeline's stages (protoflow.pipeline.data, encode, fit, evaluate, paths) can be called on
their own and reproduce what `protoflow.run` reports; the orchestration stays short."""

from __future__ import annotations

import importlib.metadata as md
import inspect
import tomllib
from pathlib import Path

import numpy as np
import pytest

from protoflow import pipeline
from protoflow.config import load_config
from protoflow.pipeline.artifacts import jsonable
from protoflow.pipeline.context import RunContext
from protoflow.pipeline.data import data_summary, load_split
from protoflow.pipeline.encode import EncoderCache, fit_encoder
from protoflow.pipeline.evaluate import evaluate_backbone
from protoflow.pipeline.fit import fit_backbone, model_summary
from protoflow.pipeline.paths import trace_paths

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_music.toml"
SMALL = ["run.steps=12", "run.starts=2", "model.epochs=2", "model.rows=6", "model.cols=6"]


@pytest.fixture(scope="module")
def config():
    pytest.importorskip("sklearn")
    requires = tomllib.loads(EXAMPLE.read_text())["protoflow"]["requires"]
    for dist in requires:
        try:
            md.distribution(dist)
        except md.PackageNotFoundError:
            pytest.skip(f"not installed: {dist}")
    return load_config(EXAMPLE, SMALL)


def test_each_stage_alone_reproduces_the_run(config):
    result = pipeline.run(config, write=False)
    ctx = RunContext(config)
    split = load_split(ctx)
    assert jsonable(data_summary(split)) == result.metrics["data"]
    encoder = fit_encoder(ctx, config.encoder, split.dataset.X[split.train], EncoderCache())
    bb = fit_backbone(ctx, config.model.name, config.model, encoder, split)
    ran = result.backbones[config.model.name]
    np.testing.assert_array_equal(bb.model.prototypes_, ran.model.prototypes_)
    np.testing.assert_array_equal(bb.unit_labels, ran.unit_labels)
    ev = evaluate_backbone(ctx, bb, split)
    paths = trace_paths(ctx, bb, split)
    entry = result.metrics["backbones"][config.model.name]
    assert jsonable(model_summary(config.model, bb)) == entry["model"]
    assert jsonable(ev.inversion) == entry["inversion"]
    assert jsonable(ev.map_quality) == entry["map_quality"]
    assert jsonable(ev.classifier) == entry["classifier"]
    assert jsonable(paths.metrics) == entry["trajectories"]
    assert set(paths.trajectories) == set(result.trajectories)
    for key, traj in paths.trajectories.items():
        np.testing.assert_array_equal(traj.points, result.trajectories[key].points)
    # the classifier's confidence along the first path is stored for the report
    assert paths.confidence and set(paths.confidence) <= set(paths.trajectories)
    assert set(result.paths[config.model.name].confidence) == set(paths.confidence)
    for (label, p_i, ctrl), (top, predicted) in paths.confidence.items():
        path = result.metrics["backbones"][label]["trajectories"]["pairs"][p_i]["controllers"][ctrl]
        assert len(top) == len(predicted) == config.run.steps + 1
        assert float(np.mean(top)) <= 1.0 and path["paths"][0]["confidence_mean"] is not None


def test_the_orchestration_is_short():
    body = inspect.getsource(pipeline.execute)
    assert len(body.splitlines()) <= 70
    # one job per module
    for name in ("data", "encode", "fit", "evaluate", "paths", "artifacts"):
        assert inspect.ismodule(getattr(pipeline, name))
