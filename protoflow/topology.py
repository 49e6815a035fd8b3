"""Which prototypes neighbour each other: lattices, graphs, or nothing.

Every consumer (MUSIC's preservation rings, topographic error, the U-matrix, trajectory metrics)
asks the same questions of a `Topology`: the map-distance matrix, the neighbours of a unit, its
k-ring, whether two units are adjacent, and where to draw each unit.

Lattice units are numbered row-major: ``unit = row * cols + col``. Hexagonal lattices shift
every other row right by half a unit, so each unit has six neighbours: by default the odd rows
("odd-r", ``hex_offset="odd"``), or the even rows (``hex_offset="even"``, "even-r"; MiniSom's
layout for an even number of hexagonal rows, and somoclu's drawing).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import attrs
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from protoflow._arrays import arrays_equal, readonly
from protoflow.errors import TopologyError
from protoflow.validation import check_memory


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


class Topology:
    """Base class: the questions every topology answers. Subclasses implement `distances`."""

    family: ClassVar[str] = "abstract"
    has_topology: ClassVar[bool] = True
    n_units: int

    def distances(self) -> np.ndarray:
        """Map distances between all units, shape (n_units, n_units), read-only."""
        raise NotImplementedError

    def _check_unit(self, i: Any) -> int:
        try:
            idx = int(i)
        except (TypeError, ValueError) as exc:
            raise TopologyError(f"unit index must be an integer, got {i!r}") from exc
        if idx != i or not 0 <= idx < self.n_units:
            raise TopologyError(f"unit index {i!r} out of range for {self.n_units} units")
        return idx

    def neighbors(self, i: int) -> np.ndarray:
        """Units at map distance 1 from unit `i`, sorted, shape (n_neighbors,)."""
        return self.ring(i, 1)

    def ring(self, i: int, radius: int, *, include_self: bool = False) -> np.ndarray:
        """The k-ring of unit `i`: all units within map distance 1..radius (0..radius with
        `include_self`), sorted ascending."""
        i = self._check_unit(i)
        if radius < 0:
            raise TopologyError(f"ring radius must be >= 0, got {radius}")
        d = self.distances()[i]
        lo = 0 if include_self else 1
        return np.flatnonzero((d >= lo) & (d <= radius))

    def adjacent(self, i: Any, j: Any) -> Any:
        """Whether units i and j are neighbours (map distance 1). Broadcasts over arrays."""
        d = self.distances()[np.asarray(i), np.asarray(j)]
        out = d == 1
        return bool(out) if np.ndim(out) == 0 else out

    def coordinates(self) -> np.ndarray:
        """2-D positions for drawing each unit, shape (n_units, 2)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (see `topology_from_dict`)."""
        raise NotImplementedError


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise TopologyError(f"{name} must be a positive integer, got {value!r}")


@attrs.frozen
class Lattice(Topology):
    """A rows x cols grid, rectangular (4 neighbours) or hexagonal (6), optionally a torus.

    Map distance: Manhattan steps on "rect", hexagonal steps on "hex", wrapping on a torus.
    A hexagonal torus needs an even number of rows (so the row offsets line up across the seam).

    Parameters
    ----------
    rows, cols : int
        Grid size; ``n_units = rows * cols``, numbered row-major (``unit = row * cols + col``).
    kind : "rect" | "hex"
        4 neighbours, or 6.
    toroidal : bool
        Wrap both axes.
    hex_offset : "odd" | "even"
        Which rows of a hexagonal lattice are shifted right by half a unit: "odd" (default, the
        "odd-r" layout: rows 1, 3, ...) or "even" ("even-r": rows 0, 2, ...). On "even" the
        neighbours of unit (r, c) in the rows above and below are columns c and c + 1 when r is
        even, c - 1 and c when r is odd ("odd" is the mirror image). Only for ``kind="hex"``.
    """

    rows: int
    cols: int
    kind: str = "rect"
    toroidal: bool = False
    hex_offset: str = "odd"

    family: ClassVar[str] = "lattice"

    def __attrs_post_init__(self) -> None:
        _check_positive_int("rows", self.rows)
        _check_positive_int("cols", self.cols)
        if self.kind not in ("rect", "hex"):
            raise TopologyError(f"lattice kind must be 'rect' or 'hex', got {self.kind!r}")
        if self.hex_offset not in ("odd", "even"):
            raise TopologyError(f"hex_offset must be 'odd' or 'even', got {self.hex_offset!r}")
        if self.kind == "rect" and self.hex_offset != "odd":
            raise TopologyError(
                "hex_offset applies to hexagonal lattices only (kind='hex'); a rectangular "
                "lattice has no row offset. Leave hex_offset at its default 'odd'."
            )
        if self.kind == "hex" and self.toroidal and self.rows % 2:
            raise TopologyError(
                f"a hexagonal torus needs an even number of rows (got rows={self.rows}): "
                "the offsets of the first and last rows only match when rows is even. "
                "Use rows={} or {}.".format(self.rows - 1 or 2, self.rows + 1)
            )

    @property
    def n_units(self) -> int:  # type: ignore[override]
        """``rows * cols``."""
        return self.rows * self.cols

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (self.rows, self.cols)

    def grid_position(self, unit: Any) -> tuple[Any, Any]:
        """(row, col) of unit indices (row-major numbering)."""
        return np.divmod(np.asarray(unit), self.cols)

    def _axial(self) -> tuple[np.ndarray, np.ndarray]:
        r, c = np.divmod(np.arange(self.n_units), self.cols)
        if self.kind == "rect":
            return r, c
        if self.hex_offset == "even":
            return r, c - (r + (r & 1)) // 2  # even-r offset -> axial (q, r)
        return r, c - (r - (r & 1)) // 2  # odd-r offset -> axial (q, r)

    @functools.cached_property
    def _distances(self) -> np.ndarray:
        if self.kind == "rect":
            # Manhattan distance is separable: the row hops (rows, rows) and the column hops
            # (cols, cols), each wrapped on its own on a torus, summed by one broadcast straight
            # into the (n_units, n_units) result (units are row-major: r * cols + c), with no
            # temporary of that size (each costs page faults on a fresh map)
            hops = []
            for n in (self.rows, self.cols):
                h = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
                hops.append(np.minimum(h, n - h) if self.toroidal else h)
            out = np.empty((self.rows, self.cols, self.rows, self.cols), dtype=np.float64)
            np.add(hops[0][:, None, :, None], hops[1][None, :, None, :], out=out)
            return _readonly(out.reshape(self.n_units, self.n_units))
        r, q = self._axial()
        r, q = r.astype(np.int32), q.astype(np.int32)  # half the memory traffic of int64
        dr = r[None, :] - r[:, None]
        dq = q[None, :] - q[:, None]
        shifts = [(0, 0)]
        if self.toroidal:
            shifts = [(s, t) for s in (-1, 0, 1) for t in (-1, 0, 1)]
        # hex distance (|dq| + |dr| + |dq + dr|) / 2, through three reused buffers
        rr, qq, d = np.empty_like(dr), np.empty_like(dq), np.empty_like(dr)
        best = None
        for s, t in shifts:
            np.add(dr, s * self.rows, out=rr)
            np.add(dq, t * self.cols - s * (self.rows // 2), out=qq)
            np.abs(np.add(qq, rr, out=d), out=d)
            d += np.abs(qq, out=qq)
            d += np.abs(rr, out=rr)
            d //= 2
            best = d.copy() if best is None else np.minimum(best, d, out=best)
        assert best is not None
        return _readonly(best.astype(np.float64))

    def distances(self) -> np.ndarray:
        # the (n_units, n_units) table and a few temporaries of that size while building it
        check_memory(5 * 8.0 * self.n_units**2, f"the map distances of a {self.rows}x{self.cols} "
                     "lattice", hint="Use a smaller map (rows, cols).")
        return self._distances

    def coordinates(self) -> np.ndarray:
        """(x, y) = (col, row) on "rect"; on "hex" the shifted rows (odd rows, or even rows with
        ``hex_offset="even"``) move right by 1/2 and rows are spaced sqrt(3)/2, so neighbours are
        exactly 1 apart. Shape (n_units, 2)."""
        r, c = np.divmod(np.arange(self.n_units), self.cols)
        if self.kind == "rect":
            return np.column_stack([c, r]).astype(np.float64)
        shifted = (r % 2) if self.hex_offset == "odd" else 1 - (r % 2)
        return np.column_stack([c + 0.5 * shifted, r * np.sqrt(3) / 2]).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "lattice",
            "rows": int(self.rows),
            "cols": int(self.cols),
            "kind": self.kind,
            "toroidal": bool(self.toroidal),
        }
        if self.hex_offset != "odd":  # only when non-default: older files and readers unchanged
            out["hex_offset"] = self.hex_offset
        return out


def _edges_converter(value: Any) -> np.ndarray:
    arr = np.asarray(value if value is not None and len(value) else np.empty((0, 2)))
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise TopologyError("graph edges must be pairs of integer unit indices")
    arr = arr.astype(np.int64).reshape(-1, 2) if arr.size else np.empty((0, 2), dtype=np.int64)
    # Canonical form: (low, high), unique, sorted, so equal graphs compare equal.
    arr = np.unique(np.sort(arr, axis=1), axis=0)
    return readonly(arr)


@attrs.frozen
class Graph(Topology):
    """An undirected graph over units (e.g. Growing Neural Gas's edges).

    Map distance is the hop count, ``inf`` between disconnected units.

    Parameters
    ----------
    n_units : number of units
    edges : int array of shape (n_edges, 2)
    positions : optional (n_units, 2) drawing positions; a spectral layout otherwise
    """

    n_units: int
    edges: np.ndarray = attrs.field(converter=_edges_converter, eq=attrs.cmp_using(eq=arrays_equal))
    positions: np.ndarray | None = attrs.field(
        default=None,
        converter=lambda v: None if v is None else readonly(np.asarray(v, dtype=np.float64)),
        eq=attrs.cmp_using(eq=lambda a, b: (a is None and b is None) or (a is not None and b is not None and arrays_equal(a, b))),
    )

    family: ClassVar[str] = "graph"

    def __repr__(self) -> str:
        """``Graph(n_units=40, n_edges=57)`` (plus ``positions=(40, 2)`` when given): the
        sizes, not the edge array (``to_dict()`` has it all)."""
        extra = "" if self.positions is None else f", positions={tuple(self.positions.shape)}"
        return f"Graph(n_units={self.n_units}, n_edges={len(self.edges)}{extra})"

    def __attrs_post_init__(self) -> None:
        _check_positive_int("n_units", self.n_units)
        e = self.edges
        if e.size and (e.min() < 0 or e.max() >= self.n_units):
            raise TopologyError(
                f"graph edges refer to units outside 0..{self.n_units - 1} "
                f"(min {e.min()}, max {e.max()})"
            )
        if e.size and np.any(e[:, 0] == e[:, 1]):
            raise TopologyError("graph edges may not join a unit to itself")
        if self.positions is not None and self.positions.shape != (self.n_units, 2):
            raise TopologyError(
                f"positions must have shape ({self.n_units}, 2), got {self.positions.shape}"
            )

    @functools.cached_property
    def _adjacency(self) -> csr_matrix:
        e = self.edges
        data = np.ones(2 * len(e))
        rows = np.concatenate([e[:, 0], e[:, 1]])
        cols = np.concatenate([e[:, 1], e[:, 0]])
        return csr_matrix((data, (rows, cols)), shape=(self.n_units, self.n_units))

    @functools.cached_property
    def _distances(self) -> np.ndarray:
        d = shortest_path(self._adjacency, method="D", unweighted=True, directed=False)
        return _readonly(np.asarray(d, dtype=np.float64))

    def distances(self) -> np.ndarray:
        check_memory(2 * 8.0 * self.n_units**2, f"the distances of a {self.n_units}-unit graph",
                     hint="Use fewer units.")
        return self._distances

    def neighbors(self, i: int) -> np.ndarray:
        i = self._check_unit(i)
        adj = self._adjacency
        return np.sort(adj.indices[adj.indptr[i] : adj.indptr[i + 1]]).astype(np.int64)

    def coordinates(self) -> np.ndarray:
        if self.positions is not None:
            return np.array(self.positions)
        return _spectral_layout(self._adjacency.toarray())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "graph",
            "n_units": int(self.n_units),
            "edges": self.edges.tolist(),
        }
        if self.positions is not None:
            out["positions"] = self.positions.tolist()
        return out


def _spectral_layout(adj: np.ndarray) -> np.ndarray:
    """Deterministic 2-D layout from the graph Laplacian's 2nd and 3rd eigenvectors."""
    n = adj.shape[0]
    if n < 3:
        return np.column_stack([np.arange(n, dtype=np.float64), np.zeros(n)])
    lap = np.diag(adj.sum(axis=1)) - adj
    _, vecs = np.linalg.eigh(lap + 1e-9 * np.eye(n))
    xy = vecs[:, 1:3].copy()
    for k in range(2):  # fix the arbitrary eigenvector sign
        j = np.argmax(np.abs(xy[:, k]))
        if xy[j, k] < 0:
            xy[:, k] *= -1
    return xy


@attrs.frozen
class NoTopology(Topology):
    """No neighbourhood structure (k-means). Map-distance questions raise `TopologyError`;
    callers fall back to nearest prototypes in latent space."""

    n_units: int

    family: ClassVar[str] = "none"
    has_topology: ClassVar[bool] = False

    def __attrs_post_init__(self) -> None:
        _check_positive_int("n_units", self.n_units)

    def distances(self) -> np.ndarray:
        raise TopologyError(
            "this model has no topology (NoTopology), so map distances, rings and adjacency are "
            "undefined. Use nearest prototypes in latent space instead (e.g. preserve='knn'), or "
            "a model with a lattice or graph."
        )

    def coordinates(self) -> np.ndarray:
        """Units laid out on a near-square grid, for drawing only."""
        cols = int(np.ceil(np.sqrt(self.n_units)))
        r, c = np.divmod(np.arange(self.n_units), cols)
        return np.column_stack([c, r]).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "none", "n_units": int(self.n_units)}


def topology_from_dict(data: dict[str, Any]) -> Topology:
    """Rebuild a topology from `Topology.to_dict()` output."""
    kind = data.get("type")
    try:
        if kind == "lattice":
            return Lattice(
                int(data["rows"]),
                int(data["cols"]),
                str(data["kind"]),
                bool(data["toroidal"]),
                hex_offset=str(data.get("hex_offset", "odd")),
            )
        if kind == "graph":
            return Graph(int(data["n_units"]), data["edges"], data.get("positions"))
        if kind == "none":
            return NoTopology(int(data["n_units"]))
    except KeyError as exc:
        raise TopologyError(f"topology description lacks the key {exc}") from exc
    raise TopologyError(f"unknown topology type {kind!r}; expected 'lattice', 'graph' or 'none'")
