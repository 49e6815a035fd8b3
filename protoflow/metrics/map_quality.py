"""Map-quality metrics for prototype models (the DESOM paper's appendix; SOMperf's definitions).

Every function takes ``(model, Z, ...)``: a fitted prototype model and points in its latent
space, shape (n_samples, n_features). Pass ``encoder=`` to measure in *data* space instead: the
prototypes are decoded with ``encoder.decode`` and the second argument is the data X, shape
(n_samples, n_data_features); best-matching units are then found in data space (the paper's
QE, TE, ... as opposed to the latent QÊ, TÊ, ...). The topology is always the model's.

Distances are Euclidean (not squared) unless a docstring says otherwise. QE, TE, combined
error, distortion and the label metrics work in row blocks, so they never hold an
(n_samples, n_units) matrix; Kruskal-Shepard, neighbourhood preservation and trustworthiness
compare all pairs of samples and cost O(n_samples^2) time (memory stays blockwise).

Metrics that use the map topology raise `MetricNotApplicableError` for a model without one
(`NoTopology`, e.g. k-means).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, csgraph_from_dense, dijkstra
from scipy.spatial.distance import cdist
from scipy.stats import rankdata

from protoflow import inversion
from protoflow.errors import ConfigError, MetricNotApplicableError, ValidationError
from protoflow.metrics._common import (
    blocks,
    contingency,
    encode_labels,
    measure_space,
    nearest,
    require_topology,
    require_units,
    two_nearest,
)
from protoflow.neighborhood import gaussian_kernel
from protoflow.validation import check_array, check_float, check_int, check_is_fitted

__all__ = [
    "class_scatter_index",
    "combined_error",
    "distortion",
    "kruskal_shepard_error",
    "neighborhood_preservation",
    "nmi",
    "prototype_sharpness_ratio",
    "purity",
    "quantization_error",
    "topographic_error",
    "topographic_product",
    "trustworthiness",
    "unsupervised_accuracy",
]

# -- internal indices -----------------------------------------------------------------------


def quantization_error(model: Any, Z: Any, *, encoder: Any = None) -> float:
    """Mean Euclidean distance from each point to its best-matching prototype.

    QE = (1/N) sum_i ||z_i - m_{b_i}||. Z : array-like of shape (n_samples, n_features).
    """
    W, Z = measure_space(model, Z, encoder)
    _, d2 = nearest(Z, W)
    return float(np.sqrt(d2).mean())


_TE_NEIGHBORHOODS = ("lattice", "moore", "8")


def _moore_adjacent(topo: Any, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Whether units b1 and b2 of a rectangular lattice touch in the 8-neighbourhood
    (Chebyshev distance 1 on the grid, wrapped on a torus). Shapes (n,) -> (n,) bool."""
    r1, c1 = topo.grid_position(b1)
    r2, c2 = topo.grid_position(b2)
    dr, dc = np.abs(r1 - r2), np.abs(c1 - c2)
    if topo.toroidal:
        dr, dc = np.minimum(dr, topo.rows - dr), np.minimum(dc, topo.cols - dc)
    return (np.maximum(dr, dc) == 1)


def topographic_error(
    model: Any, Z: Any, *, encoder: Any = None, neighborhood: str = "lattice"
) -> float:
    """Fraction of points whose first and second best-matching units are not neighbours.

    Parameters
    ----------
    model : fitted prototype model with a topology.
    Z : array-like of shape (n_samples, n_features).
    encoder : optional; measure in data space (see the module docstring).
    neighborhood : "lattice" (default) | "moore" | "8"
        Which units count as neighbours.

        - "lattice": map distance 1 in ``model.topology_``: 4 neighbours on a rectangular
          lattice, 6 on a hexagonal one, wrapped on a torus, or an edge of a graph.
          This is SOMperf's definition (and the DESOM paper's), and torchsom's (its
          ``calculate_topographic_error`` uses grid distance <= 1 on rectangular maps and one
          hexagonal step on hexagonal ones).
        - "moore" (alias "8"): the 8 surrounding units on a rectangular lattice (diagonals
          included, wrapped on a torus), as MiniSom's ``topographic_error`` counts on
          rectangular maps (grid distance <= 1.42). A hexagonal lattice has no diagonals: use
          "lattice" there, which is what MiniSom counts on hexagonal maps (the 6 units at
          Euclidean distance 1). Raises `ConfigError` for other topologies.

        The 8-neighbour error is never larger than the 4-neighbour one on the same codebook.

    Returns
    -------
    float in [0, 1].
    """
    if neighborhood not in _TE_NEIGHBORHOODS:
        raise ConfigError(
            f"parameter 'neighborhood' must be one of {', '.join(map(repr, _TE_NEIGHBORHOODS))}, "
            f"got {neighborhood!r}."
        )
    topo = require_topology(model, "topographic_error")
    moore = neighborhood != "lattice"
    if moore and not (getattr(topo, "family", None) == "lattice" and topo.kind == "rect"):
        raise ConfigError(
            f"topographic_error(neighborhood={neighborhood!r}) needs a rectangular lattice; this "
            f"model's topology is {topo.to_dict().get('kind', topo.family)!r}. Use "
            "neighborhood='lattice' (6 neighbours on a hexagonal lattice, as MiniSom counts)."
        )
    W, Z = measure_space(model, Z, encoder)
    require_units(W, 2, "topographic_error")
    b1, b2, _ = two_nearest(Z, W)
    if moore:
        return float(np.mean(~_moore_adjacent(topo, b1, b2)))
    return float(np.mean(~topo.adjacent(b1, b2)))


def combined_error(model: Any, Z: Any, *, encoder: Any = None, squared: bool = False) -> float:
    """Kaski & Lagus's combined error: distance to the first BMU plus the shortest path from the
    first to the second BMU through map-adjacent units, each hop weighted by the distance between
    the two prototypes; averaged over points.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features).
    squared : False (default) uses Euclidean distances, as SOMperf computes it (which produced the
        DESOM paper's numbers); True uses squared distances for both terms, as the paper's
        appendix writes the formula.

    Points whose two BMUs lie in different components of a graph topology have no path; the
    result is then ``inf``.
    """
    topo = require_topology(model, "combined_error")
    W, Z = measure_space(model, Z, encoder)
    require_units(W, 2, "combined_error")
    b1, b2, d1 = two_nearest(Z, W)
    hop = cdist(W, W, "sqeuclidean" if squared else "euclidean")
    dense = np.where(topo.distances() == 1, hop, np.inf)
    # csgraph_from_dense with null_value=inf keeps zero-weight edges (duplicate prototypes).
    graph = csgraph_from_dense(dense, null_value=np.inf)
    sources, inverse = np.unique(b1, return_inverse=True)
    paths = dijkstra(graph, directed=False, indices=sources)
    first = d1 if squared else np.sqrt(d1)
    return float(np.mean(first + paths[inverse.reshape(-1), b2]))


def distortion(model: Any, Z: Any, *, temperature: float = 1.0, encoder: Any = None) -> float:
    """SOM distortion (the batch SOM's energy; DESOM's SOM loss in latent space).

    D = (1/N) sum_i sum_k exp(-delta(b_i, k)^2 / T^2) ||z_i - m_k||^2, with delta the map distance
    and T = `temperature` (the neighbourhood width; the same kernel the SOM trainers use).

    Z : array-like of shape (n_samples, n_features).
    """
    topo = require_topology(model, "distortion")
    T = check_float("temperature", temperature, minimum=0.0, strict_min=True)
    W, Z = measure_space(model, Z, encoder)
    H = gaussian_kernel(topo.distances(), T)
    total = 0.0
    for _, block in blocks(Z):
        A = inversion.activations(block, W)
        total += float(np.einsum("ij,ij->", H[np.argmin(A, axis=1)], A))
    return total / Z.shape[0]


def topographic_product(model: Any, Z: Any = None, *, encoder: Any = None) -> float:
    """Bauer & Pawelzik's topographic product; uses the prototypes and topology only.

    TP = 1/(K(K-1)) sum_j sum_{k=1}^{K-1} log P3(j, k), P3(j, k) = (prod_{l<=k} Q1 Q2)^(1/2k),
    Q1 = d(m_j, m_{n_l^A(j)}) / d(m_j, m_{n_l^V(j)}), Q2 = delta(j, n_l^A(j)) / delta(j, n_l^V(j)),
    with n_l^A(j) the l-th nearest unit on the map and n_l^V(j) in prototype space.
    TP < 0: the map is too low-dimensional for the data; > 0: too high.

    Z : optional array-like of shape (n_samples, n_features); only its width is checked.

    Ties in map distance (everywhere on a lattice) are broken by unit index (stable sort), the
    unit itself is excluded explicitly, and 1e-16 is added to prototype distances (as SOMperf
    does) so that duplicate prototypes do not divide by zero. Differences from other
    implementations in the third or fourth digit come from the tie order.
    """
    topo = require_topology(model, "topographic_product")
    if Z is not None:
        W, _ = measure_space(model, Z, encoder)
    else:
        check_is_fitted(model, ["prototypes_"])
        W = np.asarray(model.prototypes_, dtype=np.float64)
        if encoder is not None:
            W = check_array(encoder.decode(W), name="decoded prototypes")
    require_units(W, 2, "topographic_product")
    dA = np.array(topo.distances(), dtype=np.float64)
    if not np.isfinite(dA).all():
        raise MetricNotApplicableError(
            "topographic_product needs a connected map: this graph topology has units that no "
            "path joins, so their map distance is infinite."
        )
    dV = cdist(W, W) + 1e-16
    K = W.shape[0]
    diag = np.arange(K)

    def order(d: np.ndarray) -> np.ndarray:
        d = d.copy()
        d[diag, diag] = -1.0  # self first, whatever the ties
        return np.argsort(d, axis=1, kind="stable")[:, 1:]

    oA, oV = order(dA), order(dV)
    take = np.take_along_axis
    logs = np.log(take(dV, oA, 1) / take(dV, oV, 1)) + np.log(take(dA, oA, 1) / take(dA, oV, 1))
    log_p3 = np.cumsum(logs, axis=1) / (2.0 * np.arange(1, K))
    return float(log_p3.sum() / (K * (K - 1)))


def kruskal_shepard_error(model: Any, Z: Any, *, encoder: Any = None) -> float:
    """Kruskal-Shepard error: how well map distances between BMUs preserve data distances.

    KSE = sum_{i,j} (D_data[i,j] / max D_data - D_map[i,j] / max D_map)^2 / (n^2 - n), with
    D_data Euclidean distances between points and D_map map distances between their BMUs
    (SOMperf's definition). A matrix whose max is 0 normalises to 0. O(n_samples^2) time.

    Z : array-like of shape (n_samples >= 2, n_features).
    """
    topo = require_topology(model, "kruskal_shepard_error")
    W, Z = measure_space(model, Z, encoder, min_samples=2)
    b, _ = nearest(Z, W)
    used = np.unique(b)
    dmap = topo.distances()
    map_max = float(dmap[np.ix_(used, used)].max())
    if not np.isfinite(map_max):
        raise MetricNotApplicableError(
            "kruskal_shepard_error: some best-matching units lie in different components of the "
            "graph, so their map distance is infinite."
        )
    rows = max(1, 2**22 // max(Z.shape[0], 1))  # keep each (rows, n) block near 32 MB
    data_max = max(float(cdist(blk, Z).max()) for _, blk in blocks(Z, rows))
    scale_d = 1.0 / data_max if data_max > 0 else 0.0
    scale_m = 1.0 / map_max if map_max > 0 else 0.0
    total = 0.0
    for start, blk in blocks(Z, rows):
        Dd = cdist(blk, Z) * scale_d
        Dm = dmap[b[start : start + len(blk)]][:, b] * scale_m
        total += float(np.square(Dd - Dm).sum())
    n = Z.shape[0]
    return total / (n * n - n)


def _rank_penalties(model: Any, Z: Any, k: Any, encoder: Any) -> tuple[float, float]:
    """(neighbourhood preservation, trustworthiness) by Venna & Kaski, as SOMperf defines them.

    The projection of a point is its BMU's prototype vector, so all points of one unit tie at
    projected distance 0. Ranks start at 0 (the point itself) with ties ranked 'min'; the tie
    weight is w_i = (#{j: rhat_ij <= k} - 1) / (#{j: r_ij <= k} - 1).
    """
    W, Z = measure_space(model, Z, encoder, min_samples=3)
    n = Z.shape[0]
    k = check_int("k", k, minimum=1)
    if not k < n / 2:
        raise ConfigError(f"parameter 'k' must be < n_samples / 2 = {n / 2}, got {k}.")
    b, _ = nearest(Z, W)
    Dw = cdist(W, W)
    lost = kept_wrong = 0.0
    rows = max(1, 2**21 // n)
    for start, blk in blocks(Z, rows):
        r = rankdata(cdist(blk, Z), method="min", axis=1) - 1.0
        rh = rankdata(Dw[b[start : start + len(blk)]][:, b], method="min", axis=1) - 1.0
        w = ((rh <= k).sum(axis=1) - 1) / ((r <= k).sum(axis=1) - 1)
        # the point itself has rank 0 in both, so it never enters either sum
        lost += float((np.where((r <= k) & (rh > k), rh - k, 0.0).sum(axis=1) * w).sum())
        kept_wrong += float((np.where((r > k) & (rh <= k), r - k, 0.0).sum(axis=1) / w).sum())
    norm = 2.0 / (n * k * (2 * n - 3 * k - 1))
    return 1.0 - norm * lost, 1.0 - norm * kept_wrong


def neighborhood_preservation(model: Any, Z: Any, *, k: int = 1, encoder: Any = None) -> float:
    """Venna & Kaski's neighbourhood preservation (higher is better, at most 1): penalises data
    k-nearest neighbours that the projection onto BMU prototypes pushes away.

    NP = 1 - 2/(n k (2n - 3k - 1)) sum_i sum_{j in V_k(i)} (rhat_ij - k) w_i, with V_k(i) the
    data k-NN of i that are not projected k-NN. The normaliser has Venna & Kaski's factor 2
    (SOMperf's code omits it), so without ties this matches scikit-learn's trustworthiness with
    the roles of the two spaces exchanged. `k` (default 1, as the DESOM evaluation) must be
    < n_samples / 2. O(n_samples^2) time.

    Z : array-like of shape (n_samples, n_features).
    """
    return _rank_penalties(model, Z, k, encoder)[0]


def trustworthiness(model: Any, Z: Any, *, k: int = 1, encoder: Any = None) -> float:
    """Venna & Kaski's trustworthiness (higher is better, at most 1): penalises projected
    k-nearest neighbours (through BMU prototypes) that are not data k-nearest neighbours.

    TW = 1 - 2/(n k (2n - 3k - 1)) sum_i sum_{j in U_k(i)} (r_ij - k) / w_i. See
    `neighborhood_preservation` for ranks, ties and the normaliser. O(n_samples^2) time.

    Z : array-like of shape (n_samples, n_features).
    """
    return _rank_penalties(model, Z, k, encoder)[1]


# -- external indices (need class labels y) ---------------------------------------------------


def _contingency(model: Any, Z: Any, y: Any, encoder: Any) -> np.ndarray:
    """Counts w[k, c] of points with BMU k and class c, shape (n_units, n_classes)."""
    W, Z = measure_space(model, Z, encoder)
    b, _ = nearest(Z, W)
    codes, n_classes = encode_labels(y, Z.shape[0])
    return contingency(b, W.shape[0], codes, n_classes)


def purity(model: Any, Z: Any, y: Any, *, encoder: Any = None) -> float:
    """Fraction of points whose class is the majority class of their BMU.

    Z : array-like of shape (n_samples, n_features); y : array-like of shape (n_samples,).
    """
    w = _contingency(model, Z, y, encoder)
    return float(w.max(axis=1).sum() / w.sum())


_NMI_MEANS = ("arithmetic", "geometric", "min", "max")


def nmi(model: Any, Z: Any, y: Any, *, encoder: Any = None,
        average: str = "arithmetic") -> float:
    """Normalised mutual information between BMUs and classes, I / mean(H(Q), H(Y)).

    ``average`` names the mean, as scikit-learn's ``average_method``: "arithmetic" (its default
    since 0.22, and the DESOM paper's formula), "geometric" (its default before 0.22), "min" or
    "max". 1.0 when both partitions are a single set.

    Z : array-like of shape (n_samples, n_features); y : array-like of shape (n_samples,).
    """
    if average not in _NMI_MEANS:
        raise ConfigError(f"parameter 'average' must be one of {', '.join(_NMI_MEANS)}, got "
                          f"{average!r}; scikit-learn's default is \"arithmetic\".")
    w = _contingency(model, Z, y, encoder)
    P = w / w.sum()
    pq, py = P.sum(axis=1), P.sum(axis=0)
    nz = P > 0
    mi = float(np.sum(P[nz] * np.log(P[nz] / np.outer(pq, py)[nz])))

    def entropy(p: np.ndarray) -> float:
        p = p[p > 0]
        return float(-np.sum(p * np.log(p)))

    hq, hy = entropy(pq), entropy(py)
    if hq == 0.0 and hy == 0.0:
        return 1.0
    norm = {"arithmetic": (hq + hy) / 2.0, "geometric": float(np.sqrt(hq * hy)),
            "min": min(hq, hy), "max": max(hq, hy)}[average]
    return float(max(mi, 0.0) / norm) if norm > 0 else 0.0


def unsupervised_accuracy(model: Any, Z: Any, y: Any, *, encoder: Any = None) -> float:
    """Accuracy under the best one-to-one map from units to classes (Hungarian assignment).

    Meaningful when the number of units equals the number of classes; otherwise only
    min(n_units, n_classes) pairs are matched (post-cluster the prototypes first, as the DESOM
    paper does). Z : array-like of shape (n_samples, n_features); y : (n_samples,).
    """
    w = _contingency(model, Z, y, encoder)
    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].sum() / w.sum())


def class_scatter_index(model: Any, Z: Any, y: Any, *, encoder: Any = None) -> float:
    """Elend & Kramer's class scatter index: for each class, the number of connected groups of
    map units (adjacent on the map) that received at least one of its points; mean over classes.
    Lower is better; the minimum is 1.

    Z : array-like of shape (n_samples, n_features); y : array-like of shape (n_samples,).
    """
    topo = require_topology(model, "class_scatter_index")
    w = _contingency(model, Z, y, encoder)
    adjacency = topo.distances() == 1
    groups = []
    for c in range(w.shape[1]):
        units = np.flatnonzero(w[:, c])
        sub = csr_matrix(adjacency[np.ix_(units, units)])
        groups.append(connected_components(sub, directed=False)[0])
    return float(np.mean(groups))


# -- images -----------------------------------------------------------------------------------


def _image_shape(image_shape: Any, n_features: int) -> tuple[int, int]:
    if image_shape is None:
        side = round(n_features**0.5)
        if side * side != n_features:
            raise ConfigError(
                f"parameter 'image_shape' is needed: {n_features} features are not a square image."
            )
        return side, side
    try:
        h, w = (int(s) for s in image_shape)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"parameter 'image_shape' must be (height, width), got {image_shape!r}") from exc
    if h < 2 or w < 2 or h * w != n_features:
        raise ConfigError(
            f"parameter 'image_shape' {image_shape!r} does not fit {n_features} features "
            "(need height * width == n_features, both >= 2)."
        )
    return h, w


def _mean_sharpness(images: np.ndarray, shape: tuple[int, int], squared: bool) -> float:
    total = 0.0
    for _, blk in blocks(images, 512):
        gx, gy = np.gradient(blk.reshape(-1, *shape), axis=(1, 2))  # central differences
        g2 = gx * gx + gy * gy
        total += float((g2 if squared else np.sqrt(g2)).mean(axis=(1, 2)).sum())
    return total / images.shape[0]


def prototype_sharpness_ratio(
    model: Any,
    X: Any,
    *,
    image_shape: tuple[int, int] | None = None,
    encoder: Any = None,
    squared: bool = False,
) -> float:
    """Prototype sharpness ratio (DESOM paper): mean sharpness of the prototype images over the
    mean sharpness of the data images; 1 is best, below 1 blurrier.

    Sharpness of an image = mean over pixels of the gradient magnitude sqrt(gx^2 + gy^2), with
    central differences (`numpy.gradient`), as the DESOM code computes it (the code produced the
    paper's 0.720 / 1.030). ``squared=True`` averages gx^2 + gy^2 instead, as the paper's
    formula is written.

    Parameters
    ----------
    X : array-like of shape (n_samples, height * width), data images (flattened row-major).
    image_shape : (height, width); default: square images.
    encoder : decode the prototypes with it first (a model trained in a latent space); without
        it the prototypes must already be images of the data's width.
    """
    W, X = measure_space(model, X, encoder)
    shape = _image_shape(image_shape, W.shape[1])
    data = _mean_sharpness(X, shape, squared)
    if data == 0.0:
        raise ValidationError("X: every image is constant, so the data sharpness is 0.")
    return _mean_sharpness(W, shape, squared) / data
