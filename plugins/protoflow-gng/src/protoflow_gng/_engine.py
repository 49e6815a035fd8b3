"""The GNG state and its sample-by-sample update (Fritzke 1995, steps 1-9).

GNG is sequential: every sample may change the graph, so the loop stays per sample and each
step is vectorised instead. Units live in preallocated slots (``max_units`` rows) with a
high-water mark ``hw``: only slots below it are scanned. Inactive slots have ``||w||^2 = inf``,
so they never win a distance comparison, and error ``-inf``, so they never win an argmax.
Slot ids stay global throughout (indexing a subset and using its positions as slot ids is the
classic bug of vectorised GNG ports).

Edges are a dense symmetric age matrix, -1 meaning "no edge": ageing the winner's edges and
moving its neighbours are masked row operations. Memory is max_units^2 * 4 bytes (64 MB at
4,000 units).

The global error decay E <- d E of every step is applied lazily: we store E' = E * d^-t and add
new error as dE * d^-t, so one scalar changes per step; argmax is unaffected by the common
factor, and E' is renormalised before d^-t can overflow.

Missing entries (``nan_policy="omit"``): a sample with NaN entries is compared over its
observed coordinates with the squared distance rescaled by the observed fraction
(`protoflow.missing`), adds that rescaled squared distance to the winner's error, and moves the
winner and its neighbours along the observed coordinates only.
"""

from __future__ import annotations

import heapq

import numpy as np


class GNGState:
    """Mutable training state. W0 : ndarray of shape (2, n_features), the two first units."""

    def __init__(self, W0: np.ndarray, max_units: int) -> None:
        n_features = W0.shape[1]
        self.W = np.zeros((max_units, n_features))
        self.w2 = np.full(max_units, np.inf)
        self.err = np.full(max_units, -np.inf)  # scaled error E'; -inf marks a free slot
        self.age = np.full((max_units, max_units), -1, dtype=np.int32)
        self.nbrs: list[set[int]] = [set() for _ in range(max_units)]  # same edges, as sets
        self.free = list(range(2, max_units))  # a min-heap: reuse low slots first
        self.hw = 2
        self.n_active = 2
        self.inv_scale = 1.0  # d^-t: true error = err / inv_scale
        for s in (0, 1):
            self.W[s] = W0[s]
            self.w2[s] = W0[s] @ W0[s]
            self.err[s] = 0.0

    def _deactivate(self, u: int) -> None:
        self.W[u] = 0.0
        self.w2[u] = np.inf
        self.err[u] = -np.inf
        self.n_active -= 1
        heapq.heappush(self.free, u)

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
        """
        W, w2, err, age, nbrs = self.W, self.w2, self.err, self.age, self.nbrs
        incomplete = None
        if observed is not None:
            Z = np.where(observed, Z, 0.0)
            incomplete = ~observed.all(axis=1)
            scale = Z.shape[1] / observed.sum(axis=1)
        x2 = np.einsum("ij,ij->i", Z, Z)
        Zm2 = -2.0 * Z
        buf = np.empty(len(w2))
        inv_decay = 1.0 / decay
        step = step0
        for i in order:
            x = Z[i]
            hw = self.hw
            d = buf[:hw]
            masked = incomplete is not None and incomplete[i]
            if masked:  # steps 1-2 over the observed coordinates, rescaled
                obs = observed[i]  # type: ignore[index]
                xo = x[obs]
                diff = W[:hw][:, obs] - xo
                np.einsum("ij,ij->i", diff, diff, out=d)
                d *= scale[i]
                d[np.isinf(w2[:hw])] = np.inf  # free slots never win
                s1 = int(d.argmin())
                sq = max(float(d[s1]), 0.0)
            else:
                # steps 1-2: the two nearest units (||x||^2 is common, so left out of the argmins)
                np.dot(W[:hw], Zm2[i], out=d)
                d += w2[:hw]
                s1 = int(d.argmin())
                sq = max(d[s1] + x2[i], 0.0)
            d[s1] = np.inf
            s2 = int(d.argmin())
            # step 3: age the winner's edges (the matrix is kept symmetric)
            nset = nbrs[s1]
            had_nb = bool(nset)
            if had_nb:
                nb = np.fromiter(nset, np.intp, len(nset))
                row = age[s1]
                row[nb] += 1
                age[nb, s1] = row[nb]
            # step 4: squared error, scaled for the lazy decay
            err[s1] += sq * self.inv_scale
            # step 5: move the winner and its neighbours towards x
            if masked:
                W[s1, obs] += eps_b * (xo - W[s1, obs])
            else:
                W[s1] += eps_b * (x - W[s1])
            w2[s1] = W[s1] @ W[s1]
            if had_nb:
                if masked:
                    Wn = W[np.ix_(nb, obs)]
                    Wn += eps_n * (xo - Wn)
                    W[np.ix_(nb, obs)] = Wn
                    Wn = W[nb]
                else:
                    Wn = W[nb]
                    Wn += eps_n * (x - Wn)
                    W[nb] = Wn
                w2[nb] = np.einsum("ij,ij->i", Wn, Wn)
            # step 6: refresh or create the edge s1-s2
            age[s1, s2] = age[s2, s1] = 0
            nset.add(s2)
            nbrs[s2].add(s1)
            # step 7: drop the winner's expired edges, then units they left isolated
            if had_nb:
                old = nb[row[nb] > max_age]
                for u in old.tolist():
                    self._disconnect(s1, u)
                    if not nbrs[u]:
                        self._deactivate(u)
            step += 1
            # step 8: grow every insert_every samples
            if step % insert_every == 0 and self.n_active < max_units:
                self._insert(alpha)
            # step 9: global error decay (lazy)
            self.inv_scale *= inv_decay
            if self.inv_scale > 1e100:
                err /= self.inv_scale
                self.inv_scale = 1.0
        return step

    def _connect(self, a: int, b: int) -> None:
        self.age[a, b] = self.age[b, a] = 0
        self.nbrs[a].add(b)
        self.nbrs[b].add(a)

    def _disconnect(self, a: int, b: int) -> None:
        self.age[a, b] = self.age[b, a] = -1
        self.nbrs[a].discard(b)
        self.nbrs[b].discard(a)

    def _insert(self, alpha: float) -> None:
        """A unit halfway between the unit of largest error and its worst neighbour."""
        hw = self.hw
        W, err = self.W, self.err
        q = int(err[:hw].argmax())
        if not self.nbrs[q]:
            return
        f = max(self.nbrs[q], key=lambda u: (err[u], -u))
        r = heapq.heappop(self.free)
        self.hw = max(hw, r + 1)
        self.n_active += 1
        W[r] = 0.5 * (W[q] + W[f])
        self.w2[r] = W[r] @ W[r]
        self._disconnect(q, f)
        self._connect(q, r)
        self._connect(r, f)
        err[q] *= alpha
        err[f] *= alpha
        err[r] = err[q]  # Fritzke 1995: the new unit takes q's reduced error

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
