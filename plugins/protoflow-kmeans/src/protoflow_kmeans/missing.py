"""k-means on data with missing (NaN) entries: a NaN-aware Lloyd iteration.

scikit-learn's KMeans refuses NaN. With ``nan_policy="omit"`` and data holding NaN,
`KMeansPrototypes` runs this instead: Lloyd's two steps over the observed coordinates only,

- assignment: each row to the centre nearest under the rescaled observed-coordinate squared
  distance (`protoflow.missing.masked_bmu`);
- update: each centre coordinate f is the mean of the observed values x_if of its rows
  (a coordinate no member observes, or an empty cluster, keeps its previous value),

until no assignment changes, the centres move less than scikit-learn's tolerance (squared
shift summed over the centres <= ``tol`` times the mean observed variance of the features,
``tol=1e-4`` as in `sklearn.cluster.KMeans`), or `max_iter` iterations. Both steps lower (or keep) the sum over
rows of the unscaled observed squared error, so the iteration terminates; it is the objective
of k-POD (Chi, Chi & Baraniuk 2016), whose EM-style loop (impute from the centres, run full
k-means, repeat) reaches the same fixed points but needs a full k-means per round, and biases
each round's clusters towards the imputed values it started from. The rescaling used in the
assignment only changes how rows with different observed counts compare to each other, not
which centre is nearest, so each assignment step is exact for that objective.
Starting centres: k-means++ (`sklearn.cluster.kmeans_plusplus`) on the mean-imputed data.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from protoflow.missing import masked_bmu, mean_impute


def lloyd_masked(
    Z: np.ndarray, n_units: int, *, max_iter: int, n_init: int, rng: np.random.Generator,
    tol: float = 1e-4,
) -> tuple[np.ndarray, float, int]:
    """NaN-aware Lloyd k-means, the best of `n_init` k-means++ starts.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features), NaN marking missing entries (every row has
        an observed value, every column too)
    n_units : number of centres (<= n_samples)
    max_iter : most Lloyd iterations per start
    n_init : number of starts
    rng : seeds the k-means++ starts
    tol : stop when the summed squared centre shift is at most ``tol`` times the mean
        observed variance of the features (0: only when no assignment changes)

    Returns
    -------
    centres : ndarray of shape (n_units, n_features), finite
    inertia : float, the sum of the rescaled observed squared distances to the nearest centre
    n_iter : int, the iterations of the kept start
    """
    from sklearn.cluster import kmeans_plusplus

    n, _ = Z.shape
    observed = ~np.isnan(Z)
    Z0 = np.where(observed, Z, 0.0)
    M = observed.astype(np.float64)
    Z_init = mean_impute(Z, name="Z")
    threshold = tol * float(np.mean(np.nanvar(Z, axis=0)))
    best: tuple[np.ndarray, float, int] | None = None
    for _ in range(n_init):
        W, _idx = kmeans_plusplus(Z_init, n_units, random_state=int(rng.integers(2**31 - 1)))
        W = np.ascontiguousarray(W, dtype=np.float64)
        prev = None
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            b = masked_bmu(Z, W, name="Z")
            if prev is not None and np.array_equal(b, prev):
                n_iter -= 1  # converged: the last update changed nothing
                break
            prev = b
            onehot = sparse.csr_matrix((np.ones(n), (b, np.arange(n))), shape=(n_units, n))
            sums = np.asarray(onehot @ Z0)
            counts = np.asarray(onehot @ M)
            seen = counts > 0
            shift = float(np.sum((sums[seen] / counts[seen] - W[seen]) ** 2))
            W[seen] = sums[seen] / counts[seen]
            if shift <= threshold:
                break
        _, d2 = masked_bmu(Z, W, return_distance=True, name="Z")
        inertia = float(d2.sum())
        if best is None or inertia < best[1]:
            best = (W, inertia, max(n_iter, 1))
    assert best is not None
    return best
