"""The GNG state and its sample-by-sample update (Fritzke 1995, steps 1-9), compiled with numba.

Why compiled. GNG is sequential: every sample may move units, age, create and delete edges and
(every ``insert_every`` samples) add a unit, and the next sample's two nearest units depend on
all of that, so the loop cannot be batched over samples. A step does little arithmetic (on the
benchmark workload, 10 features, 400 units and about 22 edges per unit: some 10,000
floating-point operations, a microsecond or two of CPU), so in Python/NumPy its cost was the
interpreter: about 30 NumPy calls and 100 Python operations per sample, 14.6 us per sample
after careful micro-optimisation (a gathered block update, edge ages derived from win counters,
dict-based graph, cached index blocks), 3.3-4.4x the time of a same-size scikit-learn k-means.
The per-sample loop is therefore one `numba.njit` kernel, `_run` (with `_insert_unit`, step 8):
plain loops over the state's arrays, no Python objects, no allocation per step. numba was
preferred to hand-written C, C++ or Cython because the kernel stays in this readable Python
file, next to the algorithm it implements and testable like it; the plugin stays a pure-Python
package with no compiler or build step at install time (numba ships wheels with its own LLVM);
and numba is a mature, well-maintained library (NumFOCUS-sponsored, released for each new
Python and NumPy). The kernels are compiled without fast-math, so the floating-point operations
are IEEE and in the order written: on the benchmark workload they give bit-for-bit the
prototypes, edges and ages of the previous Python engine (errors agree to about 1e-13: that
engine computed squared distances as ||w||^2 - 2 w.x + ||x||^2).

Measured (``benchmarks/bench_gng.py --baseline HEAD`` on its workload, 25,000 x 10 Gaussian
mixture, 400 units, 10 epochs; one run on a busy 2-core machine, so only the ratios within the
run mean much): 3.4 us per sample against 29.7 for the previous Python/NumPy engine, 8.8x
faster (that engine takes 14.6 us per sample on a quiet machine, so an estimated 1.7 us there,
not yet measured quiet); GNG's fit took 0.09x the time of the same-size k-means of the same
run (0.10x against a single-threaded k-means; against the quiet-machine k-means times of
0.76-1.14 s, an estimated 0.4-0.6x), at the same quantization error (QE ratio GNG / k-means
1.062). ``cache=True`` stores the machine code in ``__pycache__`` next to this file (or in
numba's user cache directory), so the compile happens once per environment: about 3.5 s on the
first fit (busy machine), then about 0.4 s in each new process to load numba and the cached
code. Where no cache directory is writable, numba raises at decoration and `_jit` compiles
without a cache instead, i.e. once per process.
The engine is imported on a model's first fit (`model.py`), so loading the plugin, which every
protoflow session does, does not import numba.

The state: the public attributes, which `model.py`, the tests and code between runs read and
edit; the kernels work on them in place.

* Units live in preallocated slots (``max_units`` columns) with a high-water mark ``hw``: the
  search runs over the first ``hw`` slots, so a large ``max_units`` that is never reached
  costs nothing. Prototypes and squared norms share one array ``WaT = [W | ||w||^2]^T`` of
  shape (n_features + 1, max_units), ``W`` and ``w2`` being views of it: a row per feature, so
  the distance loop runs over contiguous rows (vectorised by LLVM; two features a pass, which
  halves the loads and stores of the distances and keeps each sum in feature order). A slot is
  free exactly when its ``w2`` is inf (its error is -inf, so it never wins an argmax either);
  ``free`` lists the free slots in increasing order (a new unit takes the lowest). Slot ids
  stay global throughout.
* ``age`` is the dense symmetric (max_units, max_units) int32 matrix of edge ages, -1 meaning
  "no edge", the only graph structure the kernels use: step 3 collects the winner's
  neighbours from its row, and ages both copies of each edge; ``nbrs`` (the same edges as one
  set per slot) is rebuilt from it after each kernel call.
* ``err`` holds scaled errors E' = E * d^-t: the global decay E <- d E of step 9 is applied
  lazily (new error is added as dE * d^-t, so one scalar changes per step; argmax is unaffected
  by the common factor) and E' is renormalised before d^-t (``inv_scale``) can overflow.

The sequence of updates is Fritzke's, in the same order and with the same tie-breaking (the
lowest slot id) as the previous engine: steps 1-2 the nearest unit s1 and the second nearest
s2 (squared distances as sums of squared differences), 3 age s1's edges, 4 add the squared
distance to its error, 5 move s1 by ``eps_b`` and its neighbours (those before step 6) by
``eps_n``, 6 refresh or create the edge s1-s2 with age 0, 7 delete s1's edges older than
``max_age`` and the units this leaves without edges, 8 insert a unit every ``insert_every``
samples, 9 decay. plugins/protoflow-gng/tests/test_gng_reference.py checks the prototypes,
edges, ages and errors against a literal implementation of the paper.

Missing entries (``nan_policy="omit"``) go through the same kernel: ``observed`` (False at a
missing entry; all True for complete data) selects the coordinates of each sample that its
distances are summed over and that the winner and its neighbours move along, and ``scale``
(n_features / observed count, exactly 1 for a complete sample) rescales the squared distances
(`protoflow.missing`); the rescaled distance is also the error added. Missing entries are
never read.
"""

from __future__ import annotations

import numba
import numpy as np


def _jit(fn=None, **options):
    """`numba.njit` with an on-disk cache where one can be written, else without one (numba
    raises at decoration when neither ``__pycache__`` next to this file nor its user cache
    directory is writable, e.g. a read-only install)."""
    if fn is None:
        return lambda fn: _jit(fn, **options)
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:
        return numba.njit(**options)(fn)


# -- kernels (nopython: arrays and scalars only) ----------------------------------------------
@_jit(inline="always")
def _set_norm(WaT, u):
    """The squared norm of slot u's prototype, into the last row of WaT."""
    nf = WaT.shape[0] - 1
    s = 0.0
    for f in range(nf):
        s += WaT[f, u] * WaT[f, u]
    WaT[nf, u] = s


@_jit
def _insert_unit(WaT, err, age, hw, n_active, alpha):
    """Step 8: a unit r (the lowest free slot) halfway between the unit q of largest error and
    its neighbour f of largest error (the lowest slot id among equals); q-f is replaced by q-r
    and r-f (age 0); E_q and E_f are multiplied by alpha and r takes q's new error. Nothing
    happens when q has no neighbour or no slot is free. Returns the new (hw, n_active)."""
    nf = WaT.shape[0] - 1
    q = np.argmax(err[:hw])  # the first of the largest
    f = -1
    for u in range(hw):  # increasing ids and a strict >: the first of the largest
        if age[q, u] >= 0 and (f < 0 or err[u] > err[f]):
            f = u
    if f < 0:
        return hw, n_active
    r = -1
    for u in range(WaT.shape[1]):
        if WaT[nf, u] == np.inf:
            r = u
            break
    if r < 0:
        return hw, n_active
    for k in range(nf):
        WaT[k, r] = 0.5 * (WaT[k, q] + WaT[k, f])
    _set_norm(WaT, r)
    age[q, f] = age[f, q] = -1
    age[q, r] = age[r, q] = age[r, f] = age[f, r] = 0
    err[q] *= alpha
    err[f] *= alpha
    err[r] = err[q]  # Fritzke 1995: the new unit takes q's reduced error
    return max(hw, r + 1), n_active + 1


@_jit
def _run(WaT, err, age, X, observed, scale, order, step, hw, n_active, inv_scale,
         eps_b, eps_n, max_age, insert_every, alpha, decay, max_units):
    """Steps 1-9 for the samples X[order], in place on WaT, err and age. Returns the new
    (step, hw, n_active, inv_scale)."""
    nf = X.shape[1]
    cap = WaT.shape[1]
    w2 = WaT[nf]
    d = np.empty(cap)  # squared distances
    obs = np.empty(nf, np.int64)  # the sample's observed coordinates
    nbr = np.empty(cap, np.int64)  # the winner's neighbours
    inv_decay = 1.0 / decay
    limit = min(max_units, cap)
    for i in order:
        m = 0
        for f in range(nf):
            if observed[i, f]:
                obs[m] = f
                m += 1
        # steps 1-2: squared distances over the observed coordinates (free slots: inf), the
        # nearest s1 and second nearest s2, the lowest slot id first among equals
        for u in range(hw):
            d[u] = 0.0 if w2[u] != np.inf else np.inf
        k = m % 2
        if k:
            f = obs[0]
            xf = X[i, f]
            for u in range(hw):
                t = WaT[f, u] - xf
                d[u] += t * t
        while k < m:  # two coordinates a pass (half the loads and stores of d), same sums
            f, g = obs[k], obs[k + 1]
            xf, xg = X[i, f], X[i, g]
            for u in range(hw):
                t = WaT[f, u] - xf
                r = WaT[g, u] - xg
                d[u] = (d[u] + t * t) + r * r
            k += 2
        sc = scale[i]
        s1, b1 = 0, d[0] * sc
        s2, b2 = -1, np.inf
        for u in range(1, hw):
            v = d[u] * sc
            if v < b1:
                s2, b2 = s1, b1
                s1, b1 = u, v
            elif v < b2:
                s2, b2 = u, v
        if s2 < 0:  # no second finite distance (cannot happen with two finite units)
            s2 = 1 if s1 == 0 else 0
        # step 3: age the winner's edges
        k1 = 0
        for u in range(hw):
            if age[s1, u] >= 0:
                nbr[k1] = u
                k1 += 1
        for j in range(k1):
            u = nbr[j]
            age[s1, u] += 1
            age[u, s1] += 1
        # step 4: squared error, scaled for the lazy decay
        err[s1] += b1 * inv_scale
        # step 5: move the winner (eps_b) and its neighbours (eps_n) towards x, along the
        # observed coordinates
        for j in range(-1, k1):
            u = s1 if j < 0 else nbr[j]
            rate = eps_b if j < 0 else eps_n
            for k in range(m):
                f = obs[k]
                WaT[f, u] += rate * (X[i, f] - WaT[f, u])
            _set_norm(WaT, u)
        # step 6: refresh or create the edge s1-s2 (age 0)
        age[s1, s2] = age[s2, s1] = 0
        # step 7: drop the winner's edges older than max_age (s1-s2 is 0 now, and a new s2 is
        # not in nbr), then the units they left without edges
        for j in range(k1):
            u = nbr[j]
            if age[s1, u] > max_age:
                age[s1, u] = age[u, s1] = -1
                isolated = True
                for v in range(hw):
                    if age[u, v] >= 0:
                        isolated = False
                        break
                if isolated:
                    for f in range(nf):
                        WaT[f, u] = 0.0
                    w2[u] = np.inf
                    err[u] = -np.inf
                    n_active -= 1
        step += 1
        # step 8: grow every insert_every samples
        if step % insert_every == 0 and n_active < limit:
            hw, n_active = _insert_unit(WaT, err, age, hw, n_active, alpha)
        # step 9: global error decay (lazy)
        inv_scale *= inv_decay
        if inv_scale > 1e100:
            for u in range(cap):
                err[u] /= inv_scale
            inv_scale = 1.0
    return step, hw, n_active, inv_scale


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
        self.free = list(range(2, max_units))  # the free slots, increasing
        self.hw = 2
        self.n_active = 2
        self.inv_scale = 1.0  # d^-t: true error = err / inv_scale
        for s in (0, 1):
            self.W[s] = W0[s]
            self.w2[s] = W0[s] @ W0[s]
            self.err[s] = 0.0

    def _sync(self) -> None:
        """``nbrs`` and ``free`` from ``age`` and ``w2``, after a kernel changed them."""
        hw = self.hw
        ii, jj = np.nonzero(self.age[:hw, :hw] >= 0)  # row by row
        for a, nb in enumerate(np.split(jj, np.searchsorted(ii, np.arange(1, hw)))):
            self.nbrs[a] = set(nb.tolist())
        self.free = np.flatnonzero(self.w2 == np.inf).tolist()

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
        there; they are never read); None when Z is complete.
        """
        Z = np.ascontiguousarray(Z, dtype=np.float64)
        order = np.ascontiguousarray(order, dtype=np.int64)
        # the kernel does not check bounds
        if Z.ndim != 2 or Z.shape[1] != self.W.shape[1]:
            raise ValueError(f"Z must have shape (n, {self.W.shape[1]}), got {Z.shape}")
        if order.ndim != 1 or (len(order) and not 0 <= order.min() <= order.max() < len(Z)):
            raise IndexError("order must be a 1-d array of row indices of Z")
        if observed is None:
            observed = np.ones(Z.shape, dtype=np.bool_)
            scale = np.ones(len(Z))
        else:
            observed = np.ascontiguousarray(observed, dtype=np.bool_)
            if observed.shape != Z.shape:
                raise ValueError(f"observed must have Z's shape {Z.shape}, got {observed.shape}")
            scale = Z.shape[1] / observed.sum(axis=1)  # exactly 1.0 for complete rows
        step, self.hw, self.n_active, self.inv_scale = _run(
            self.WaT, self.err, self.age, Z, observed, scale, order, int(step0), int(self.hw),
            int(self.n_active), float(self.inv_scale), float(eps_b), float(eps_n), int(max_age),
            int(insert_every), float(alpha), float(decay), int(max_units))
        self._sync()
        return int(step)

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
        """Step 8 on the public state (the kernel `_run` calls)."""
        self.hw, self.n_active = _insert_unit(self.WaT, self.err, self.age, int(self.hw),
                                              int(self.n_active), float(alpha))
        self._sync()

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
