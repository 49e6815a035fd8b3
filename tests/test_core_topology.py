"""Topology: map distances against breadth-first search on an independently defined
neighbour relation, for every lattice kind, wrapped and not."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoflow import Graph, Lattice, NoTopology, TopologyError
from protoflow.topology import topology_from_dict


def _lattice_neighbours(rows: int, cols: int, kind: str, toroidal: bool, unit: int) -> set[int]:
    """Neighbours from first principles (no distance formula): rect 4, hex odd-r 6."""
    r, c = divmod(unit, cols)
    if kind == "rect":
        offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    elif r % 2 == 0:
        offsets = [(0, -1), (0, 1), (-1, -1), (-1, 0), (1, -1), (1, 0)]
    else:
        offsets = [(0, -1), (0, 1), (-1, 0), (-1, 1), (1, 0), (1, 1)]
    out = set()
    for dr, dc in offsets:
        rr, cc = r + dr, c + dc
        if toroidal:
            rr, cc = rr % rows, cc % cols
        elif not (0 <= rr < rows and 0 <= cc < cols):
            continue
        if rr * cols + cc != unit:
            out.add(rr * cols + cc)
    return out


def _bfs(n: int, neighbours, source: int) -> np.ndarray:
    dist = np.full(n, np.inf)
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in neighbours(u):
            if dist[v] == np.inf:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    kind=st.sampled_from(["rect", "hex"]),
    toroidal=st.booleans(),
)
def test_lattice_distances_equal_bfs(rows: int, cols: int, kind: str, toroidal: bool) -> None:
    if kind == "hex" and toroidal and rows % 2:
        rows += 1
    lat = Lattice(rows, cols, kind, toroidal)
    D = lat.distances()
    for s in range(lat.n_units):
        expected = _bfs(lat.n_units, lambda u: _lattice_neighbours(rows, cols, kind, toroidal, u), s)
        np.testing.assert_array_equal(D[s], expected, err_msg=f"unit {s} of {lat}")


@pytest.mark.parametrize("kind,toroidal", [("rect", False), ("rect", True), ("hex", False), ("hex", True)])
def test_neighbours_and_adjacency_agree(kind: str, toroidal: bool) -> None:
    lat = Lattice(6, 5, kind, toroidal)
    for u in range(lat.n_units):
        expected = sorted(_lattice_neighbours(6, 5, kind, toroidal, u))
        assert lat.neighbors(u).tolist() == expected
        assert all(lat.adjacent(u, v) for v in expected)
    interior = 2 * 5 + 2
    assert len(lat.neighbors(interior)) == (4 if kind == "rect" else 6)


def test_row_major_numbering_and_coordinates() -> None:
    lat = Lattice(3, 4)
    assert lat.grid_position(6) == (1, 2)
    np.testing.assert_array_equal(lat.coordinates()[6], [2, 1])
    hexl = Lattice(3, 4, "hex")
    assert hexl.coordinates()[4, 0] == pytest.approx(0.5)  # odd rows shifted by half a unit


def test_ring_is_a_ball_without_the_centre() -> None:
    lat = Lattice(7, 7)
    centre = 3 * 7 + 3
    assert len(lat.ring(centre, 1)) == 4
    assert len(lat.ring(centre, 2)) == 4 + 8
    assert centre in lat.ring(centre, 2, include_self=True)
    assert centre not in lat.ring(centre, 2)


def test_torus_wraps() -> None:
    lat = Lattice(4, 6, toroidal=True)
    assert lat.adjacent(0, 5) and lat.adjacent(0, 18)
    assert lat.distances().max() == 2 + 3
    assert not Lattice(4, 6).adjacent(0, 5)


def test_hex_torus_needs_even_rows() -> None:
    with pytest.raises(TopologyError, match="even number of rows"):
        Lattice(5, 4, "hex", toroidal=True)


@pytest.mark.parametrize(
    "args", [(0, 3), (3, 0), (2.5, 3), (3, 3, "square")]
)
def test_bad_lattices(args) -> None:
    with pytest.raises(TopologyError):
        Lattice(*args)


def test_graph_hops_and_disconnection() -> None:
    g = Graph(5, [(0, 1), (1, 2), (3, 4)])
    D = g.distances()
    assert D[0, 2] == 2 and D[3, 4] == 1 and np.isinf(D[0, 4])
    assert g.neighbors(1).tolist() == [0, 2]
    assert g.ring(0, 5).tolist() == [1, 2]
    assert g.adjacent(2, 1) and not g.adjacent(0, 2)
    assert g == Graph(5, [(1, 0), (2, 1), (4, 3), (0, 1)])  # canonical, order-free
    assert g.coordinates().shape == (5, 2)


@pytest.mark.parametrize("edges", [[(0, 5)], [(1, 1)], [(-1, 0)]])
def test_bad_graphs(edges) -> None:
    with pytest.raises(TopologyError):
        Graph(5, edges)


def test_no_topology_refuses_map_questions() -> None:
    t = NoTopology(7)
    assert not t.has_topology
    with pytest.raises(TopologyError, match="knn"):
        t.distances()
    with pytest.raises(TopologyError):
        t.neighbors(0)
    assert t.coordinates().shape == (7, 2)


@pytest.mark.parametrize(
    "topo",
    [Lattice(4, 6, "hex", True), Lattice(2, 3), Graph(4, [(0, 1), (2, 3)], positions=np.zeros((4, 2))), NoTopology(3)],
)
def test_dict_roundtrip(topo) -> None:
    assert topology_from_dict(topo.to_dict()) == topo


def test_distance_matrix_is_read_only() -> None:
    D = Lattice(3, 3).distances()
    with pytest.raises(ValueError):
        D[0, 0] = 5


# -- hexagonal row offsets: "odd" (default, odd-r) and "even" (even-r) ---------------------------


def _even_r_neighbours(rows: int, cols: int, toroidal: bool, unit: int) -> set[int]:
    """Neighbours from first principles for the even-r layout (even rows shifted right)."""
    r, c = divmod(unit, cols)
    if r % 2 == 0:
        offsets = [(0, -1), (0, 1), (-1, 0), (-1, 1), (1, 0), (1, 1)]
    else:
        offsets = [(0, -1), (0, 1), (-1, -1), (-1, 0), (1, -1), (1, 0)]
    out = set()
    for dr, dc in offsets:
        rr, cc = r + dr, c + dc
        if toroidal:
            rr, cc = rr % rows, cc % cols
        elif not (0 <= rr < rows and 0 <= cc < cols):
            continue
        if rr * cols + cc != unit:
            out.add(rr * cols + cc)
    return out


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 8), cols=st.integers(1, 8), toroidal=st.booleans())
def test_even_offset_distances_equal_bfs(rows: int, cols: int, toroidal: bool) -> None:
    if toroidal and rows % 2:
        rows += 1
    lat = Lattice(rows, cols, "hex", toroidal, hex_offset="even")
    D = lat.distances()
    for s in range(lat.n_units):
        expected = _bfs(lat.n_units, lambda u: _even_r_neighbours(rows, cols, toroidal, u), s)
        np.testing.assert_array_equal(D[s], expected, err_msg=f"unit {s} of {lat}")


@pytest.mark.parametrize("rows,cols", [(5, 4), (6, 7)])
def test_even_offset_is_the_mirror_of_odd(rows: int, cols: int) -> None:
    odd = Lattice(rows, cols, "hex").distances()
    even = Lattice(rows, cols, "hex", hex_offset="even").distances()
    r, c = np.divmod(np.arange(rows * cols), cols)
    mirror = r * cols + (cols - 1 - c)  # reflect each row left-right
    np.testing.assert_array_equal(even, odd[np.ix_(mirror, mirror)])
    assert not np.array_equal(even, odd)


@pytest.mark.parametrize("offset", ["odd", "even"])
def test_hex_coordinates_put_neighbours_at_distance_one(offset: str) -> None:
    lat = Lattice(6, 5, "hex", hex_offset=offset)
    xy = lat.coordinates()
    E = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.testing.assert_array_equal(np.isclose(E, 1.0), lat.distances() == 1)
    shifted_rows = {"odd": 1, "even": 0}[offset]
    assert xy[shifted_rows * 5, 0] == pytest.approx(0.5)
    assert xy[(1 - shifted_rows) * 5, 0] == 0.0


def test_hex_offset_equality_hash_and_dict() -> None:
    even = Lattice(4, 6, "hex", True, hex_offset="even")
    assert even == Lattice(4, 6, "hex", True, hex_offset="even")
    assert hash(even) == hash(Lattice(4, 6, "hex", True, hex_offset="even"))
    assert even != Lattice(4, 6, "hex", True)
    assert Lattice(4, 6, "hex") == Lattice(4, 6, "hex", hex_offset="odd")
    assert even.to_dict()["hex_offset"] == "even"
    assert topology_from_dict(even.to_dict()) == even
    # the default writes no new key, and a description without it loads as odd-r
    assert "hex_offset" not in Lattice(4, 6, "hex").to_dict()
    old = {"type": "lattice", "rows": 4, "cols": 6, "kind": "hex", "toroidal": False}
    assert topology_from_dict(old) == Lattice(4, 6, "hex")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kind": "hex", "hex_offset": "left"}, "hex_offset"),
        ({"kind": "rect", "hex_offset": "even"}, "hexagonal lattices only"),
        ({"kind": "hex", "toroidal": True, "hex_offset": "even"}, "even number of rows"),
    ],
)
def test_bad_hex_offsets(kwargs, match) -> None:
    with pytest.raises(TopologyError, match=match):
        Lattice(5, 4, **kwargs)
