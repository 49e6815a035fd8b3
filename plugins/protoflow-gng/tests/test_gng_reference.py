"""The optimised GNG engine against a straightforward implementation of Fritzke (1995).

`reference_gng` is written from the paper's description, step by step, with plain Python
containers: no preallocated slots, cached norms, win counters, lazy decay or local bookkeeping.
Distances are computed directly as sums of squared differences and every error decays eagerly.
The engine must reproduce its prototypes and graph (and, up to the rounding of the lazy decay,
its errors) on small data, including edge expiry, the removal of isolated units, the reuse of
their ids, the ``max_units`` cap, several epochs and missing entries.

The two conventions the paper leaves open are the engine's: ties go to the lowest unit id, and a
new unit takes the lowest free id (so the compacted outputs of both list units in the same order).
"""

from __future__ import annotations

import numpy as np
import pytest
from protoflow_gng import GrowingNeuralGas

from protoflow.missing import mean_impute
from protoflow.testing import blobs, with_missing


def reference_gng(X, *, max_units, epochs, eps_b, eps_n, max_age, insert_every, alpha, decay, seed):
    """Fritzke's GNG, literally. Returns (prototypes, edges, ages, errors, n_steps, n_removed)."""
    rng = np.random.default_rng(seed)
    n, p = X.shape
    start = mean_impute(X) if np.isnan(X).any() else X
    W: dict[int, np.ndarray] = {}  # unit id -> reference vector
    E: dict[int, float] = {}  # unit id -> accumulated error
    edges: dict[tuple[int, int], int] = {}  # (a, b) with a < b -> age
    for uid, i in enumerate(rng.choice(n, size=2, replace=False)):
        W[uid], E[uid] = start[i].astype(float).copy(), 0.0

    def key(a, b):
        return (a, b) if a < b else (b, a)

    def neighbours(u):
        return [b if a == u else a for (a, b) in edges if u in (a, b)]

    step = removed = 0
    for _ in range(epochs):
        for i in rng.permutation(n):
            x = X[i]
            obs = ~np.isnan(x)
            # 1-2: nearest and second nearest unit (squared distance over the observed
            # coordinates, rescaled by the observed fraction; all coordinates when complete)
            dist = {u: float(np.sum((x[obs] - w[obs]) ** 2)) * p / obs.sum() for u, w in W.items()}
            s1, s2 = sorted(dist, key=lambda u: (dist[u], u))[:2]
            # 3: increment the age of all edges emanating from s1
            for e in edges:
                if s1 in e:
                    edges[e] += 1
            # 4: add the squared distance to the winner's error
            E[s1] += dist[s1]
            # 5: move s1 and its direct topological neighbours towards x
            nbs = neighbours(s1)
            W[s1][obs] += eps_b * (x[obs] - W[s1][obs])
            for u in nbs:
                W[u][obs] += eps_n * (x[obs] - W[u][obs])
            # 6: connect s1 and s2 with age 0 (create the edge if it does not exist)
            edges[key(s1, s2)] = 0
            # 7: remove edges older than a_max, then units left without edges
            for e in [e for e, a in edges.items() if a > max_age]:
                del edges[e]
            for u in [u for u in W if not neighbours(u)]:
                del W[u], E[u]
                removed += 1
            step += 1
            # 8: every lambda inputs, insert r halfway between q (largest error) and its
            # neighbour f of largest error, replacing q-f by q-r and r-f
            if step % insert_every == 0 and len(W) < max_units:
                q = max(sorted(E), key=lambda u: E[u])  # first of the largest
                nq = neighbours(q)
                if nq:
                    f = max(sorted(nq), key=lambda u: E[u])
                    r = min(set(range(max_units)) - set(W))
                    W[r] = 0.5 * (W[q] + W[f])
                    del edges[key(q, f)]
                    edges[key(q, r)] = edges[key(r, f)] = 0
                    E[q] *= alpha
                    E[f] *= alpha
                    E[r] = E[q]
            # 9: decrease all errors
            for u in E:
                E[u] *= decay
    ids = sorted(W)
    pos = {u: k for k, u in enumerate(ids)}
    pairs = sorted((pos[a], pos[b]) if pos[a] < pos[b] else (pos[b], pos[a]) for a, b in edges)
    back = {key(ids[a], ids[b]): (a, b) for a, b in pairs}
    ages = [edges[e] for e in sorted(edges, key=lambda e: back[e])]
    return (np.array([W[u] for u in ids]), np.array(pairs).reshape(-1, 2), np.array(ages),
            np.array([E[u] for u in ids]), step, removed)


CASES = {
    # short-lived edges: expiry, isolated units removed and their ids reused, the cap reached
    "expiry": dict(max_units=12, epochs=3, eps_b=0.2, eps_n=0.05, max_age=2, insert_every=5,
                   alpha=0.5, decay=0.95),
    # the paper's defaults
    "paper": dict(max_units=15, epochs=2, eps_b=0.2, eps_n=0.006, max_age=50, insert_every=100,
                  alpha=0.5, decay=0.995),
    # fast decay: the lazy decay's scale is renormalised several times
    "renormalised": dict(max_units=20, epochs=2, eps_b=0.3, eps_n=0.01, max_age=15,
                         insert_every=20, alpha=0.3, decay=0.5),
}


def _compare(X, params, seed, nan_policy="raise"):
    W, edges, ages, errors, steps, removed = reference_gng(X, seed=seed, **params)
    m = GrowingNeuralGas(seed=seed, nan_policy=nan_policy, **params).fit(X)
    np.testing.assert_allclose(m.prototypes_, W, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(m.topology_.edges, edges)
    np.testing.assert_array_equal(m.edge_ages_, ages)
    np.testing.assert_allclose(m.errors_, errors, rtol=1e-9, atol=1e-300)
    assert m.n_steps_ == steps
    return removed, len(W)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", sorted(CASES))
def test_engine_matches_the_reference(case, seed):
    X = blobs(150, 3, 3, seed=seed + 10)
    removed, n_units = _compare(X, CASES[case], seed)
    if case == "expiry":  # the case exercises what it is meant to
        assert removed > 0 and n_units == CASES[case]["max_units"]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", ["expiry", "renormalised"])
def test_masked_engine_matches_the_reference(case, seed):
    Xm = with_missing(blobs(150, 4, 3, seed=seed + 20), 0.25, seed=seed)
    assert np.isnan(Xm).any() and not np.isnan(Xm).all(axis=1).any()
    removed, _ = _compare(Xm, CASES[case], seed, nan_policy="omit")
    assert removed > 0 or case != "expiry"
