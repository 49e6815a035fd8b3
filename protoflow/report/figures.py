"""The run's figures, drawn with matplotlib's Agg backend; each function returns PNG bytes.

The drawing itself is `protoflow.plot`'s (one implementation for the report and for users):
each function here makes a figure of the report's size, lets a `protoflow.plot` function
draw into its Axes, and saves it as PNG (no timestamp in the metadata, so reruns give the same
bytes). matplotlib is an optional extra (``protoflow-core[report]``): it is imported here, lazily.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from protoflow import plot as P

_COLORS = P._COLORS


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # optional extra
        raise ImportError(P._MATPLOTLIB_MISSING) from exc
    matplotlib.use("Agg", force=True)
    return P._pyplot()


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def prototype_grid(model: Any, decode: Any, image_shape: tuple[int, ...],
                   vrange: tuple[float, float], title: str) -> bytes:
    """Decoded prototypes as one mosaic laid out on the lattice (row-major), or in unit order
    otherwise (`protoflow.plot.prototypes_as_images`)."""
    plt = _plt()
    rows, cols = P._mosaic_grid(model.topology_)
    size = min(0.5 * max(rows, cols), 9.0)
    fig, ax = plt.subplots(figsize=(size * cols / max(rows, cols) + 0.3,
                                    size * rows / max(rows, cols) + 0.5))
    P.prototypes_as_images(model, image_shape, decode, vrange=vrange, ax=ax, title=title)
    return _png(fig)


def component_planes(model: Any, title: str, n_planes: int = 6) -> bytes:
    """The first `n_planes` latent coordinates of the prototypes, each on the model's
    topology (`protoflow.plot.component_planes`)."""
    plt = _plt()
    n = min(n_planes, np.asarray(model.prototypes_).shape[1])
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), squeeze=False)
    P.component_planes(model, list(range(n)), axes=list(axes[0]), title=title)
    return _png(fig)


def hits(model: Any, Z: np.ndarray, title: str) -> bytes:
    """Hit map of the points Z (`protoflow.plot.hits`)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    P.hits(model, Z, ax=ax, title=title)
    return _png(fig)


def latent_scatter(model: Any, Z: np.ndarray, y: np.ndarray | None, title: str,
                   paths: Mapping[str, np.ndarray] | None = None) -> bytes:
    """Data and prototypes on the data's first two principal axes, with graph edges and
    optional paths {controller: (n_points, n_features)} (`protoflow.plot.latent_scatter`)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    P.latent_scatter(model, Z, y, paths=paths, ax=ax, title=title)
    return _png(fig)


def umatrix(model: Any, title: str) -> bytes | None:
    """Mean distance of each prototype to its map neighbours, drawn on the model's own
    topology (`protoflow.plot.umatrix`). None without topology."""
    if not getattr(model.topology_, "has_topology", False):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    P.umatrix(model, ax=ax, title=title)
    return _png(fig)


def trajectory_strips(frames: Mapping[str, np.ndarray], image_shape: tuple[int, ...],
                      vrange: tuple[float, float], title: str, steps: list[int]) -> bytes:
    """One row of decoded frames per controller, side by side at the same steps (each row is
    `protoflow.plot.decoded_strip`'s drawing)."""
    plt = _plt()
    n_rows, n_cols = len(frames), len(steps)
    fig, axes = plt.subplots(n_rows, 1, figsize=(0.95 * n_cols + 1.0, 1.25 * n_rows + 0.5),
                             squeeze=False, gridspec_kw={"hspace": 0.45})
    for r, (name, images) in enumerate(frames.items()):
        P._strip(axes[r, 0], np.asarray(images), tuple(image_shape), vrange, steps, name)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def confidence_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], classes: Any,
                      title: str) -> bytes:
    """Classifier confidence along each controller's path, with the predicted class marked
    where it changes. curves: {controller: (confidence (n,), predicted (n,))}
    (the drawing of `protoflow.plot.confidence_curves`)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    P._draw_confidence(ax, curves)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def manifold_curves(panels: Mapping[str, Mapping[str, tuple[Any, int | None]]],
                    title: str) -> bytes:
    """One panel per pair (3 to a row): the distance of each controller's path to the
    nearest training sample along the path, arrival steps marked (the drawing of
    `protoflow.plot.manifold_curves`). panels: {pair: {controller: (distances (n,), arrival
    step, -1 never, or None)}}."""
    plt = _plt()
    n = max(1, len(panels))
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.2 * rows + 0.3), squeeze=False)
    for ax, (pair, curves) in zip(axes.ravel(), panels.items()):
        P._draw_manifold(ax, curves)
        ax.set_title(pair, fontsize=9)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def inversion_error(curves: Mapping[str, tuple[list[int], list[float], int]]) -> bytes:
    """Median relative inversion error against the number of nearest prototypes used.
    curves: {backbone: (n values, median errors, latent dimension D)}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    dims = set()
    for c, (name, (ns, errs, dim)) in enumerate(curves.items()):
        floor = np.maximum(np.asarray(errs, dtype=float), 1e-17)
        ax.plot(ns, floor, "o-", color=_COLORS[c % len(_COLORS)], label=name, ms=4)
        dims.add(dim)
    for dim in dims:
        ax.axvline(dim + 1, color="#999999", ls="--", lw=0.8)
        ax.annotate(f"D+1 = {dim + 1}", (dim + 1, 1e-16), fontsize=7, color="#666666",
                    xytext=(3, 0), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("prototypes used (nearest n)")
    ax.set_ylabel("median relative error")
    ax.set_title("Inversion error vs number of prototypes", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _png(fig)
