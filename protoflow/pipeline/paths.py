"""Stage 5: resolve the ``[run] pairs``, run every controller on each and measure the paths
(trajectory, manifold and semantic metrics)."""

from __future__ import annotations

import math
import time
from typing import Any

import attrs
import numpy as np

from protoflow import progress
from protoflow.config import PairSpec
from protoflow.errors import ConfigError
from protoflow.pipeline.context import RunContext, metrics_module
from protoflow.pipeline.data import Split
from protoflow.pipeline.fit import Backbone
from protoflow.protocols import check_target_supported, target_kind

__all__ = ["PathKey", "Paths", "path_metrics", "resolve_pair", "trace_paths"]

#: ``(backbone label, pair index, controller label)``, the key of a trajectory
PathKey = tuple[str, int, str]


@attrs.frozen(eq=False)
class Paths:
    """The paths of one backbone.

    Attributes
    ----------
    metrics : the backbone's ``trajectories`` entry of ``metrics.json`` (``pairs`` and
        ``summary``; empty without pairs or controllers)
    trajectories : `PathKey` -> the controller's trajectory
    confidence : `PathKey` -> ``(max_probability, predicted_class)`` of the classifier along
        the first path, both (n_steps + 1,), where confidence metrics were computed (the
        report's confidence curves)
    """

    metrics: dict[str, Any] = attrs.field(factory=dict)
    trajectories: dict[PathKey, Any] = attrs.field(factory=dict)
    confidence: dict[PathKey, tuple[np.ndarray, np.ndarray]] = attrs.field(factory=dict)


def trace_paths(ctx: RunContext, bb: Backbone, split: Split) -> Paths:
    """Run the controller and the baselines on every pair of the config and measure the paths.

    Parameters
    ----------
    ctx : the run's context
    bb : the fitted backbone
    split : the data and its split

    Returns
    -------
    Paths
    """
    cfg = ctx.config
    controllers = ([cfg.controller] if cfg.controller is not None else []) + list(cfg.run.baselines)
    if not cfg.run.pairs or not controllers:
        return Paths()
    data = split.dataset
    out = Paths()
    pairs_out = []
    names = _unique_labels([c.name for c in controllers])
    with progress.Progress(len(cfg.run.pairs) * len(controllers), f"paths {bb.label}",
                           enabled=not ctx.quiet) as bar:
        for p_i, pair in enumerate(cfg.run.pairs):
            starts, target, target_label = resolve_pair(ctx, pair, bb, split)
            z0 = bb.encoder.encode(data.X[starts])
            per_ctrl: dict[str, Any] = {}
            for name, spec in zip(names, controllers):
                t0 = time.perf_counter()
                ctrl = ctx.create("controller", spec)
                check_target_supported(ctrl, target_kind(target), spec.name)
                traj = ctrl.run(bb.model, z0, target, cfg.run.steps)
                ctx.timed(f"trajectories:{name}", t0)
                out.trajectories[(bb.label, p_i, name)] = traj
                t0 = time.perf_counter()
                per_ctrl[name], conf = path_metrics(ctx, bb, split, traj, target, target_label)
                if conf is not None:
                    out.confidence[(bb.label, p_i, name)] = conf
                ctx.timed("metrics", t0)
                bar.update()
            pairs_out.append({
                "pair": pair.describe(),
                "start_samples": [int(s) for s in starts],
                "target_units": np.atleast_1d(target).astype(int).tolist(),
                "controllers": per_ctrl,
            })
    summary = {n: _mean_dicts([p["controllers"][n]["mean"] for p in pairs_out]) for n in names}
    out.metrics.update({"pairs": pairs_out, "summary": summary})
    return out


def resolve_pair(ctx: RunContext, pair: PairSpec, bb: Backbone,
                 split: Split) -> tuple[np.ndarray, Any, Any]:
    """Where a pair's paths start and what they steer toward.

    Parameters
    ----------
    ctx : the run's context
    pair : one entry of ``[run] pairs``
    bb : the fitted backbone
    split : the data and its split

    Returns
    -------
    (dataset indices of the starts, controller target, target label or None)
    """
    data, test = split.dataset, split.test
    if pair.source_index is not None:
        if pair.source_index >= data.n_samples:
            raise ConfigError(f"[run] pairs: source_index {pair.source_index} is past the "
                              f"{data.n_samples} samples")
        starts = np.array([pair.source_index])
    else:
        y = _need_labels(data.y, "source")
        pool = test[y[test] == pair.source]
        if len(pool) == 0:
            pool = np.flatnonzero(y == pair.source)
        if len(pool) == 0:
            raise ConfigError(f"[run] pairs: no sample has the source label {pair.source!r}")
        rng = np.random.default_rng(ctx.seed)
        starts = np.sort(rng.permutation(pool)[: ctx.config.run.starts])
    n_units = bb.model.prototypes_.shape[0]
    if pair.target_unit is not None or pair.target_units is not None:
        units = [pair.target_unit] if pair.target_unit is not None else list(pair.target_units or ())
        if max(units) >= n_units:
            raise ConfigError(f"[run] pairs: unit {max(units)} is past the model's {n_units} units")
        target: Any = units[0] if pair.target_unit is not None else units
        labels = None if bb.unit_labels is None else {int(bb.unit_labels[u]) for u in units}
        return starts, target, (labels.pop() if labels and len(labels) == 1 else None)
    label = pair.target if pair.target is not None else pair.target_cluster
    _need_labels(data.y, "target")
    assert bb.unit_labels is not None
    if pair.target_cluster is not None:
        units = np.flatnonzero(bb.unit_labels == label)
        if len(units) == 0:
            raise ConfigError(f"[run] pairs: no unit of {bb.label!r} represents label {label!r}")
        return starts, units.tolist(), label
    return starts, _best_unit(bb, label), label


def path_metrics(
    ctx: RunContext, bb: Backbone, split: Split, traj: Any, target: Any, target_label: Any
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """The metrics of every path of a trajectory, their mean, and the first path's curves.

    Parameters
    ----------
    ctx : the run's context
    bb : the fitted backbone
    split : the data and its split
    traj : the controller's trajectory (points and BMUs, one path or a batch)
    target : the controller's target (a unit or units)
    target_label : the target's label, or None

    Returns
    -------
    (``{"paths", "mean", "curves"}`` as in ``metrics.json``, the classifier's
    ``(max_probability, predicted_class)`` along the first path or None)
    """
    P = np.asarray(traj.points)
    B = np.asarray(traj.bmus)
    if P.ndim == 2:
        P, B = P[None], B[None]
    W = np.asarray(bb.model.prototypes_)
    goal = W[np.atleast_1d(target)].mean(axis=0)
    paths, curves, confidence = [], {}, None
    for k in range(P.shape[0]):
        path_curves: dict[str, Any] = {}
        m, conf = _one_path(ctx, bb, split, P[k], B[k], goal, target_label, target, path_curves)
        paths.append(m)
        if k == 0:
            curves, confidence = path_curves, conf
    out: dict[str, Any] = {"paths": paths, "mean": _mean_dicts(paths)}
    if curves:  # along the first path, for the report's manifold figure
        out["curves"] = curves
    return out, confidence


def _manifold_metrics(
    ctx: RunContext, bb: Backbone, split: Split, P: np.ndarray, B: np.ndarray,
    goal: np.ndarray, target: Any, curves: dict[str, Any],
) -> dict[str, Any]:
    """Whether a path stays on the data and arrives (`protoflow.metrics.manifold`).

    Decoded through the backbone's encoder and measured in input space against the
    training data: out-of-range fraction (relative to the training data's min and max,
    margin 5%), exact nearest-training-sample distance, and latent consistency
    ``||E(D(z)) - z||`` (always computed: ~0 for an exact-inverse encoder, which then
    doubles as a check). Arrival: first step whose BMU is in the target; stalls: steps
    closing less than 0.1% of the remaining distance to the target point.
    """
    if not callable(getattr(bb.encoder, "decode", None)):
        ctx.note_once(f"the encoder of {bb.label!r} cannot decode: manifold metrics skipped")
        return {}
    ref = split.reference()
    decoded = np.asarray(bb.encoder.decode(P), dtype=np.float64)
    m: dict[str, Any] = {}
    if len(ref) and decoded.ndim == 2 and decoded.shape[1] == ref.shape[1]:
        oor = metrics_module('manifold').out_of_range_fraction(decoded, float(ref.min()), float(ref.max()))
        near = metrics_module('manifold').nearest_sample_distance(decoded, ref)
        m.update({
            "out_of_range_fraction": oor["overall"],
            "out_of_range_max_excess": oor["max_excess"],
            "nearest_sample_distance_mean": float(near.mean()),
            "nearest_sample_distance_max": float(near.max()),
            "nearest_sample_distance_final": float(near[-1]),
        })
        curves["nearest_sample_distance"] = near.tolist()
    else:
        ctx.note_once(f"out-of-range and nearest-sample metrics of {bb.label!r} skipped: "
                      "its decoded paths do not match the training data's width, or no "
                      "training row is complete")
    lc = metrics_module('manifold').latent_consistency(P, bb.encoder)
    m["latent_consistency_mean"] = float(lc.mean())
    m["latent_consistency_max"] = float(lc.max())
    arrival = metrics_module('manifold').arrival_step(B, target)
    m["arrival_step"] = None if arrival < 0 else arrival
    m["arrived"] = arrival >= 0
    curves["arrival_step"] = m["arrival_step"]
    stall = metrics_module('manifold').stall_steps(P, goal)
    m["stall_steps"] = stall["n_stalled"]
    m["longest_stall"] = stall["longest"]
    return m


def _one_path(
    ctx: RunContext, bb: Backbone, split: Split, P: np.ndarray, B: np.ndarray,
    goal: np.ndarray, target_label: Any, target: Any, curves: dict[str, Any],
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """The metrics of one path, and the classifier's confidence along it (or None)."""
    data = split.dataset
    m: dict[str, Any] = dict(metrics_module('trajectory').trajectory_summary(P, B))
    m["final_distance_to_target"] = float(np.linalg.norm(P[-1] - goal))
    if target is not None:
        m.update(_manifold_metrics(ctx, bb, split, P, B, goal, target, curves))
    ref = bb.Z_train[:5000]
    k = min(ctx.config.run.manifold_k, len(ref))
    m["manifold_distance"] = float(metrics_module('semantic').manifold_distance(P, ref, k=k).mean())
    if data.image_shape is not None and len(data.image_shape) >= 2 and min(data.image_shape[:2]) >= 3:
        images = bb.encoder.decode(P)
        m["sharpness"] = float(metrics_module('semantic').sharpness(images, data.image_shape).mean())
    confidence = None
    if bb.classifier is not None and target_label is not None:
        conf = metrics_module('semantic').classifier_confidence(bb.classifier, P, target_label)
        m.update({
            "confidence_mean": conf["mean"],
            "confidence_min": conf["min"],
            "first_target_step": conf["first_target_step"],
            "detour_steps": conf["detour_steps"],
            "reached_target_class": bool(conf["predicted"][-1] == target_label),
        })
        proba = bb.classifier.predict_proba(P)
        confidence = (proba.max(axis=1), bb.classifier.classes_[proba.argmax(axis=1)])
    return m, confidence


def _unique_labels(names: list[str]) -> list[str]:
    """Controller names, with a number appended to repeats ("linear", "linear-2")."""
    out: list[str] = []
    for n in names:
        label, k = n, 1
        while label in out:
            k += 1
            label = f"{n}-{k}"
        out.append(label)
    return out


def _need_labels(y: np.ndarray | None, what: str) -> np.ndarray:
    if y is None:
        raise ConfigError(f"[run] pairs: a {what} given by label needs a labelled dataset; "
                          f"use source_index / target_unit instead")
    return y


def _best_unit(bb: Backbone, label: Any) -> int:
    """The unit that best represents a label: among units of that majority label, the one
    whose prototype is nearest the label's mean latent point."""
    assert bb.unit_labels is not None
    y_train = bb.y_train
    if y_train is None or not np.any(y_train == label):
        raise ConfigError(f"[run] pairs: no training sample has the target label {label!r}")
    centre = bb.Z_train[y_train == label].mean(axis=0)
    candidates = np.flatnonzero(bb.unit_labels == label)
    if len(candidates) == 0:
        candidates = np.arange(len(bb.unit_labels))
    W = np.asarray(bb.model.prototypes_)
    return int(candidates[np.argmin(np.linalg.norm(W[candidates] - centre, axis=1))])


def _mean_dicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise mean of numeric entries (NaN and None ignored; booleans as fractions)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k not in ("paths", "mean")]
    out: dict[str, Any] = {}
    for k in keys:
        vals = [float(r[k]) for r in rows if isinstance(r.get(k), int | float) and r.get(k) is not None]
        vals = [v for v in vals if math.isfinite(v)]
        out[k] = float(np.mean(vals)) if vals else None
    return out
