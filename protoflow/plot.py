"""One-line matplotlib figures of any fitted prototype model: U-matrix, hit map, component
planes, class map, prototypes as images, trajectories over the map and decoded strips.

Every function draws on the model's own topology: a rectangular lattice (or torus) as a grid of
cells, a hexagonal lattice as hexagons, a graph (Growing Neural Gas, k-means with a k-NN graph)
as a node-link drawing, and a model without topology (`NoTopology`) as a near-square grid of
units in index order (only the functions that need map neighbours, `umatrix` and
`trajectory_on_map`, refuse it). Each takes an optional ``ax=`` (a `matplotlib.axes.Axes` to
draw into; a new figure otherwise) and returns the Axes it drew on, except `component_planes`,
which returns an array of Axes, one per plane.

matplotlib is an optional extra (``protoflow-core[report]``): it is imported on the first call,
never at ``import protoflow.plot``; no backend is forced (the run report forces Agg itself).
``protoflow run``'s report draws its figures with these same functions.

Shapes use: n_samples points, n_features latent dimensions, n_units prototypes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from protoflow.errors import ConfigError, TopologyError, ValidationError
from protoflow.protocols import PrototypeModel, Trajectory
from protoflow.topology import Lattice, Topology
from protoflow.validation import check_array, check_int, check_is_fitted

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.cm

__all__ = [
    "class_map",
    "component_planes",
    "confidence_curves",
    "decoded_strip",
    "hits",
    "latent_scatter",
    "manifold_curves",
    "prototypes_as_images",
    "trajectory_on_map",
    "umatrix",
    "umatrix_values",
]

#: the message of the ImportError raised when matplotlib is missing (shared with the report)
_MATPLOTLIB_MISSING = (
    "figures and the HTML report need matplotlib: pip install 'protoflow-core[report]' "
    "(or set figures = false and report = false in [run])"
)

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
_BAD = "#dddddd"  # units without a value (no hits, no neighbours)
_GID = "protoflow-units"  # the gid of the artist holding one value per unit
_ANNOTATE_MAX = 100  # annotate cells with their value up to this many units
_SQ3 = float(np.sqrt(3.0))


# -- matplotlib, lazily ------------------------------------------------------------------------


def _mpl() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # optional extra
        raise ImportError(_MATPLOTLIB_MISSING) from exc
    return matplotlib


def _pyplot() -> Any:
    _mpl()
    import matplotlib.pyplot as plt

    return plt


def _new_axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def _cmap(name: Any) -> Any:
    mpl = _mpl()
    cmap = mpl.colormaps[name] if isinstance(name, str) else name
    return cmap.with_extremes(bad=_BAD)


# -- inputs -----------------------------------------------------------------------------------


def _check_model(model: PrototypeModel | Any) -> tuple[np.ndarray, Topology]:
    """The fitted model's prototypes (n_units, n_features) and topology, checked."""
    if not (hasattr(model, "prototypes_") or hasattr(model, "fit")):
        raise ValidationError(
            f"expected a fitted protoflow model (with prototypes_ and topology_), got "
            f"{type(model).__name__}"
        )
    check_is_fitted(model, ["prototypes_", "topology_"])
    W = check_array(model.prototypes_, name="model.prototypes_", allow_float32=True)
    topo = model.topology_
    if not isinstance(topo, Topology):
        raise ValidationError(
            f"model.topology_ must be a protoflow Topology, got {type(topo).__name__}"
        )
    if topo.n_units != W.shape[0]:
        raise ValidationError(
            f"model.topology_ has {topo.n_units} units but model.prototypes_ has {W.shape[0]} rows"
        )
    return np.asarray(W, dtype=np.float64), topo


def _decoder_fn(decoder: Any) -> Callable[[np.ndarray], np.ndarray]:
    if decoder is None:
        return lambda Z: np.asarray(Z)
    if hasattr(decoder, "decode"):
        return lambda Z: np.asarray(decoder.decode(Z))
    if callable(decoder):
        return lambda Z: np.asarray(decoder(Z))
    raise ConfigError(
        f"decoder must be an encoder (with decode) or a function, got {type(decoder).__name__}"
    )


def _check_image_shape(image_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"image_shape must be a tuple of ints, got {image_shape!r}") from exc
    if len(shape) not in (2, 3) or min(shape) < 1 or (len(shape) == 3 and shape[2] not in (3, 4)):
        raise ConfigError(
            f"image_shape must be (height, width) or (height, width, 3 or 4), got {image_shape!r}"
        )
    return shape


def _decode_images(decode: Callable[[np.ndarray], np.ndarray], Z: np.ndarray,
                   shape: tuple[int, ...], what: str) -> np.ndarray:
    images = check_array(decode(Z), name=f"decoded {what}")
    if images.shape[1] != int(np.prod(shape)):
        raise ValidationError(
            f"decoded {what} have {images.shape[1]} values each, but image_shape {shape} needs "
            f"{int(np.prod(shape))}. Pass the decoder of the encoder the model was fitted on, or "
            "the right image_shape."
        )
    return images


def _value_range(images: np.ndarray, vrange: Any) -> tuple[float, float]:
    if vrange is not None:
        lo, hi = (float(v) for v in vrange)
    else:
        lo, hi = float(np.min(images)), float(np.max(images))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _path_points(trajectory: Any, path: int, what: str = "trajectory") -> np.ndarray:
    """(n_points, n_features) of one path of a Trajectory (or a plain array)."""
    P = np.asarray(trajectory.points if isinstance(trajectory, Trajectory) else trajectory)
    if P.ndim == 3:
        path = check_int("path", path, minimum=0, maximum=P.shape[0] - 1)
        P = P[path]
    return check_array(P, name=f"{what} points")


# -- drawing one value per unit on the topology -------------------------------------------------


def _topology_label(topo: Topology) -> str:
    if isinstance(topo, Lattice):
        kind = "hexagonal" if topo.kind == "hex" else "rectangular"
        wrap = " torus (edges wrap)" if topo.toroidal else " lattice"
        return f"{kind}{wrap} {topo.rows}x{topo.cols}"
    if topo.has_topology:
        return f"graph with {topo.n_units} units"
    return f"{topo.n_units} units, no topology"


def _tick_step(n: int) -> int:
    return max(1, int(np.ceil(n / 8)))


def _draw_units(ax: Any, topo: Topology, values: np.ndarray, *, cmap: Any = "viridis",
                norm: Any = None) -> Any:
    """Draw one value per unit; returns the mappable (its gid is ``protoflow-units``).

    rect lattice: an image (x = column, y = row, row 0 on top); hex lattice: one hexagon per
    unit at `Lattice.coordinates`; graph: nodes at `Graph.coordinates` joined by the edges;
    no topology: nodes on a near-square grid.
    """
    mpl = _mpl()
    values = np.asarray(values, dtype=np.float64)
    cmap = _cmap(cmap)
    if isinstance(topo, Lattice) and topo.kind == "rect":
        m = ax.imshow(values.reshape(topo.rows, topo.cols), cmap=cmap, norm=norm,
                      interpolation="nearest", origin="upper")
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    elif isinstance(topo, Lattice):
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import RegularPolygon

        xy = topo.coordinates()
        patches = [RegularPolygon((x, y), numVertices=6, radius=1 / _SQ3) for x, y in xy]
        m = PatchCollection(patches, cmap=cmap, norm=norm, edgecolor="white", linewidth=0.3)
        m.set_array(values)
        ax.add_collection(m)
        ax.set_xlim(xy[:, 0].min() - 0.7, xy[:, 0].max() + 0.7)
        ax.set_ylim(xy[:, 1].max() + 0.8, xy[:, 1].min() - 0.8)
        ax.set_aspect("equal")
        cs = np.arange(0, topo.cols, _tick_step(topo.cols))
        rs = np.arange(0, topo.rows, _tick_step(topo.rows))
        ax.set_xticks(cs.astype(float), [str(c) for c in cs])
        ax.set_yticks(rs * _SQ3 / 2, [str(r) for r in rs])
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    else:
        xy = topo.coordinates()
        if topo.has_topology and len(getattr(topo, "edges", ())):
            from matplotlib.collections import LineCollection

            edges = np.asarray(topo.edges)  # type: ignore[attr-defined]
            ax.add_collection(LineCollection(xy[edges], colors="#888888", linewidths=0.6,
                                             zorder=1))
        size = float(np.clip(4000.0 / max(topo.n_units, 1), 12.0, 120.0))
        m = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap=cmap, norm=norm, s=size,
                       edgecolors="k", linewidths=0.4, zorder=2, plotnonfinite=True)
        if not topo.has_topology:
            ax.invert_yaxis()  # unit 0 top left, like a lattice
        ax.margins(0.08)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("layout x (graph drawing)" if topo.has_topology else "unit % columns")
        ax.set_ylabel("layout y" if topo.has_topology else "unit // columns")
        if not topo.has_topology:
            ax.set_aspect("equal")
    m.set_gid(_GID)
    if isinstance(topo, Lattice) and topo.toroidal:
        _torus_frame(ax, topo)
    return m


def _torus_frame(ax: Any, topo: Lattice) -> None:
    """A dashed frame: the map's edges wrap around."""
    from matplotlib.patches import Rectangle

    if topo.kind == "rect":
        x0, y0, w, h = -0.5, -0.5, float(topo.cols), float(topo.rows)
    else:
        x0, y0 = -0.5, -1 / _SQ3
        w, h = topo.cols + 0.5, (topo.rows - 1) * _SQ3 / 2 + 2 / _SQ3
    ax.add_patch(Rectangle((x0, y0), w, h, fill=False, ls="--", lw=1.0, ec="#d62728",
                           zorder=3, clip_on=False))


def _annotate_units(ax: Any, topo: Topology, texts: Sequence[str], annotate: bool | None,
                    mappable: Any, values: np.ndarray) -> None:
    """Write a text on each unit, white on dark cells and black on light ones."""
    if annotate is None:
        annotate = topo.n_units <= _ANNOTATE_MAX
    if not annotate:
        return
    xy = topo.coordinates()
    rgba = mappable.to_rgba(np.nan_to_num(np.asarray(values, dtype=np.float64)))
    dark = rgba[:, :3] @ np.array([0.299, 0.587, 0.114]) < 0.5
    fs = 7 if topo.n_units <= 64 else 5
    for (x, y), t, d in zip(xy, texts, dark):
        if t:
            ax.text(x, y, t, ha="center", va="center", fontsize=fs, zorder=4,
                    color="white" if d else "#222222")


def _title(ax: Any, title: str | None, default: str, topo: Topology | None) -> None:
    head = default if title is None else title
    sub = _topology_label(topo) if topo is not None else ""
    ax.set_title(f"{head}\n{sub}" if head and sub else head or sub, fontsize=10)


# -- the public functions --------------------------------------------------------------------


def umatrix_values(model: PrototypeModel) -> np.ndarray:
    """Mean Euclidean distance from each prototype to its map neighbours.

    Neighbours are the units at map distance 1 of the model's topology (`Topology.neighbors`),
    so a torus's neighbours wrap around its edges and a graph's are its edges' other ends.

    Parameters
    ----------
    model : fitted PrototypeModel with a lattice or graph topology

    Returns
    -------
    ndarray of shape (n_units,)
        NaN for a unit without neighbours (an isolated graph node).

    Raises
    ------
    TopologyError
        The model has no topology (`NoTopology`, e.g. k-means without a graph).
    """
    W, topo = _check_model(model)
    if not topo.has_topology:
        raise TopologyError(
            "a U-matrix needs map neighbours, and this model has no topology (NoTopology): "
            "it is the mean distance from each prototype to its lattice or graph neighbours. "
            "Draw hits(model, X) or component_planes(model) instead, or fit a model with a "
            "lattice (som) or a graph (gng, kmeans with topology='knn')."
        )
    u = np.full(topo.n_units, np.nan)
    for i in range(topo.n_units):
        nb = topo.neighbors(i)
        if len(nb):
            u[i] = float(np.linalg.norm(W[nb] - W[i], axis=1).mean())
    return u


def umatrix(model: PrototypeModel, *, ax: matplotlib.axes.Axes | None = None,
            cmap: Any = "bone_r", colorbar: bool = True,
            title: str | None = None) -> matplotlib.axes.Axes:
    """The U-matrix (`umatrix_values`) drawn on the model's own topology.

    A rectangular lattice is a grid of cells (a torus gets a dashed frame: its edges wrap, and
    its border units' neighbours are across the seam), a hexagonal lattice one hexagon per unit,
    a graph its nodes coloured by the mean distance to their graph neighbours. Dark: far from
    the neighbours (a cluster border).

    Parameters
    ----------
    model : fitted PrototypeModel with a lattice or graph topology
    ax : Axes to draw into; a new figure when None
    cmap : matplotlib colormap (name)
    colorbar : add a colour bar labelled "mean distance to neighbours"
    title : first title line (default "U-matrix"); the second names the topology

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TopologyError
        The model has no topology.
    """
    u = umatrix_values(model)
    topo = model.topology_
    ax = _new_axes(ax, (5.4, 4.6))
    m = _draw_units(ax, topo, u, cmap=cmap)
    if colorbar:
        ax.figure.colorbar(m, ax=ax, label="mean distance to neighbours")
    _title(ax, title, "U-matrix", topo)
    return ax


def hits(model: PrototypeModel, X: Any, *, ax: matplotlib.axes.Axes | None = None,
         cmap: Any = "Blues", colorbar: bool = True, annotate: bool | None = None,
         title: str | None = None) -> matplotlib.axes.Axes:
    """Hit map: how many of the points ``X`` have each unit as best-matching unit.

    Parameters
    ----------
    model : fitted PrototypeModel (any topology; without one the units are drawn on a grid)
    X : array-like of shape (n_samples, n_features)
        Points in the model's latent space (what ``model.bmu`` takes; for DESOM, the encoded
        data ``model.encoder.encode(X)``).
    ax : Axes to draw into; a new figure when None
    cmap : matplotlib colormap (name)
    colorbar : add a colour bar labelled "hits (samples per unit)"
    annotate : write each unit's count on it; default: when there are at most 100 units
    title : first title line (default "Hit map (n_samples samples)")

    Returns
    -------
    matplotlib.axes.Axes
        The drawn counts, shape (n_units,), sum to n_samples.
    """
    W, topo = _check_model(model)
    Z = check_array(X, name="X", n_features=W.shape[1])
    counts = np.bincount(np.asarray(model.bmu(Z), dtype=np.int64), minlength=topo.n_units)
    ax = _new_axes(ax, (5.4, 4.6))
    m = _draw_units(ax, topo, counts.astype(np.float64), cmap=cmap)
    _annotate_units(ax, topo, [str(c) for c in counts], annotate, m, counts)
    if colorbar:
        ax.figure.colorbar(m, ax=ax, label="hits (samples per unit)")
    _title(ax, title, f"Hit map ({Z.shape[0]} samples)", topo)
    return ax


def component_planes(model: PrototypeModel, features: Sequence[int] | None = None, *,
                     names: Sequence[str] | None = None, ncols: int = 4, cmap: Any = "viridis",
                     axes: Sequence[matplotlib.axes.Axes] | None = None,
                     title: str | None = None) -> np.ndarray:
    """One plane per latent coordinate: that coordinate of every prototype, on the topology.

    Parameters
    ----------
    model : fitted PrototypeModel (any topology)
    features : the coordinates to draw (indices into n_features); default all of them
    names : one title per drawn plane; default ``z[d]``
    ncols : planes per row of a new figure
    cmap : matplotlib colormap (name)
    axes : Axes to draw the planes into, one per plane; a new figure when None
    title : the figure's title (default "Component planes" and the topology)

    Returns
    -------
    ndarray of matplotlib.axes.Axes, shape (n_planes,)
        Not a Figure: one Axes per plane, each with its own colour bar (``axes[0].figure``
        is the figure).
    """
    W, topo = _check_model(model)
    feats = list(range(W.shape[1])) if features is None else [
        check_int("features", f, minimum=0, maximum=W.shape[1] - 1) for f in features]
    if not feats:
        raise ConfigError("features is empty; give at least one latent coordinate to draw")
    if names is not None and len(names) != len(feats):
        raise ConfigError(f"names has {len(names)} entries for {len(feats)} planes")
    if axes is None:
        ncols = check_int("ncols", ncols, minimum=1)
        nc = min(ncols, len(feats))
        nr = int(np.ceil(len(feats) / nc))
        fig, grid = _pyplot().subplots(nr, nc, figsize=(3.0 * nc, 2.6 * nr + 0.5),
                                       squeeze=False, layout="constrained")
        flat = list(grid.ravel())
        for extra in flat[len(feats):]:
            extra.set_visible(False)
        flat = flat[: len(feats)]
    else:
        flat = list(axes)
        if len(flat) != len(feats):
            raise ConfigError(f"axes has {len(flat)} Axes for {len(feats)} planes")
        fig = flat[0].figure
    for k, (d, ax) in enumerate(zip(feats, flat)):
        m = _draw_units(ax, topo, W[:, d], cmap=cmap)
        ax.set_title(names[k] if names is not None else f"z[{d}]", fontsize=9)
        ax.set_xlabel(ax.get_xlabel(), fontsize=7)
        ax.set_ylabel(ax.get_ylabel(), fontsize=7)
        fig.colorbar(m, ax=ax, fraction=0.046)
    head = "Component planes" if title is None else title
    fig.suptitle(f"{head} ({_topology_label(topo)})" if head else _topology_label(topo))
    return np.array(flat, dtype=object)


def class_map(model: PrototypeModel, X: Any, y: Any, *, ax: matplotlib.axes.Axes | None = None,
              annotate: bool | None = None, legend: bool = True,
              title: str | None = None) -> matplotlib.axes.Axes:
    """Majority label of each unit: the most frequent ``y`` among the points it wins.

    Parameters
    ----------
    model : fitted PrototypeModel (any topology)
    X : array-like of shape (n_samples, n_features), points in the model's latent space
    y : array-like of shape (n_samples,), class labels (numbers or strings)
    ax : Axes to draw into; a new figure when None
    annotate : write each unit's label on it; default: when there are at most 100 units
    legend : add a legend (one colour per class; grey: units that win no point)
    title : first title line (default "Class map (majority label per unit)")

    Returns
    -------
    matplotlib.axes.Axes
        No colour bar: the classes are in the legend. Ties go to the label that sorts first.
    """
    W, topo = _check_model(model)
    Z = check_array(X, name="X", n_features=W.shape[1])
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != Z.shape[0]:
        raise ValidationError(
            f"y must have shape ({Z.shape[0]},), one label per row of X, got {labels.shape}"
        )
    classes, inv = np.unique(labels, return_inverse=True)
    counts = np.zeros((topo.n_units, len(classes)), dtype=np.int64)
    np.add.at(counts, (np.asarray(model.bmu(Z), dtype=np.int64), inv.ravel()), 1)
    major = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)
    mpl = _mpl()
    C = len(classes)
    base = mpl.colormaps["tab10" if C <= 10 else "tab20" if C <= 20 else "hsv"]
    colors = [base(i if C <= 20 else i / C) for i in range(C)]
    cmap = mpl.colors.ListedColormap(colors)
    norm = mpl.colors.BoundaryNorm(np.arange(C + 1) - 0.5, C)
    values = np.where(major >= 0, major, np.nan).astype(np.float64)
    ax = _new_axes(ax, (6.2, 4.6))
    m = _draw_units(ax, topo, values, cmap=cmap, norm=norm)
    _annotate_units(ax, topo, [str(classes[k]) if k >= 0 else "" for k in major], annotate,
                    m, np.maximum(major, 0))
    if legend:
        from matplotlib.patches import Patch

        handles = [Patch(color=colors[i], label=str(c)) for i, c in enumerate(classes)]
        if np.any(major < 0):
            handles.append(Patch(color=_BAD, label="no hits"))
        ax.legend(handles=handles, title="class", fontsize=7, title_fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    _title(ax, title, "Class map (majority label per unit)", topo)
    return ax


def _mosaic_grid(topo: Topology) -> tuple[int, int]:
    """(rows, cols) of the image mosaic: the lattice's, else a near-square grid."""
    if isinstance(topo, Lattice):
        return topo.rows, topo.cols
    cols = int(np.ceil(np.sqrt(topo.n_units)))
    return int(np.ceil(topo.n_units / cols)), cols


def _mosaic(images: np.ndarray, shape: tuple[int, ...], rows: int, cols: int,
            vrange: tuple[float, float], shift_parity: int | None = None) -> np.ndarray:
    """Images laid out row-major with one-pixel light grey gaps; the rows with
    ``row % 2 == shift_parity`` shifted half an image right (a hexagonal lattice)."""
    h, w = shape[:2]
    extra = shape[2:]
    gap = vrange[0] + 0.3 * (vrange[1] - vrange[0])
    half = (w + 1) // 2 if shift_parity is not None and rows > 1 else 0
    out = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1 + half, *extra), gap)
    for k, img in enumerate(np.clip(images, *vrange)):
        r, c = divmod(k, cols)
        x = 1 + c * (w + 1) + (half if r % 2 == shift_parity else 0)
        out[1 + r * (h + 1): 1 + r * (h + 1) + h, x: x + w] = img.reshape(shape)
    return out


def _show_mosaic(ax: Any, mosaic: np.ndarray, shape: tuple[int, ...],
                 vrange: tuple[float, float]) -> Any:
    if len(shape) == 3:
        mosaic = (mosaic - vrange[0]) / max(vrange[1] - vrange[0], 1e-12)
        return ax.imshow(mosaic, interpolation="nearest")
    return ax.imshow(mosaic, cmap="gray_r", vmin=vrange[0], vmax=vrange[1],
                     interpolation="nearest")


def prototypes_as_images(model: PrototypeModel, image_shape: Sequence[int],
                         decoder: Any = None, *, vrange: Sequence[float] | None = None,
                         ax: matplotlib.axes.Axes | None = None,
                         title: str | None = None) -> matplotlib.axes.Axes:
    """Every prototype as an image, laid out on the lattice (row-major; on a hexagonal lattice
    the shifted rows are shifted by half an image), or in unit order on a near-square grid.

    One image call draws the whole mosaic, so a 32x32 map is as fast as a small one.

    Parameters
    ----------
    model : fitted PrototypeModel (any topology)
    image_shape : (height, width) or (height, width, 3 or 4) of one image
    decoder : None (the prototypes are images already), an Encoder (its ``decode`` maps
        (n_units, n_features) to (n_units, height * width)) or such a function
    vrange : (low, high) pixel values mapped to white and black; default the decoded range
    ax : Axes to draw into; a new figure when None
    title : first title line (default "Prototypes" or "Decoded prototypes")

    Returns
    -------
    matplotlib.axes.Axes
        No colour bar: pixel values.
    """
    W, topo = _check_model(model)
    shape = _check_image_shape(image_shape)
    images = _decode_images(_decoder_fn(decoder), W, shape, "prototypes")
    lo_hi = _value_range(images, vrange)
    rows, cols = _mosaic_grid(topo)
    parity = None
    if isinstance(topo, Lattice) and topo.kind == "hex":  # the rows the lattice shifts right
        parity = 0 if getattr(topo, "hex_offset", "odd") == "even" else 1
    mosaic = _mosaic(images, shape, rows, cols, lo_hi, shift_parity=parity)
    if ax is None:
        size = min(0.5 * max(rows, cols), 9.0) + 2.0
        ax = _new_axes(None, (size * cols / max(rows, cols) + 0.3,
                              size * rows / max(rows, cols) + 0.6))
    _show_mosaic(ax, mosaic, shape, lo_hi)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"column ({cols})", fontsize=8)
    ax.set_ylabel(f"row ({rows})", fontsize=8)
    default = "Prototypes" if decoder is None else "Decoded prototypes"
    _title(ax, title, default, topo)
    return ax


def _periods(topo: Lattice) -> list[np.ndarray]:
    """Translations of the drawing coordinates that map a torus onto itself."""
    dy = 1.0 if topo.kind == "rect" else _SQ3 / 2
    return [np.array([s * topo.cols, t * topo.rows * dy]) for s in (-1, 0, 1) for t in (-1, 0, 1)]


def _bmu_polylines(topo: Topology, bmus: np.ndarray) -> list[np.ndarray]:
    """The BMU path as polylines (n_points, 2) in drawing coordinates; on a torus a step
    across the seam leaves the map on one side and re-enters on the other."""
    xy = topo.coordinates()
    seq = bmus[np.r_[True, bmus[1:] != bmus[:-1]]]  # drop repeats
    pts = xy[seq]
    if not (isinstance(topo, Lattice) and topo.toroidal) or len(pts) < 2:
        return [pts]
    shifts = _periods(topo)
    lines: list[list[np.ndarray]] = [[pts[0]]]
    for p, q in itertools.pairwise(pts):
        best = shifts[int(np.argmin([np.linalg.norm(q + s - p) for s in shifts]))]
        if np.any(best != 0):
            lines[-1].append(q + best)  # off the map, clipped by the axes
            lines.append([p - best, q])
        else:
            lines[-1].append(q)
    return [np.array(line) for line in lines]


def _target_units(target: Any, n_units: int) -> np.ndarray:
    if target is None or isinstance(target, str):
        return np.empty(0, dtype=np.int64)
    try:
        units = np.atleast_1d(np.asarray(target, dtype=np.int64)).ravel()
    except (TypeError, ValueError):
        return np.empty(0, dtype=np.int64)
    return units[(units >= 0) & (units < n_units)]


def trajectory_on_map(model: PrototypeModel, trajectory: Trajectory, *,
                      ax: matplotlib.axes.Axes | None = None, path: int | None = None,
                      colorbar: bool = True, title: str | None = None) -> matplotlib.axes.Axes:
    """A trajectory's best-matching-unit path drawn over the model's U-matrix.

    Consecutive repeats of a unit are drawn once; on a torus a step across the seam leaves the
    map at one edge and comes back at the opposite one. Circle: start, star: end, cross: the
    trajectory's target unit(s).

    Parameters
    ----------
    model : fitted PrototypeModel with a lattice or graph topology (the one that made the
        trajectory)
    trajectory : Trajectory with ``bmus`` of shape (n_points,) or (n_paths, n_points)
    ax : Axes to draw into; a new figure when None
    path : which path of a batch to draw; default all of them
    colorbar : add the U-matrix's colour bar
    title : first title line (default "<controller> path over the U-matrix")

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TopologyError
        The model has no topology.
    """
    if not isinstance(trajectory, Trajectory):
        raise ValidationError(
            f"trajectory must be a protoflow Trajectory (from a controller's run), got "
            f"{type(trajectory).__name__}"
        )
    _, topo = _check_model(model)
    bmus = np.asarray(trajectory.bmus, dtype=np.int64)
    if bmus.size and (bmus.min() < 0 or bmus.max() >= topo.n_units):
        raise ValidationError(
            f"the trajectory visits unit {int(bmus.max())}, but the model has {topo.n_units} "
            "units: draw it on the model that made it"
        )
    paths = bmus.reshape(-1, bmus.shape[-1]) if bmus.ndim == 2 else bmus[None]
    if path is not None:
        paths = paths[[check_int("path", path, minimum=0, maximum=len(paths) - 1)]]
    name = trajectory.controller or "trajectory"
    ax = umatrix(model, ax=ax, colorbar=colorbar,
                 title=f"{name} path over the U-matrix" if title is None else title)
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    xy = topo.coordinates()
    for k, seq in enumerate(paths):
        color = _COLORS[k % len(_COLORS)]
        for j, line in enumerate(_bmu_polylines(topo, seq)):
            ax.plot(line[:, 0], line[:, 1], "-", color=color, lw=1.8, alpha=0.9, zorder=5,
                    label=(name if len(paths) == 1 else f"{name} {k}") if j == 0 else None)
        ax.plot(*xy[seq[0]], "o", color=color, ms=7, mec="white", zorder=6,
                label="start" if k == 0 else None)
        ax.plot(*xy[seq[-1]], "*", color=color, ms=12, mec="white", zorder=6,
                label="end" if k == 0 else None)
    targets = _target_units(trajectory.target, topo.n_units)
    if len(targets):
        ax.plot(xy[targets, 0], xy[targets, 1], "X", color="#ff7f0e", ms=9, mec="k",
                zorder=7, ls="none", label="target")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    return ax


def _strip(ax: Any, images: np.ndarray, shape: tuple[int, ...], vrange: tuple[float, float],
           steps: Sequence[int], label: str | None) -> Any:
    """Decoded frames side by side in one Axes, each tick labelled with its step."""
    w = shape[1]
    mosaic = _mosaic(images, shape, 1, len(images), vrange)
    _show_mosaic(ax, mosaic, shape, vrange)
    ax.set_xticks([1 + k * (w + 1) + (w - 1) / 2 for k in range(len(images))],
                  [str(s) for s in steps], fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("step", fontsize=8)
    if label:
        ax.set_ylabel(label, fontsize=9)
    return ax


def decoded_strip(trajectory: Trajectory | Any, decoder: Any, image_shape: Sequence[int],
                  n: int = 10, *, path: int = 0, vrange: Sequence[float] | None = None,
                  ax: matplotlib.axes.Axes | None = None, label: str | None = None,
                  title: str | None = None) -> matplotlib.axes.Axes:
    """``n`` frames of a trajectory, evenly spaced from start to end, decoded to images.

    Parameters
    ----------
    trajectory : Trajectory, or its points as an array (n_points, n_features)
    decoder : an Encoder (its ``decode`` maps (n, n_features) to (n, height * width)), such a
        function, or None when the points are images already
    image_shape : (height, width) or (height, width, 3 or 4) of one image
    n : frames to show (fewer when the path is shorter)
    path : which path of a batch (points of shape (n_paths, n_points, n_features))
    vrange : (low, high) pixel values mapped to white and black; default the decoded range
    ax : Axes to draw into; a new figure when None
    label : y-axis label (default the trajectory's controller)
    title : title (default "Decoded trajectory (n_steps steps)")

    Returns
    -------
    matplotlib.axes.Axes
        One image of the frames side by side; the x ticks give each frame's step.
    """
    n = check_int("n", n, minimum=1)
    shape = _check_image_shape(image_shape)
    P = _path_points(trajectory, path)
    steps = np.unique(np.linspace(0, P.shape[0] - 1, n).round().astype(int)).tolist()
    images = _decode_images(_decoder_fn(decoder), P[steps], shape, "trajectory points")
    lo_hi = _value_range(images, vrange)
    ax = _new_axes(ax, (0.95 * len(steps) + 1.0, 1.7))
    if label is None and isinstance(trajectory, Trajectory):
        label = trajectory.controller or None
    _strip(ax, images, shape, lo_hi, steps, label)
    ax.set_title(f"Decoded trajectory ({P.shape[0] - 1} steps)" if title is None else title,
                 fontsize=10)
    return ax


def _draw_confidence(ax: Any, curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """curves: {name: (confidence (n,), predicted class (n,))}; the class is written where
    the prediction changes."""
    for c, (name, (conf, pred)) in enumerate(curves.items()):
        color = _COLORS[c % len(_COLORS)]
        conf, pred = np.asarray(conf), np.asarray(pred)
        ax.plot(np.arange(len(conf)), conf, color=color, lw=1.6, label=name)
        change = np.flatnonzero(np.r_[True, pred[1:] != pred[:-1]])
        for k in change:
            ax.annotate(str(pred[k]), (k, conf[k]), fontsize=7, color=color,
                        xytext=(0, 4), textcoords="offset points")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("step")
    ax.set_ylabel("confidence of predicted class")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def confidence_curves(trajectories: Trajectory | Any | Mapping[str, Any], classifier: Any, *,
                      decoder: Any = None, path: int = 0, ax: matplotlib.axes.Axes | None = None,
                      title: str | None = None) -> matplotlib.axes.Axes:
    """A classifier's confidence in its predicted class along one or more trajectories, the
    predicted class written where it changes.

    Parameters
    ----------
    trajectories : a Trajectory, its points (n_points, n_features), or a mapping
        {name: Trajectory or points} to compare several
    classifier : fitted, with ``predict_proba`` and ``classes_`` (scikit-learn style)
    decoder : applied to the points first (an Encoder or a function), for a classifier of the
        raw data; None: the classifier takes latent points
    path : which path of a batch
    ax : Axes to draw into; a new figure when None
    title : title (default "Classifier confidence along the path")

    Returns
    -------
    matplotlib.axes.Axes
        x: step, y: probability of the predicted class, in [0, 1].
    """
    if not hasattr(classifier, "predict_proba"):
        raise ConfigError(
            f"classifier must have predict_proba (a fitted scikit-learn classifier), got "
            f"{type(classifier).__name__}"
        )
    decode = _decoder_fn(decoder)
    if isinstance(trajectories, Mapping):
        items = dict(trajectories)
    else:
        name = trajectories.controller if isinstance(trajectories, Trajectory) else ""
        items = {name or "trajectory": trajectories}
    if not items:
        raise ConfigError("trajectories is empty; give at least one")
    classes = np.asarray(getattr(classifier, "classes_", None)) \
        if getattr(classifier, "classes_", None) is not None else None
    curves = {}
    for name, t in items.items():
        P = decode(_path_points(t, path, f"trajectory {name!r}"))
        proba = np.asarray(classifier.predict_proba(P))
        idx = proba.argmax(axis=1)
        curves[str(name)] = (proba.max(axis=1), classes[idx] if classes is not None else idx)
    ax = _new_axes(ax, (6.4, 3.4))
    _draw_confidence(ax, curves)
    ax.set_title("Classifier confidence along the path" if title is None else title, fontsize=10)
    return ax


def _draw_manifold(ax: Any, curves: Mapping[str, tuple[np.ndarray, int | None]]) -> Any:
    """curves: {name: (nearest-sample distance (n,), arrival step or None)}; an arrival step
    is marked with a dot and a dotted line, -1 names the path "never arrives", None marks
    nothing (unknown)."""
    for c, (name, (dist, arrival)) in enumerate(curves.items()):
        color = _COLORS[c % len(_COLORS)]
        dist = np.asarray(dist, dtype=float)
        never = arrival is not None and arrival < 0
        ax.plot(np.arange(len(dist)), dist, color=color, lw=1.6,
                label=f"{name} (never arrives)" if never else name)
        if arrival is not None and 0 <= arrival < len(dist):
            ax.axvline(arrival, color=color, ls=":", lw=1.0)
            ax.plot(arrival, dist[arrival], "o", color=color, ms=6, mec="white", zorder=5)
    ax.set_xlabel("step")
    ax.set_ylabel("distance to nearest sample")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def manifold_curves(trajectories: Trajectory | Any | Mapping[str, Any], X_reference: Any, *,
                    decoder: Any = None, target: Any = None, path: int = 0,
                    ax: matplotlib.axes.Axes | None = None,
                    title: str | None = None) -> matplotlib.axes.Axes:
    """Distance from each point of one or more paths to the nearest real sample, along the
    path, with the step where each path first reaches its target marked.

    The distances are `protoflow.metrics.nearest_sample_distance` (exact) of the decoded
    points; the arrival step is `protoflow.metrics.arrival_step` of the path's BMUs.

    Parameters
    ----------
    trajectories : a Trajectory, its points (n_points, n_features), or a mapping
        {name: Trajectory or points} to compare several controllers
    X_reference : array-like of shape (n_reference, n_data_features), real samples (e.g. the
        training data) in the space the decoder maps to
    decoder : applied to the points first (an Encoder or a function); None: the points are in
        the reference's space already
    target : unit or list of units for the arrival step; default each Trajectory's own target.
        Plain points (no BMUs) get no arrival mark.
    path : which path of a batch
    ax : Axes to draw into; a new figure when None
    title : title (default "Distance to the nearest sample along the path")

    Returns
    -------
    matplotlib.axes.Axes
        x: step, y: distance; a dot and a dotted line at each arrival step, "(never arrives)"
        in the legend for a path that does not reach its target.
    """
    from protoflow.metrics.manifold import arrival_step, nearest_sample_distance

    decode = _decoder_fn(decoder)
    if isinstance(trajectories, Mapping):
        items = dict(trajectories)
    else:
        name = trajectories.controller if isinstance(trajectories, Trajectory) else ""
        items = {name or "trajectory": trajectories}
    if not items:
        raise ConfigError("trajectories is empty; give at least one")
    curves: dict[str, tuple[np.ndarray, int | None]] = {}
    for name, t in items.items():
        P = _path_points(t, path, f"trajectory {name!r}")
        dist = nearest_sample_distance(decode(P), X_reference)
        arrival = None
        if isinstance(t, Trajectory) and (target is not None or t.target is not None):
            bmus = np.asarray(t.bmus)
            bmus = bmus[path] if bmus.ndim == 2 else bmus
            arrival = arrival_step(bmus, t.target if target is None else target)
        curves[str(name)] = (dist, arrival)
    ax = _new_axes(ax, (6.4, 3.4))
    _draw_manifold(ax, curves)
    ax.set_title("Distance to the nearest sample along the path" if title is None else title,
                 fontsize=10)
    return ax


def _projection(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top-2 principal axes (2, n_features) of Z, for 2-D drawings."""
    mean = Z.mean(axis=0)
    _, _, Vt = np.linalg.svd(Z - mean, full_matrices=False)
    axes = Vt[:2]
    if axes.shape[0] < 2:  # one-dimensional data
        axes = np.vstack([axes, np.zeros_like(axes)])
    return mean, axes


def latent_scatter(model: PrototypeModel, Z: Any, y: Any = None, *,
                   paths: Mapping[str, Any] | None = None,
                   ax: matplotlib.axes.Axes | None = None,
                   title: str | None = None) -> matplotlib.axes.Axes:
    """Data, prototypes (joined along the topology's edges) and optional paths on the data's
    first two principal axes.

    Parameters
    ----------
    model : fitted PrototypeModel (any topology)
    Z : array-like of shape (n_samples, n_features), latent points
    y : optional labels of shape (n_samples,), for the points' colours (tab10)
    paths : optional {name: Trajectory or points (n_points, n_features)}, first path of a batch
    ax : Axes to draw into; a new figure when None
    title : title (default "Latent space (first two principal axes)")

    Returns
    -------
    matplotlib.axes.Axes
        x: PC 1, y: PC 2; no colour bar.
    """
    W, topo = _check_model(model)
    Z = check_array(Z, name="Z", n_features=W.shape[1])
    if y is not None:
        y = np.asarray(y)
        if y.shape != (Z.shape[0],):
            raise ValidationError(f"y must have shape ({Z.shape[0]},), got {y.shape}")
    mean, axes = _projection(Z)
    P = (Z - mean) @ axes.T
    Q = (W - mean) @ axes.T
    ax = _new_axes(ax, (5.6, 4.6))
    ax.scatter(P[:, 0], P[:, 1], s=4, c=y if y is not None else "#bbbbbb",
               cmap="tab10" if y is not None else None, alpha=0.35, linewidths=0)
    if topo.has_topology:
        from matplotlib.collections import LineCollection

        pairs = [(i, j) for i in range(topo.n_units) for j in topo.neighbors(i) if j > i]
        if pairs:
            ax.add_collection(LineCollection(Q[np.array(pairs)], colors="#555555",
                                             linewidths=0.5, alpha=0.6))
    ax.scatter(Q[:, 0], Q[:, 1], s=10, c="black", label="prototypes")
    for c, (name, path) in enumerate((paths or {}).items()):
        R = (_path_points(path, 0, f"path {name!r}") - mean) @ axes.T
        ax.plot(R[:, 0], R[:, 1], "-", color=_COLORS[c % len(_COLORS)], lw=1.8, label=name)
        ax.plot(R[0, 0], R[0, 1], "o", color=_COLORS[c % len(_COLORS)])
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Latent space (first two principal axes)" if title is None else title)
    return ax
