"""`run`: the config-driven pipeline behind ``protoflow run``.

Stages, one module each, with typed results: `protoflow.pipeline.data` (load and split:
`~protoflow.pipeline.data.Split`) -> `protoflow.pipeline.encode` (fit encoders, cached by spec)
-> `protoflow.pipeline.fit` (model, unit labels, classifier: `Backbone`) ->
`protoflow.pipeline.evaluate` (inversion check, map quality:
`~protoflow.pipeline.evaluate.Evaluation`) -> `protoflow.pipeline.paths` (pairs, trajectories,
path metrics: `~protoflow.pipeline.paths.Paths`) -> `protoflow.pipeline.artifacts` (files).
`execute` chains them; each can be called on its own with a
`~protoflow.pipeline.context.RunContext`.

Everything is built through the registry by name, so any installed plugin is a backbone. A
model that learns its own encoder (DESOM) exposes it as ``model.encoder`` after fit; the
pipeline then works in that model's latent space and decodes through it.

The same configuration and seed give byte-identical ``metrics.json``; wall-clock timings go to
``timings.json`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from protoflow import progress
from protoflow.config import RunConfig, load_config, parse_config
from protoflow.errors import ConfigError
from protoflow.pipeline import artifacts
from protoflow.pipeline.context import RunContext
from protoflow.pipeline.data import data_summary, load_split
from protoflow.pipeline.encode import EncoderCache, fit_encoder
from protoflow.pipeline.evaluate import evaluate_backbone
from protoflow.pipeline.fit import (
    Backbone,
    _unit_labels,  # noqa: F401  (protoflow.serve imports it here)
    fit_backbone,
    model_summary,
)
from protoflow.pipeline.paths import trace_paths
from protoflow.pipeline.result import RunResult
from protoflow.runs import check_output_folder, staged_run_folder, write_manifest

__all__ = ["Backbone", "RunResult", "execute", "run"]


def run(
    config_or_path: RunConfig | Mapping[str, Any] | str | Path,
    out: str | Path | None = None,
    *,
    overrides: Iterable[str] = (),
    quiet: bool = True,
    registry: Any = None,
    write: bool = True,
    overwrite: bool = False,
) -> RunResult:
    """Run a configuration and write its artifacts.

    Parameters
    ----------
    config_or_path : a TOML file, its parsed data (dict) or a `RunConfig`.
    out : output folder; default the config's ``[run] out``, else ``runs/<config name>``.
    overrides : ``"table.key=value"`` strings, as ``--set`` takes them.
    quiet : no progress output on stderr.
    registry : the plugin registry (default: the installed plugins).
    write : False to compute everything but write no files.
    overwrite : replace an existing non-empty output folder whole (otherwise it is refused
        with `OutputExistsError` before anything is computed). The run is written into a
        hidden staging folder and published only when complete, with ``manifest.json``
        (see `protoflow.runs`).

    Returns
    -------
    RunResult
    """
    overrides = list(overrides)
    if isinstance(config_or_path, RunConfig):
        config = config_or_path
        if overrides:
            raise ConfigError("overrides apply to a file or dict, not to a parsed RunConfig")
    elif isinstance(config_or_path, Mapping):
        config = parse_config(config_or_path, overrides=overrides, registry=registry)
    else:
        config = load_config(config_or_path, overrides, registry=registry)
    folder = None
    if write:
        folder = check_output_folder(_out_folder(config, out), overwrite=overwrite)
    with progress.quiet(quiet):  # components' own bars and messages obey --quiet too
        return execute(RunContext(config, registry, quiet, overwrite), folder)


def execute(ctx: RunContext, out: Path | None) -> RunResult:
    """Run every stage of ``ctx.config`` and write the artifacts into `out` (if not None).

    Parameters
    ----------
    ctx : the run's context (config, registry, quiet, overwrite)
    out : the output folder, already checked (`protoflow.runs.check_output_folder`), or None

    Returns
    -------
    RunResult
    """
    t_start = time.perf_counter()
    cfg = ctx.config
    split = load_split(ctx)
    encoders = EncoderCache()
    entries = [(cfg.model.name, cfg.model, cfg.encoder)]
    entries += [(c.label, c.model, c.encoder or cfg.encoder) for c in cfg.compare]
    metrics: dict[str, Any] = {"config": cfg.to_dict(), "data": data_summary(split), "backbones": {}}
    backbones, evaluations, paths, trajectories = {}, {}, {}, {}
    for label, model_spec, enc_spec in entries:
        encoder = fit_encoder(ctx, enc_spec, split.dataset.X[split.train], encoders)
        bb = backbones[label] = fit_backbone(ctx, label, model_spec, encoder, split)
        ev = evaluations[label] = evaluate_backbone(ctx, bb, split)
        entry: dict[str, Any] = {"model": model_summary(model_spec, bb),
                                 "inversion": ev.inversion, "map_quality": ev.map_quality}
        if ev.classifier is not None:
            entry["classifier"] = ev.classifier
        found = paths[label] = trace_paths(ctx, bb, split)
        entry["trajectories"] = found.metrics
        trajectories.update(found.trajectories)
        metrics["backbones"][label] = entry
    metrics["notes"] = ctx.notes
    ctx.timings["total"] = time.perf_counter() - t_start
    result = RunResult(cfg, artifacts.jsonable(metrics), dict(ctx.timings), backbones,
                       trajectories, split.dataset, out, evaluations, paths)
    if out is not None:
        with staged_run_folder(out, overwrite=ctx.overwrite) as stage:
            artifacts.write_artifacts(ctx, result, stage, encoders)
            write_manifest(stage, config=metrics["config"], components=artifacts.components_used(ctx))
        ctx.stage(f"done: {out}")
    return result


def _out_folder(config: RunConfig, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    if config.run.out:
        return Path(config.run.out)
    stem = Path(config.source).stem if config.source not in ("<config>", "") else "run"
    return Path("runs") / stem
