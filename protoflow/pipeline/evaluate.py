"""Stage 4: evaluate a fitted backbone: the inversion check, map quality and the classifier's
test accuracy."""

from __future__ import annotations

import time
from typing import Any

import attrs
import numpy as np

from protoflow.errors import MetricNotApplicableError
from protoflow.inversion import Inverter
from protoflow.pipeline.context import RunContext, metrics_module
from protoflow.pipeline.data import Split
from protoflow.pipeline.fit import Backbone

__all__ = ["Evaluation", "evaluate_backbone", "inversion_check", "map_quality"]


@attrs.frozen(eq=False)
class Evaluation:
    """The evaluation of one backbone (entries of its ``metrics.json`` block).

    Attributes
    ----------
    inversion : the inversion check (`inversion_check`)
    map_quality : quantization and topographic error, purity and NMI (`map_quality`)
    classifier : ``{"kind", "test_accuracy"}`` of the latent classifier, or None
    """

    inversion: dict[str, Any]
    map_quality: dict[str, Any]
    classifier: dict[str, Any] | None = None


def evaluate_backbone(ctx: RunContext, bb: Backbone, split: Split) -> Evaluation:
    """Inversion check, map-quality metrics and classifier accuracy of `bb` on the test rows.

    Parameters
    ----------
    ctx : the run's context
    bb : the fitted backbone
    split : the data and its split

    Returns
    -------
    Evaluation
    """
    t0 = time.perf_counter()
    ctx.stage(f"checking the inversion of {bb.label!r}")
    inversion = inversion_check(bb, ctx.config.run.inversion_samples)
    ctx.timed("inversion", t0)
    t0 = time.perf_counter()
    ctx.stage(f"map-quality metrics of {bb.label!r}")
    y_test = split.y_test
    quality = map_quality(bb, y_test)
    classifier = None
    if bb.classifier is not None:
        acc = float(np.mean(bb.classifier.predict(bb.Z_test) == y_test))
        classifier = {"kind": ctx.config.run.classifier, "test_accuracy": acc}
    ctx.timed("metrics", t0)
    return Evaluation(inversion, quality, classifier)


def inversion_check(bb: Backbone, n_samples: int) -> dict[str, Any]:
    """Invert the activations of held-out points and measure the relative error.

    Parameters
    ----------
    bb : the fitted backbone
    n_samples : how many test points to invert (``[run] inversion_samples``)

    Returns
    -------
    dict: spans, the inverter's diagnostics, n_points, max and median relative error,
    error_vs_n, and a note when the prototypes do not span the latent space
    """
    W = np.asarray(bb.model.prototypes_, dtype=np.float64)
    Z = bb.Z_test[:n_samples]
    inv = Inverter(W, allow_underdetermined=True)
    Z_hat = inv.invert(bb.model.activations(Z))
    rel = np.linalg.norm(Z_hat - Z, axis=1) / np.maximum(np.linalg.norm(Z, axis=1), 1e-300)
    spans = inv.rank == W.shape[1]
    n_curve = 40 if W.shape[1] <= 64 else 10  # one least-squares solve per point and n
    out: dict[str, Any] = {
        "spans": bool(spans),
        **inv.diagnostics(),
        "n_points": len(Z),
        "max_relative_error": float(rel.max()),
        "median_relative_error": float(np.median(rel)),
        "error_vs_n": _error_vs_n(inv, bb.model.activations(Z[:n_curve]), Z[:n_curve]),
    }
    if not spans:
        out["note"] = (
            f"the {W.shape[0]} prototypes do not affinely span the {W.shape[1]}-dimensional "
            f"latent space (rank {inv.rank}): activations do not determine the point, the "
            "errors above are of the minimum-norm answer. Reduce the latent dimension or use "
            "more prototypes."
        )
    return out


def map_quality(bb: Backbone, y_test: np.ndarray | None) -> dict[str, Any]:
    """Quantization and topographic error on the test codes, and purity and NMI when labelled.

    Parameters
    ----------
    bb : the fitted backbone
    y_test : test labels, or None

    Returns
    -------
    dict of metric -> value (None where the metric does not apply, with ``notes`` saying why)
    """
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    wanted: list[tuple[str, tuple[Any, ...]]] = [("quantization_error", ()), ("topographic_error", ())]
    if y_test is not None:
        wanted += [("purity", (y_test,)), ("nmi", (y_test,))]
    for name, extra in wanted:
        try:
            out[name] = float(getattr(metrics_module('map_quality'), name)(bb.model, bb.Z_test, *extra))
        except MetricNotApplicableError as exc:
            out[name] = None
            notes[name] = str(exc)
    if notes:
        out["notes"] = notes
    return out


def _error_vs_n(inv: Inverter, A: np.ndarray, Z: np.ndarray) -> list[dict[str, float]]:
    """Median relative inversion error using only the n nearest prototypes, for a few n
    around the latent dimension D (the paper's error-versus-n curve)."""
    K, D = inv.n_units, inv.n_features
    grid = sorted({n for n in (1, 2, D // 2, D - 1, D, D + 1, D + 2, 2 * D, 4 * D, K) if 1 <= n <= K})
    norms = np.maximum(np.linalg.norm(Z, axis=1), 1e-300)
    rows = []
    for n in grid:
        Z_hat = inv.invert(A, n_nearest=n)
        rel = np.linalg.norm(Z_hat - Z, axis=1) / norms
        rows.append({"n": int(n), "median": float(np.median(rel)), "max": float(rel.max())})
    return rows
