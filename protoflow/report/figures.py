"""The run's figures, drawn with matplotlib's Agg backend; each function returns PNG bytes.

matplotlib is an optional extra (``protoflow-core[report]``): it is imported here, lazily.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # optional extra
        raise ImportError(
            "figures and the HTML report need matplotlib: pip install 'protoflow-core[report]' "
            "(or set figures = false and report = false in [run])"
        ) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _image(ax: Any, img: np.ndarray, shape: tuple[int, ...], vrange: tuple[float, float]) -> None:
    cmap = "gray_r" if len(shape) == 2 else None
    pic = np.clip(img.reshape(shape), *vrange)
    if len(shape) == 3:
        pic = (pic - vrange[0]) / max(vrange[1] - vrange[0], 1e-12)
    ax.imshow(pic, cmap=cmap, vmin=vrange[0], vmax=vrange[1], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _grid_shape(model: Any) -> tuple[int, int]:
    topo = model.topology_
    if getattr(topo, "family", "") == "lattice":
        return int(topo.rows), int(topo.cols)
    K = model.prototypes_.shape[0]
    cols = int(np.ceil(np.sqrt(K)))
    return int(np.ceil(K / cols)), cols


def prototype_grid(model: Any, decode: Any, image_shape: tuple[int, ...],
                   vrange: tuple[float, float], title: str) -> bytes:
    """Decoded prototypes as one mosaic laid out on the lattice (row-major), or in unit order
    otherwise; one image call, so a 32x32 map draws as fast as a small one."""
    plt = _plt()
    rows, cols = _grid_shape(model)
    images = np.clip(decode(np.asarray(model.prototypes_)), *vrange)
    h, w = image_shape[:2]
    extra = image_shape[2:]
    gap = vrange[0] + 0.3 * (vrange[1] - vrange[0])  # light grey lines between images
    mosaic = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, *extra), gap)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        mosaic[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = img.reshape(image_shape)
    if extra:
        mosaic = (mosaic - vrange[0]) / max(vrange[1] - vrange[0], 1e-12)
    size = min(0.5 * max(rows, cols), 9.0)
    fig, ax = plt.subplots(figsize=(size * cols / max(rows, cols) + 0.3, size * rows / max(rows, cols) + 0.5))
    ax.imshow(mosaic, cmap=None if extra else "gray_r", vmin=vrange[0], vmax=vrange[1],
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return _png(fig)


def component_planes(model: Any, title: str, n_planes: int = 6) -> bytes:
    """Each latent coordinate of the prototypes as an image on a (rows x cols) lattice."""
    plt = _plt()
    rows, cols = _grid_shape(model)
    W = np.asarray(model.prototypes_)
    n = min(n_planes, W.shape[1])
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.6), squeeze=False)
    for d, ax in enumerate(axes[0]):
        plane = np.full(rows * cols, np.nan)
        plane[: W.shape[0]] = W[:, d]
        im = ax.imshow(plane.reshape(rows, cols), cmap="viridis")
        ax.set_title(f"z[{d}]", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title)
    return _png(fig)


def _projection(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top-2 principal axes (2, n_features) of Z, for 2-D drawings."""
    mean = Z.mean(axis=0)
    _, _, Vt = np.linalg.svd(Z - mean, full_matrices=False)
    axes = Vt[:2]
    if axes.shape[0] < 2:  # one-dimensional data
        axes = np.vstack([axes, np.zeros_like(axes)])
    return mean, axes


def latent_scatter(model: Any, Z: np.ndarray, y: np.ndarray | None, title: str,
                   paths: Mapping[str, np.ndarray] | None = None) -> bytes:
    """Data and prototypes on the data's first two principal axes, with graph edges and
    optional paths {controller: (n_points, n_features)}."""
    plt = _plt()
    mean, axes = _projection(Z)
    P = (Z - mean) @ axes.T
    W = (np.asarray(model.prototypes_) - mean) @ axes.T
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    ax.scatter(P[:, 0], P[:, 1], s=4, c=y if y is not None else "#bbbbbb",
               cmap="tab10" if y is not None else None, alpha=0.35, linewidths=0)
    topo = model.topology_
    if getattr(topo, "has_topology", False):
        for i in range(topo.n_units):
            for j in topo.neighbors(i):
                if j > i:
                    ax.plot(W[[i, j], 0], W[[i, j], 1], color="#555555", lw=0.5, alpha=0.6)
    ax.scatter(W[:, 0], W[:, 1], s=10, c="black", label="prototypes")
    for c, (name, path) in enumerate((paths or {}).items()):
        Q = (path - mean) @ axes.T
        ax.plot(Q[:, 0], Q[:, 1], "-", color=_COLORS[c % len(_COLORS)], lw=1.8, label=name)
        ax.plot(Q[0, 0], Q[0, 1], "o", color=_COLORS[c % len(_COLORS)])
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title)
    return _png(fig)


def umatrix(model: Any, title: str) -> bytes | None:
    """Mean distance of each prototype to its map neighbours, drawn on the model's own
    topology: a plain grid (rect, torus), hexagons (hex) or the graph. None without topology."""
    topo = model.topology_
    if not getattr(topo, "has_topology", False):
        return None
    plt = _plt()
    W = np.asarray(model.prototypes_)
    u = np.zeros(topo.n_units)
    for i in range(topo.n_units):
        nb = topo.neighbors(i)
        u[i] = np.linalg.norm(W[nb] - W[i], axis=1).mean() if len(nb) else 0.0
    family = getattr(topo, "family", "")
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    if family == "lattice" and topo.kind == "rect":
        im = ax.imshow(u.reshape(topo.rows, topo.cols), cmap="bone_r")
        kind = "torus" if topo.toroidal else "rectangular"
        ax.set_title(f"{title}\n{kind} lattice {topo.rows}x{topo.cols}", fontsize=10)
        fig.colorbar(im, ax=ax, label="mean distance to neighbours")
    elif family == "lattice":
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import RegularPolygon

        xy = topo.coordinates()
        patches = [RegularPolygon((x, y), numVertices=6, radius=1 / np.sqrt(3)) for x, y in xy]
        coll = PatchCollection(patches, cmap="bone_r", edgecolor="white", linewidth=0.3)
        coll.set_array(u)
        ax.add_collection(coll)
        ax.set_xlim(xy[:, 0].min() - 1, xy[:, 0].max() + 1)
        ax.set_ylim(xy[:, 1].max() + 1, xy[:, 1].min() - 1)
        ax.set_aspect("equal")
        ax.set_title(f"{title}\nhexagonal lattice {topo.rows}x{topo.cols}", fontsize=10)
        fig.colorbar(coll, ax=ax, label="mean distance to neighbours")
    else:
        xy = topo.coordinates()
        for i in range(topo.n_units):
            for j in topo.neighbors(i):
                if j > i:
                    ax.plot(xy[[i, j], 0], xy[[i, j], 1], color="#888888", lw=0.6, zorder=1)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=u, cmap="bone_r", s=28, edgecolors="k",
                        linewidths=0.4, zorder=2)
        ax.set_title(f"{title}\ngraph with {topo.n_units} units", fontsize=10)
        fig.colorbar(sc, ax=ax, label="mean distance to neighbours")
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig)


def trajectory_strips(frames: Mapping[str, np.ndarray], image_shape: tuple[int, ...],
                      vrange: tuple[float, float], title: str, steps: list[int]) -> bytes:
    """One row of decoded frames per controller, side by side at the same steps."""
    plt = _plt()
    n_rows, n_cols = len(frames), len(steps)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(0.95 * n_cols + 1.0, 1.05 * n_rows + 0.5),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.15})
    for r, (name, images) in enumerate(frames.items()):
        for c, ax in enumerate(axes[r]):
            _image(ax, images[c], image_shape, vrange)
            if r == 0:
                ax.set_title(f"step {steps[c]}", fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def confidence_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], classes: Any,
                      title: str) -> bytes:
    """Classifier confidence along each controller's path, with the predicted class marked
    where it changes. curves: {controller: (confidence (n,), predicted (n,))}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for c, (name, (conf, pred)) in enumerate(curves.items()):
        color = _COLORS[c % len(_COLORS)]
        ax.plot(np.arange(len(conf)), conf, color=color, lw=1.6, label=name)
        change = np.flatnonzero(np.r_[True, pred[1:] != pred[:-1]])
        for k in change:
            ax.annotate(str(pred[k]), (k, conf[k]), fontsize=7, color=color,
                        xytext=(0, 4), textcoords="offset points")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("step")
    ax.set_ylabel("confidence of predicted class")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
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
