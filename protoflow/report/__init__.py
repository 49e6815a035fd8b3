"""Figures (PNG) and the self-contained ``report.html`` of a pipeline run.

`write_report(result, out)` draws every figure that applies to the run's backbones and data,
writes them to ``out/figures/`` and embeds them in ``out/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.io import atomic_write_bytes, atomic_write_text
from protoflow.report.html import Figure, render

__all__ = ["Figure", "build_figures", "render", "write_report"]

#: frames shown per trajectory strip
N_FRAMES = 10


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _value_range(X: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(X)), float(np.max(X))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _backbone_figures(result: Any, label: str, bb: Any) -> list[Figure]:
    from protoflow.report import figures as F

    data = result.dataset
    shape = data.image_shape
    vrange = _value_range(data.X)
    slug = _slug(label)
    out: list[Figure] = []
    model = bb.model
    if shape is not None:
        png = F.prototype_grid(model, bb.encoder.decode, shape, vrange, f"{label}: decoded prototypes")
        out.append(Figure("Decoded prototypes", f"The {model.prototypes_.shape[0]} prototypes of "
                          f"{label}, decoded to images, laid out on the map.", png,
                          f"prototypes_{slug}.png", label))
    elif getattr(model.topology_, "family", "") == "lattice":
        png = F.component_planes(model, f"{label}: component planes")
        out.append(Figure("Component planes", "Each latent coordinate of the prototypes on the "
                          "lattice.", png, f"components_{slug}.png", label))
    png = F.umatrix(model, f"{label}: U-matrix")
    if png is not None:
        out.append(Figure("U-matrix", "Mean latent distance from each prototype to its map "
                          "neighbours, drawn on the model's own topology (dark: far).", png,
                          f"umatrix_{slug}.png", label))
    png = F.hits(model, bb.Z_train, f"{label}: hit map (training points)")
    out.append(Figure("Hit map", "How many training points each unit wins (best-matching "
                      "unit counts), on the model's own topology.", png, f"hits_{slug}.png",
                      label))
    pairs = result.metrics["backbones"][label].get("trajectories", {}).get("pairs", [])
    for p_i, pair in enumerate(pairs):
        trajs = {c: t for (b, i, c), t in result.trajectories.items() if b == label and i == p_i}
        first = {c: np.asarray(t.points)[0] if np.ndim(t.points) == 3 else np.asarray(t.points)
                 for c, t in trajs.items()}
        if shape is not None:
            n_points = next(iter(first.values())).shape[0]
            steps = np.unique(np.linspace(0, n_points - 1, N_FRAMES).round().astype(int)).tolist()
            frames = {c: bb.encoder.decode(P[steps]) for c, P in first.items()}
            png = F.trajectory_strips(frames, shape, vrange, f"{label}: {pair['pair']}", steps)
            caption = "Decoded frames of the first path of each controller, at the same steps."
        else:
            png = F.latent_scatter(model, bb.Z_train, bb.y_train, f"{label}: {pair['pair']}", first)
            caption = "The first path of each controller over the data and prototypes (first two principal axes)."
        out.append(Figure(f"Trajectories {pair['pair']}", caption, png,
                          f"trajectory_{slug}_pair{p_i}.png", label))
        # the classifier's confidence along the first paths, as the pipeline stored it
        stored = result.paths[label].confidence if label in result.paths else {}
        curves = {c: stored[(label, p_i, c)] for c in first if (label, p_i, c) in stored}
        if bb.classifier is not None and curves:
            png = F.confidence_curves(curves, bb.classifier.classes_, f"{label}: {pair['pair']}")
            out.append(Figure(f"Classifier confidence {pair['pair']}", "Probability of the "
                              "predicted class along the first path; labels mark where the "
                              "prediction changes.", png, f"confidence_{slug}_pair{p_i}.png", label))
    fig = _manifold_figure(label, pairs)
    if fig is not None:
        out.append(fig)
    return out


def _manifold_figure(label: str, pairs: list[dict[str, Any]]) -> Figure | None:
    """Nearest-training-sample distance along the first path of each controller, one panel
    per pair, arrival steps marked; None when the run has no such curves."""
    from protoflow.report import figures as F

    panels = {}
    for pair in pairs:
        curves = {c: (m["curves"]["nearest_sample_distance"], m["curves"].get("arrival_step", -1))
                  for c, m in pair["controllers"].items()
                  if "nearest_sample_distance" in m.get("curves", {})}
        if curves:
            # metrics.json stores "never arrives" as null: draw it as -1
            panels[pair["pair"]] = {c: (d, -1 if a is None else a) for c, (d, a) in curves.items()}
    if not panels:
        return None
    png = F.manifold_curves(panels, f"{label}: distance to the nearest training sample")
    return Figure("Distance to the data", "Input-space distance from each decoded point of the "
                  "first path of each controller to its nearest training sample (exact); a dot "
                  "and a dotted line mark the first step whose best-matching unit is in the "
                  "target, \"never arrives\" a path that does not get there.", png,
                  f"manifold_{_slug(label)}.png", label)


def build_figures(result: Any) -> list[Figure]:
    """Every figure that applies to the run, in report order."""
    from protoflow.report import figures as F

    figs: list[Figure] = []
    curves = {}
    for label, entry in result.metrics["backbones"].items():
        rows = entry["inversion"]["error_vs_n"]
        curves[label] = ([r["n"] for r in rows], [r["median"] for r in rows],
                         entry["inversion"]["n_features"])
    if curves:
        figs.append(Figure("Inversion error", "Median relative error of the inversion from the "
                           "n nearest prototypes' activations on held-out points: exact from "
                           "n = D + 1 when the prototypes are in general position.",
                           F.inversion_error(curves), "inversion_error.png"))
    from protoflow.progress import Progress

    with Progress(len(result.backbones), "figures") as bar:  # a bar with ETA on a terminal
        for label, bb in result.backbones.items():
            figs += _backbone_figures(result, label, bb)
            bar.update()
    return figs


def write_report(result: Any, out: str | Path, *, figures: bool = True, html: bool = True,
                 notes: Sequence[str] = ()) -> list[Figure]:
    """Write ``figures/*.png`` and ``report.html`` for a `protoflow.pipeline.RunResult`."""
    out = Path(out)
    figs = build_figures(result)
    if figures:
        for f in figs:
            atomic_write_bytes(out / "figures" / f.filename, f.png)
    if html:
        src = result.config.source
        title = "protoflow report" + (f": {Path(src).name}" if src != "<config>" else "")
        atomic_write_text(out / "report.html", render(result.metrics, figs, notes, title))
    return figs
