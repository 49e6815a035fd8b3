"""Exact importers of codebooks trained by other libraries: MiniSom, somoclu, scikit-learn.

Each importer reads the fitted object's attributes (duck-typed: protoflow never imports
MiniSom, somoclu or scikit-learn) and returns a `~protoflow.PrototypeSet` whose prototypes are
the library's codebook, unchanged, and whose topology is the library's map. The same
functions are classmethods of `~protoflow.PrototypeSet` (``PrototypeSet.from_minisom(som)``).

Unit order (protoflow numbers lattice units row-major, ``unit = row * cols + col``):

- MiniSom ``MiniSom(x, y, ...)``, weights of shape (x, y, n_features): MiniSom's second index
  ``j`` runs along the rows of its hexagonal layout and its first index ``i`` along a row
  (``get_euclidean_coordinates`` puts neuron (i, j) at x = i, y = j * sqrt(3)/2), so
  protoflow's lattice has ``rows = y``, ``cols = x`` and **unit = j * x + i** (protoflow's
  (row, col) is MiniSom's (j, i)), for rectangular and hexagonal maps alike. `minisom_units`
  gives the table; ``minisom_units(som)[som.winner(z)]`` is the protoflow unit of a winner.
  MiniSom's own flat index (its ``_distance_from_weights`` columns) is ``i * y + j``.
- somoclu ``Somoclu(n_columns, n_rows, ...)``, codebook of shape (n_rows, n_columns, dim):
  **unit = row * n_columns + col**, somoclu's own flat order; its ``bmus`` rows are
  (col, row), so the unit of a BMU is ``bmus[:, 1] * n_columns + bmus[:, 0]``.
- scikit-learn k-means: unit k is cluster k (``cluster_centers_[k]``, label k).

Hexagonal offsets: MiniSom shifts its last hexagonal row (j = y - 1) and every second row
from it left by 1/2, so the rows shifted right relative to the others are the odd rows when
y is odd (protoflow's ``hex_offset="odd"``) and the even rows when y is even
(``hex_offset="even"``). somoclu draws even rows shifted right (``hex_offset="even"``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.distance import cdist

from protoflow.errors import ConfigError, ValidationError
from protoflow.topology import Graph, Lattice, NoTopology

if TYPE_CHECKING:
    from protoflow.prototypes import PrototypeSet

__all__ = ["from_minisom", "from_sklearn", "from_somoclu", "minisom_units"]


def _prototype_set(W: np.ndarray, topology: Any) -> PrototypeSet:
    from protoflow.prototypes import PrototypeSet

    return PrototypeSet(W, topology)


def _codebook(value: Any, what: str, ndim: int) -> np.ndarray:
    if value is None:
        raise ValidationError(f"{what} is None: train the map (or initialise it) before importing.")
    try:
        W = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic array types
        raise ValidationError(f"{what} is not an array: {exc}") from exc
    if W.ndim != ndim or not np.issubdtype(W.dtype, np.number):
        raise ValidationError(
            f"{what} must be a numeric array with {ndim} dimensions, got shape {W.shape} "
            f"and dtype {W.dtype}."
        )
    return W


def _minisom_shape(som: Any) -> tuple[int, int, int]:
    if not hasattr(som, "get_weights"):
        raise ConfigError(
            f"from_minisom expects a minisom.MiniSom, got {type(som).__name__} (no get_weights())."
        )
    W = _codebook(som.get_weights(), "MiniSom's get_weights()", 3)
    return W.shape  # type: ignore[return-value]


def minisom_units(som: Any) -> np.ndarray:
    """The protoflow unit of each MiniSom neuron, as `from_minisom` numbers them.

    Parameters
    ----------
    som : minisom.MiniSom
        Any MiniSom (only its weights' shape (x, y, n_features) is read).

    Returns
    -------
    ndarray of int64, shape (x, y)
        ``units[i, j] = j * x + i``; ``units[som.winner(z)]`` is the protoflow unit of
        MiniSom's winner, and ``units.ravel()`` maps MiniSom's flat index ``i * y + j``
        to protoflow's unit.
    """
    x, y, _ = _minisom_shape(som)
    i, j = np.meshgrid(np.arange(x), np.arange(y), indexing="ij")
    return (j * x + i).astype(np.int64)


def _warn_distance(library: str, name: str) -> None:
    warnings.warn(
        f"this {library} map finds winners with the {name!r} distance; protoflow's best-matching "
        "units, quantization error and inversion are Euclidean, so winners may differ.",
        UserWarning,
        stacklevel=3,
    )


def from_minisom(som: Any) -> PrototypeSet:
    """Import a MiniSom map (rectangular or hexagonal) exactly.

    Parameters
    ----------
    som : minisom.MiniSom
        A trained (or initialised) map; read through ``get_weights()`` (shape
        (x, y, n_features)) and its ``topology`` attribute ("rectangular" or "hexagonal").

    Returns
    -------
    PrototypeSet
        ``prototypes_`` of shape (x * y, n_features), unit ``j * x + i`` holding MiniSom's
        neuron (i, j) (see `minisom_units`); ``topology_`` is ``Lattice(y, x, "rect")`` or
        ``Lattice(y, x, "hex", hex_offset="odd" if y is odd else "even")``, so that its
        neighbours are exactly MiniSom's (rect: 4-neighbours, the units at grid distance 1;
        hex: the 6 units at Euclidean distance 1 in ``get_euclidean_coordinates()``) and
        ``coordinates()`` equal MiniSom's Euclidean coordinates (shifted right by 1/2 on hex).

    Raises
    ------
    ConfigError
        Not a MiniSom, an unknown topology, or a toroidal map (MiniSom 2.3.6 has none; a later
        version's wrap-around is not verified here).
    ValidationError
        The weights are not a numeric (x, y, n_features) array.

    Notes
    -----
    MiniSom's topographic error counts 8 neighbours on rectangular maps: compare it with
    ``topographic_error(model, Z, neighborhood="moore")``. On hexagonal maps it counts the 6
    units at distance 1, protoflow's ``neighborhood="lattice"``. A map with a non-Euclidean
    ``activation_distance`` is imported with a warning: protoflow's winners are Euclidean.
    MiniSom 2.3.6's ``distance_map`` always treats even j rows as the ones shifted left,
    which contradicts its own coordinates when y is even.
    """
    x, y, _ = _minisom_shape(som)
    W = np.asarray(som.get_weights())
    topology = getattr(som, "topology", "rectangular")
    for flag in ("toroidal", "_toroidal"):
        if bool(getattr(som, flag, False)):
            raise ConfigError(
                "from_minisom: this MiniSom map is toroidal; MiniSom 2.3.6 has no torus and its "
                "wrap-around convention is not known to protoflow. Import the weights by hand "
                "with PrototypeSet(W, Lattice(..., toroidal=True)) if you know it matches."
            )
    if topology == "rectangular":
        lattice = Lattice(y, x, "rect")
    elif topology == "hexagonal":
        lattice = Lattice(y, x, "hex", hex_offset="odd" if y % 2 else "even")
    else:
        raise ConfigError(
            f"from_minisom: MiniSom topology {topology!r} is not supported; expected "
            "'rectangular' or 'hexagonal'."
        )
    distance = getattr(som, "_activation_distance", None)
    name = getattr(distance, "__name__", "_euclidean_distance")
    if name != "_euclidean_distance":
        _warn_distance("MiniSom", name.strip("_").removesuffix("_distance"))
    # (x, y, f) -> (y, x, f) -> row-major: unit j * x + i
    return _prototype_set(W.transpose(1, 0, 2).reshape(x * y, -1), lattice)


def _somoclu_kernel_graph(rows: int, cols: int, toroidal: bool, coordinates: np.ndarray) -> Graph:
    """somoclu 1.7.6's hexagonal neighbours: the units its C++ kernel puts at map distance <= 1."""
    y, x = np.divmod(np.arange(rows * cols), cols)
    xd = np.abs(x[:, None] - x[None, :])
    yd = np.abs(y[:, None] - y[None, :])
    y1 = np.minimum(y[:, None], y[None, :])
    if toroidal:
        xd = np.minimum(xd, cols - xd)
        yd = np.minimum(yd, rows - yd)
    # unsigned arithmetic in the kernel: xdist += (y1 odd ? -0.5 : +0.5) truncates to
    # max(xdist - 1, 0) or xdist
    odd = (yd % 2 == 1) & (y1 % 2 == 1)
    xd = np.where(odd, np.maximum(xd - 1, 0), xd)
    d2 = xd**2 + 0.75 * yd**2
    i, j = np.nonzero(np.triu(d2 <= 1.0, k=1))
    return Graph(rows * cols, np.column_stack([i, j]), coordinates)


def from_somoclu(som: Any, *, neighbors: str = "lattice") -> PrototypeSet:
    """Import a somoclu map (rectangular or hexagonal, planar or toroidal) exactly.

    Parameters
    ----------
    som : somoclu.Somoclu
        A trained map: ``codebook`` of shape (n_rows, n_columns, dim), read with its
        ``_n_rows``, ``_n_columns``, ``_grid_type`` ("rectangular" | "hexagonal") and
        ``_map_type`` ("planar" | "toroid").
    neighbors : "lattice" (default) | "kernel"
        For hexagonal maps only. "lattice": ``Lattice(n_rows, n_columns, "hex",
        hex_offset="even")``, the hexagonal layout somoclu draws (even rows shifted right).
        "kernel": a `~protoflow.Graph` joining the units that somoclu 1.7.6's training kernel
        puts at map distance <= 1; its hexagonal distance truncates half-units in unsigned
        arithmetic, so those neighbours are not a hexagonal lattice (3 neighbours in the row
        below an odd row, 1 in the row below an even row), drawn at the "even" layout.

    Returns
    -------
    PrototypeSet
        ``prototypes_`` of shape (n_rows * n_columns, dim) with unit ``row * n_columns + col``
        (somoclu's own order); ``topology_`` a `~protoflow.Lattice` (``toroidal`` for
        "toroid") or, with ``neighbors="kernel"`` on a hexagonal map, a `~protoflow.Graph`.

    Raises
    ------
    ConfigError
        Not a somoclu map, an unknown grid or map type, ``neighbors`` unknown, or a hexagonal
        torus with an odd number of rows as a lattice (use ``neighbors="kernel"``).
    ValidationError
        The map is untrained (no codebook) or the codebook has the wrong shape.

    Notes
    -----
    On rectangular maps somoclu's neighbours at map distance 1 are protoflow's 4-neighbours;
    its U-matrix averages over units within distance 1.5, i.e. the 8-neighbourhood.
    """
    if neighbors not in ("lattice", "kernel"):
        raise ConfigError(
            f"parameter 'neighbors' must be 'lattice' or 'kernel', got {neighbors!r}."
        )
    try:
        rows, cols = int(som._n_rows), int(som._n_columns)
        grid, maptype = som._grid_type, som._map_type
    except AttributeError as exc:
        raise ConfigError(
            f"from_somoclu expects a somoclu.Somoclu, got {type(som).__name__} ({exc})."
        ) from exc
    W = _codebook(som.codebook, "somoclu's codebook", 3)
    if W.shape[:2] != (rows, cols):
        raise ValidationError(
            f"somoclu's codebook has shape {W.shape}, expected ({rows}, {cols}, dim) "
            "(n_rows, n_columns, dim)."
        )
    if maptype not in ("planar", "toroid"):
        raise ConfigError(f"from_somoclu: map type {maptype!r} is not 'planar' or 'toroid'.")
    toroidal = maptype == "toroid"
    if getattr(som, "_vect_distance", "euclidean") != "euclidean":
        _warn_distance("somoclu", str(som._vect_distance))
    if grid == "rectangular":
        topology: Any = Lattice(rows, cols, "rect", toroidal)
    elif grid == "hexagonal":
        if neighbors == "kernel":
            coords = Lattice(rows, cols, "hex", hex_offset="even").coordinates()
            topology = _somoclu_kernel_graph(rows, cols, toroidal, coords)
        elif toroidal and rows % 2:
            raise ConfigError(
                f"from_somoclu: a hexagonal torus with an odd number of rows ({rows}) is not a "
                "hexagonal lattice (the row offsets do not line up across the seam). Use "
                "neighbors='kernel' for somoclu's own neighbours as a graph."
            )
        else:
            topology = Lattice(rows, cols, "hex", toroidal, hex_offset="even")
    else:
        raise ConfigError(
            f"from_somoclu: grid type {grid!r} is not 'rectangular' or 'hexagonal'."
        )
    return _prototype_set(W.reshape(rows * cols, -1), topology)


def from_sklearn(kmeans: Any, topology: str = "none", k: int = 4) -> PrototypeSet:
    """Import a fitted scikit-learn ``KMeans`` or ``MiniBatchKMeans``.

    Parameters
    ----------
    kmeans : fitted estimator with ``cluster_centers_`` of shape (n_clusters, n_features).
    topology : "none" (default) | "knn"
        "none": `~protoflow.NoTopology` (k-means has no map). "knn": a `~protoflow.Graph`
        joining each centre to its `k` nearest other centres (Euclidean; ties by index),
        symmetrised, drawn with its spectral layout.
    k : int
        Neighbours per centre for "knn", 1 <= k < n_clusters.

    Returns
    -------
    PrototypeSet
        ``prototypes_`` = ``cluster_centers_`` (unit k is cluster k, so protoflow's
        best-matching units equal ``kmeans.predict``, up to exact ties).

    Raises
    ------
    ConfigError
        Not fitted (no ``cluster_centers_``), an unknown `topology`, or `k` out of range.
    """
    centers = getattr(kmeans, "cluster_centers_", None)
    if centers is None:
        raise ConfigError(
            f"from_sklearn expects a fitted KMeans / MiniBatchKMeans; {type(kmeans).__name__} "
            "has no cluster_centers_ (call fit first)."
        )
    W = _codebook(centers, "cluster_centers_", 2)
    n = W.shape[0]
    if topology == "none":
        return _prototype_set(W, NoTopology(n))
    if topology != "knn":
        raise ConfigError(f"parameter 'topology' must be 'none' or 'knn', got {topology!r}.")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n:
        raise ConfigError(f"parameter 'k' must be an integer in 1..{n - 1}, got {k!r}.")
    d = cdist(W.astype(np.float64), W.astype(np.float64))
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    edges = np.column_stack([np.repeat(np.arange(n), k), nearest.ravel()])
    return _prototype_set(W, Graph(n, edges))
