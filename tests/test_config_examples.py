"""Every example configuration parses against the installed plugins, and the main job runs
end to end at a reduced size (skipped until the plugins it names are installed)."""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from pathlib import Path

import pytest

from protoflow.config import load_config
from protoflow.pipeline import run

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))


def _missing(path: Path) -> list[str]:
    requires = tomllib.loads(path.read_text()).get("protoflow", {}).get("requires", [])
    out = []
    for dist in requires:
        try:
            md.distribution(dist)
        except md.PackageNotFoundError:
            out.append(dist)
    return out


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"digits_music.toml", "som_vs_kmeans.toml",
                                          "gmm_inversion.toml", "mnist_music.toml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_parses(path):
    missing = _missing(path)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    cfg = load_config(path)
    assert cfg.run.out and cfg.run.out.startswith("runs/")


def test_digits_main_job_runs_small(tmp_path):
    path = next(p for p in EXAMPLES if p.name == "digits_music.toml")
    missing = _missing(path)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    result = run(path, out=tmp_path, overrides=[
        "model.rows=6", "model.cols=6", "model.epochs=2", "run.steps=15", "run.starts=1",
        "run.figures=false", "run.report=false"])
    entry = result.metrics["backbones"]["toroidal-som"]
    assert entry["inversion"]["spans"] and entry["inversion"]["max_relative_error"] < 1e-6
    assert set(entry["trajectories"]["summary"]) == {"music", "linear"}
    assert (tmp_path / "model.npz").exists() and (tmp_path / "encoder.npz").exists()
