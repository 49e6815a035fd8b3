"""The GNG state and its sample-by-sample update (Fritzke 1995, steps 1-9).

GNG is sequential: every sample may change the graph, so the loop stays per sample. On the
benchmark workload (10 features, 400 units, about 22 edges per unit) a step does little
arithmetic, and its cost is the number of NumPy calls (roughly a microsecond each) and of
Python operations, so the loop is written to make few of them (profiled; docs/benchmarks.md,
"GNG", has the before/after timings):

* Units live in preallocated slots (``max_units`` columns) with a high-water mark ``hw``.
  Prototypes and squared norms share one array ``WaT = [W | ||w||^2]^T`` of shape
  (n_features + 1, max_units) (``W`` and ``w2`` are views of it) and each sample is stored as
  ``[-2x | 1]``, so the two-nearest search is one vector-matrix product ``x @ WaT`` giving
  ``||w||^2 - 2 w.x`` (``||x||^2`` is common to all units and only added back for the
  winner's error) and two argmins. Once at least half the slots are in use the product runs
  over all of them: on the contiguous array that is cheaper than over the first ``hw``
  columns (a strided block); before, over the first ``hw``, so that a large ``max_units``
  that is never reached costs nothing. Inactive slots have ``||w||^2 = inf``, so they never
  win a distance comparison, and error ``-inf``, so they never win an argmax. Slot ids stay
  global throughout (indexing a subset and using its positions as slot ids is the classic bug
  of vectorised GNG ports).
* The winner and its neighbours move as one gathered (n_features + 1, k) block of ``WaT``
  columns: one ``w + rate * (x - w)`` with per-column rates (``eps_b`` for the winner,
  ``eps_n`` for its neighbours; 1 in the norm row, where x holds 0), their norms recomputed by
  one ``ones @ block**2`` into the block, one ``put`` back. x is gathered to the block's shape,
  since same-shape contiguous operands take NumPy's fast loops (a broadcast operand costs
  about a microsecond more per call); the rates, the gather pattern and the work buffers are
  built once per block size (`_Blocks`), so a step allocates no arrays. The flat indices of
  "a unit and its neighbours" are cached per unit and dropped when that unit's edges change (a
  new edge, an expiry, an insertion).
* Edge ages are not stored but derived: an edge ages by one exactly when one of its ends wins,
  so with ``c[u]`` the number of wins of unit u, age(a, b) = c[a] + c[b] - base(a, b), where
  base is set when the edge is created or refreshed. Step 3 (age all of the winner's edges) is
  then ``c[s1] += 1``; step 7 reads the winner's edge ages in one comprehension.
* Inside `run`, the graph is a list of dicts ``{neighbour: base}`` and the errors a list of
  Python floats, so the per-edge work is dict operations, not NumPy fancy indexing. The public
  state (the dense symmetric age matrix ``age``, -1 meaning "no edge"; the neighbour sets
  ``nbrs``; the error array ``err``) is read at the start of `run` and written back at its end,
  so code (and tests) that edit it between runs see the same state as before.
* The global error decay E <- d E of every step is applied lazily: we store E' = E * d^-t and
  add new error as dE * d^-t, so one scalar changes per step; argmax is unaffected by the
  common factor, and E' is renormalised before d^-t can overflow.

The sequence of updates is Fritzke's, in the same order, with the same tie-breaking (lowest slot
id) as before; plugins/protoflow-gng/tests/test_gng_reference.py checks the prototypes, edges, ages and errors
against a literal implementation of the paper.

Missing entries (``nan_policy="omit"``): a sample with NaN entries is compared over its
observed coordinates with the squared distance rescaled by the observed fraction
(`protoflow.missing`), adds that rescaled squared distance to the winner's error, and moves the
winner and its neighbours along the observed coordinates only.
"""

from __future__ import annotations

import heapq

import numpy as np

_vecdot = np.vecdot


def _search_span(WaT: np.ndarray, d: np.ndarray, hw: int) -> tuple[np.ndarray, np.ndarray]:
    """The columns of ``WaT`` the two-nearest search multiplies, and where their distances go:
    all (contiguous, so the faster product) once half the slots are below ``hw``, else the
    first ``hw`` (the others stay inf in ``d``)."""
    if 2 * hw >= WaT.shape[1]:
        return WaT, d
    return WaT[:, :hw], d[:hw]


class _Blocks:
    """Per block size k (a unit and its k - 1 neighbours), built once: the (n_rows, k) rates
    (``eps_b`` for the winner's column, ``eps_n`` for the others, 1 in the norm row), the
    indices that gather a sample ``[x | 0]`` into that shape, and work buffers (the block, the
    step, the squares, the block's norm row), so that a step allocates no arrays."""

    def __init__(self, n_rows: int, eps_b: float, eps_n: float) -> None:
        self.n_rows, self.eps_b, self.eps_n = n_rows, eps_b, eps_n
        self._cache: dict[int, tuple[np.ndarray, ...]] = {}

    def __getitem__(self, k: int) -> tuple[np.ndarray, ...]:
        got = self._cache.get(k)
        if got is None:
            rate = np.full((self.n_rows, k), self.eps_n)
            rate[:, 0] = self.eps_b
            rate[-1] = 1.0  # with x's 0 there: the norm row becomes exactly 0, see step 5
            pat = np.repeat(np.arange(self.n_rows)[:, None], k, axis=1)
            block = np.empty((self.n_rows, k))
            got = self._cache[k] = (rate, pat, block, np.empty_like(block), np.empty_like(block),
                                    block[-1])
        return got


class GNGState:
    """Mutable training state. W0 : ndarray of shape (2, n_features), the two first units."""

    def __init__(self, W0: np.ndarray, max_units: int) -> None:
        n_features = W0.shape[1]
        # [W | ||w||^2] transposed, one column per slot; W and w2 are views of it
        self.WaT = np.zeros((n_features + 1, max_units))
        self.W = self.WaT[:n_features].T
        self.w2 = self.WaT[n_features]
        self.w2[:] = np.inf
        self.err = np.full(max_units, -np.inf)  # scaled error E'; -inf marks a free slot
        self.age = np.full((max_units, max_units), -1, dtype=np.int32)
        self.nbrs: list[set[int]] = [set() for _ in range(max_units)]  # same edges, as sets
        self.wins = [0] * max_units  # times each slot won (the loop's edge ages derive from it)
        self.free = list(range(2, max_units))  # a min-heap: reuse low slots first
        self.hw = 2
        self.n_active = 2
        self.inv_scale = 1.0  # d^-t: true error = err / inv_scale
        for s in (0, 1):
            self.W[s] = W0[s]
            self.w2[s] = W0[s] @ W0[s]
            self.err[s] = 0.0

    # -- the public state <-> the loop's Python structures ---------------------------------
    def _load(self) -> tuple[list[dict[int, int]], list[float]]:
        """The graph as dicts {neighbour: base} per slot (age = wins[a] + wins[b] - base, see
        `run`), and the errors as a list."""
        hw, c = self.hw, self.wins
        adj: list[dict[int, int]] = [{} for _ in range(len(self.err))]
        sub = self.age[:hw, :hw]
        ii, jj = np.nonzero(sub >= 0)
        for a, b, g in zip(ii.tolist(), jj.tolist(), sub[ii, jj].tolist()):
            adj[a][b] = c[a] + c[b] - g
        return adj, self.err.tolist()

    def _store(self, adj: list[dict[int, int]], errl: list[float]) -> None:
        hw, c = self.hw, self.wins
        self.err[:] = errl
        age = self.age
        age[:hw, :hw] = -1
        for a in range(hw):
            nb = adj[a]
            self.nbrs[a] = set(nb)
            if nb:
                ca = c[a]
                age[a, list(nb)] = [ca + c[b] - base for b, base in nb.items()]

    # -- steps 1-9 --------------------------------------------------------------------------
    def run(
        self,
        Z: np.ndarray,
        order: np.ndarray,
        step0: int,
        *,
        eps_b: float,
        eps_n: float,
        max_age: int,
        insert_every: int,
        alpha: float,
        decay: float,
        max_units: int,
        observed: np.ndarray | None = None,
    ) -> int:
        """Present the samples Z[order] once each; returns the new step count.

        observed : optional bool mask of Z's shape, False at missing entries (Z may hold NaN
        there); None when Z is complete.

        Edge ages: an edge ages by one exactly when one of its ends wins, so with ``c[u]`` the
        number of wins of u, age(a, b) = c[a] + c[b] - base(a, b), where base is set when the
        edge is created or refreshed. Step 3 (age the winner's edges) is then ``c[s1] += 1``,
        and only step 7 reads the ages of the winner's edges.
        """
        adj, err = self._load()
        WaT, W, w2, c = self.WaT, self.W, self.w2, self.wins
        nf = W.shape[1]
        # per slot: the flat indices into WaT of the slot's column and its neighbours', then
        # `_Blocks` for that size; None when the slot's edges changed since it was built
        moving: list[tuple[np.ndarray, ...] | None] = [None] * len(w2)
        blocks = _Blocks(nf + 1, eps_b, eps_n)
        incomplete = [False] * len(Z)
        if observed is not None:
            Z = np.where(observed, Z, 0.0)
            incomplete = (~observed.all(axis=1)).tolist()
            scale = Z.shape[1] / observed.sum(axis=1)
        x2 = np.einsum("ij,ij->i", Z, Z).tolist()
        Za = np.zeros((len(Z), nf + 1))  # [x | 0]: see the norm row in step 5
        Za[:, :nf] = Z
        Xa = np.empty((len(Z), nf + 1))  # [-2x | 1]: Xa[i] @ WaT = ||w||^2 - 2 w.x
        np.multiply(Z, -2.0, out=Xa[:, :nf])
        Xa[:, nf] = 1.0
        flat_cols = np.arange(WaT.size).reshape(WaT.shape)  # the flat index of each entry
        ones = np.ones(nf + 1)
        # distances of all slots: free slots (above hw too) have norm inf, so distance inf
        d = np.full(len(w2), np.inf)
        take, put, dot, mul, amin, inf = WaT.take, WaT.put, np.dot, np.multiply, d.argmin, np.inf
        inv_decay = 1.0 / decay
        inv_scale = self.inv_scale
        step = step0
        hw = self.hw
        d_hw, W_hw, w2_hw = d[:hw], W[:hw], w2[:hw]
        src, dst = _search_span(WaT, d, hw)
        for i in order.tolist():
            masked = incomplete[i]
            if masked:  # steps 1-2 over the observed coordinates, rescaled
                obs = observed[i]  # type: ignore[index]
                xo = Z[i, obs]
                diff = W_hw[:, obs] - xo
                np.einsum("ij,ij->i", diff, diff, out=d_hw)
                d_hw *= scale[i]
                d_hw[np.isinf(w2_hw)] = inf  # free slots never win
                s1 = int(amin())
                sq = max(float(d[s1]), 0.0)
            else:
                # steps 1-2: the two nearest units (||x||^2 is common, so left out of the
                # argmins), one vector-matrix product
                dot(Xa[i], src, dst)
                s1 = int(amin())
                sq = float(d[s1]) + x2[i]
                if sq < 0.0:  # rounding, x next to the unit
                    sq = 0.0
            d[s1] = inf
            s2 = int(amin())
            # step 3: age the winner's edges
            cs = c[s1] + 1
            c[s1] = cs
            a1 = adj[s1]
            mv = moving[s1]  # s1 and its neighbours: those that move in step 5 (before step 6)
            if mv is None:
                mv = moving[s1] = (flat_cols.take([s1, *a1], 1), *blocks[len(a1) + 1])
            flat, rate, pat, Wb, t, sq2, wn = mv
            # step 6: refresh or create the edge s1-s2 (age 0)
            if s2 not in a1:
                moving[s1] = moving[s2] = None
            a1[s2] = adj[s2][s1] = cs + c[s2]
            # step 7's expired edges: age cs + c[u] - base > max_age (s1-s2 never, it is 0)
            lim = max_age - cs
            expired = [u for u, base in a1.items() if c[u] - base > lim]
            # step 4: squared error, scaled for the lazy decay
            err[s1] += sq * inv_scale
            # step 5: move the winner and its neighbours towards x (per-column rates: eps_b,
            # then eps_n), in one gathered (nf + 1, k) block, x gathered to the same shape
            take(flat, None, Wb, "clip")  # (indices are valid; "raise" would buffer the output)
            if masked:
                Wo = Wb[:nf][obs]
                t = xo[:, None] - Wo
                t *= rate[:nf][obs]
                Wo += t
                Wb[:nf][obs] = Wo  # type: ignore[index]
                wn[:] = 0.0
            else:
                Za[i].take(pat, None, t, "clip")
                t -= Wb
                t *= rate
                Wb += t  # the norm row: w2 + 1 * (0 - w2) = 0, so the column's own norm is
            mul(Wb, Wb, sq2)
            dot(ones, sq2, wn)  # the norm of the prototype
            put(flat, Wb, "clip")
            # step 7: drop the winner's expired edges, then units they left isolated
            if expired:
                moving[s1] = None
                for u in expired:
                    moving[u] = None
                    del a1[u]
                    au = adj[u]
                    del au[s1]
                    if not au:
                        self._deactivate(u, err)
            step += 1
            # step 8: grow every insert_every samples
            if step % insert_every == 0 and self.n_active < max_units:
                self._insert_into(adj, err, alpha, moving)
                if self.hw != hw:  # only an insertion moves the high-water mark
                    hw = self.hw
                    d_hw, W_hw, w2_hw = d[:hw], W[:hw], w2[:hw]
                    src, dst = _search_span(WaT, d, hw)
            # step 9: global error decay (lazy)
            inv_scale *= inv_decay
            if inv_scale > 1e100:
                err = [e / inv_scale for e in err]
                inv_scale = 1.0
        self.inv_scale = inv_scale
        self._store(adj, err)
        return step

    def _deactivate(self, u: int, err: list[float]) -> None:
        self.W[u] = 0.0
        self.w2[u] = np.inf
        err[u] = -np.inf
        self.n_active -= 1
        heapq.heappush(self.free, u)

    def _insert_into(
        self, adj: list[dict[int, int]], err: list[float], alpha: float, moving: list
    ) -> None:
        """A unit halfway between the unit of largest error and its worst neighbour (``moving``:
        `run`'s index cache, invalidated for the three units whose edges change)."""
        hw, W, c = self.hw, self.W, self.wins
        q = max(range(hw), key=err.__getitem__)  # the first of the largest, as argmax
        if not adj[q]:
            return
        f = max(adj[q], key=lambda u: (err[u], -u))
        r = heapq.heappop(self.free)
        self.hw = max(hw, r + 1)
        self.n_active += 1
        W[r] = 0.5 * (W[q] + W[f])
        self.w2[r] = _vecdot(W[r], W[r])
        c[r] = 0
        moving[q] = moving[f] = moving[r] = None
        del adj[q][f], adj[f][q]
        adj[q][r] = adj[r][q] = c[q]  # age 0
        adj[r][f] = adj[f][r] = c[f]
        err[q] *= alpha
        err[f] *= alpha
        err[r] = err[q]  # Fritzke 1995: the new unit takes q's reduced error

    # -- the same operations on the public state (between runs) ------------------------------
    def _connect(self, a: int, b: int) -> None:
        self.age[a, b] = self.age[b, a] = 0
        self.nbrs[a].add(b)
        self.nbrs[b].add(a)

    def _disconnect(self, a: int, b: int) -> None:
        self.age[a, b] = self.age[b, a] = -1
        self.nbrs[a].discard(b)
        self.nbrs[b].discard(a)

    def _insert(self, alpha: float) -> None:
        """`_insert_into` on the public state."""
        adj, err = self._load()
        self._insert_into(adj, err, alpha, [None] * len(err))
        self._store(adj, err)

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Active units compacted in slot order: prototypes (n_units, n_features), edges
        (n_edges, 2) in compact ids, edge ages (n_edges,), true errors (n_units,)."""
        hw = self.hw
        slots = np.flatnonzero(np.isfinite(self.w2[:hw]))
        sub = self.age[np.ix_(slots, slots)]
        i, j = np.nonzero(np.triu(sub >= 0, k=1))
        edges = np.column_stack([i, j]).astype(np.int64)
        return (
            self.W[slots].copy(),
            edges,
            sub[i, j].astype(np.int64),
            self.err[slots] / self.inv_scale,
        )
