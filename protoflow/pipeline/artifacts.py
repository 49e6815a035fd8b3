"""Stage 6: write a run's artifacts (models, encoder, trajectories, figures and report,
``metrics.json``, ``timings.json``) into its staged run folder."""

from __future__ import annotations

import io as _io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from protoflow import io
from protoflow.errors import PersistenceError
from protoflow.io import atomic_write_bytes, atomic_write_text
from protoflow.pipeline.context import RunContext
from protoflow.pipeline.encode import EncoderCache
from protoflow.pipeline.result import RunResult

__all__ = ["components_used", "jsonable", "write_artifacts"]


def write_artifacts(ctx: RunContext, result: RunResult, out: Path, encoders: EncoderCache) -> None:
    """Write every artifact of `result` into the folder `out` (the staging folder).

    Models that cannot be saved are noted, not fatal. ``metrics.json`` gets the final notes
    and an ``artifacts`` entry; ``timings.json`` includes the time spent here.

    Parameters
    ----------
    ctx : the run's context
    result : the computed run
    out : the folder to write into
    encoders : the run's fitted encoders
    """
    config = ctx.config
    t0 = time.perf_counter()
    saved: dict[str, str] = {}
    if config.run.save_models:
        main = config.model.name
        for label, bb in result.backbones.items():
            name = "model" if label == main else f"model-{_slug(label)}"
            try:
                saved[label] = io.save(bb.model, out / f"{name}.npz").name
            except (PersistenceError, TypeError) as exc:
                ctx.note_once(f"model {label!r} was not saved: {exc}")
        enc = encoders.saved_encoder()
        if enc is not None:
            try:
                io.save(enc, out / "encoder.npz")
            except (PersistenceError, TypeError) as exc:
                ctx.note_once(f"the encoder was not saved: {exc}")
    _save_trajectories(result.trajectories, out / "trajectories.npz")
    result.metrics["notes"] = list(ctx.notes)
    result.metrics["artifacts"] = {"models": saved}
    if config.run.figures or config.run.report:
        ctx.stage("drawing figures and the report")
        from protoflow.report import write_report

        write_report(result, out, figures=config.run.figures, html=config.run.report,
                     notes=ctx.notes)
    atomic_write_text(out / "metrics.json", _dumps(result.metrics))
    ctx.timed("artifacts", t0)
    atomic_write_text(out / "timings.json", _dumps({k: round(v, 4) for k, v in ctx.timings.items()}))


def components_used(ctx: RunContext) -> list[dict[str, Any]]:
    """Kind, name and provenance of every component the config names (for the manifest).

    Parameters
    ----------
    ctx : the run's context

    Returns
    -------
    list of ``{"kind", "name", "plugin", "distribution", "version"}``
    """
    cfg = ctx.config
    specs = [("dataset", cfg.data), ("encoder", cfg.encoder), ("model", cfg.model),
             ("controller", cfg.controller), *(("controller", b) for b in cfg.run.baselines)]
    for c in cfg.compare:
        specs += [("model", c.model), ("encoder", c.encoder)]
    out, seen = [], set()
    for kind, spec in specs:
        if spec is None or (kind, spec.name) in seen:
            continue
        seen.add((kind, spec.name))
        info = ctx.registry.get(kind, spec.name)
        out.append({"kind": kind, "name": spec.name, "plugin": info.plugin,
                    "distribution": info.distribution, "version": info.version})
    return out


def jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become None (JSON has no such numbers).

    Parameters
    ----------
    obj : nested dicts, lists, tuples, arrays and scalars

    Returns
    -------
    the same structure of dicts (string keys), lists and Python scalars
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in label)


def _dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"


def _save_trajectories(trajs: dict[tuple[str, int, str], Any], path: Path) -> None:
    arrays = {}
    for (label, p_i, ctrl), traj in trajs.items():
        key = f"{_slug(label)}__pair{p_i}__{ctrl}"
        arrays[f"{key}__points"] = np.asarray(traj.points)
        arrays[f"{key}__bmus"] = np.asarray(traj.bmus)
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
