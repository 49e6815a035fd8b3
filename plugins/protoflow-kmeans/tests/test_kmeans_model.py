"""k-means prototypes: conformance, k-means optimality, the knn graph, and bad input."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protoflow_kmeans import KMeansPrototypes, knn_graph

import protoflow
from protoflow.errors import ConfigError, MetricNotApplicableError, ValidationError
from protoflow.metrics.map_quality import topographic_error
from protoflow.testing import blobs, parametrize_with_checks
from protoflow.topology import Graph, NoTopology


@parametrize_with_checks(
    [
        functools.partial(KMeansPrototypes, n_units=10, topology=topology, algorithm=algorithm, batch_size=32)
        for algorithm in ("lloyd", "minibatch")
        for topology in ("none", "knn")
    ]
)
def test_conformance(component, check):
    check(component)


def test_registered_through_entry_point():
    model = protoflow.create_model("kmeans", n_units=5, topology="knn", k=2, seed=0)
    assert isinstance(model, KMeansPrototypes)
    assert model.get_params()["k"] == 2


def test_lloyd_result_is_a_kmeans_fixed_point():
    X = blobs(400, 3, 4, seed=3)
    m = KMeansPrototypes(n_units=6, algorithm="lloyd", seed=0).fit(X)
    b = m.bmu(X)
    for k in range(6):
        assert np.allclose(m.prototypes_[k], X[b == k].mean(axis=0), atol=1e-6)
    d2 = ((X[:, None] - m.prototypes_[None]) ** 2).sum(-1).min(axis=1)
    assert m.inertia_ == pytest.approx(d2.sum(), rel=1e-6)
    assert isinstance(m.topology_, NoTopology) and m.algorithm_ == "lloyd"


def test_auto_switches_to_minibatch_above_the_threshold():
    X = blobs(300, 2, 3, seed=0)
    assert KMeansPrototypes(n_units=5, minibatch_threshold=299, seed=0).fit(X).algorithm_ == "minibatch"
    assert KMeansPrototypes(n_units=5, minibatch_threshold=300, seed=0).fit(X).algorithm_ == "lloyd"


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 15), k=st.integers(1, 5))
def test_knn_graph_links_each_unit_to_its_nearest(seed, n, k):
    k = min(k, n - 1)
    W = np.random.default_rng(seed).normal(size=(n, 3))
    g = knn_graph(W, k)
    D = np.sqrt(((W[:, None] - W[None]) ** 2).sum(-1))
    expected = set()
    for i in range(n):
        others = sorted((j for j in range(n) if j != i), key=lambda j: (D[i, j], j))
        expected |= {tuple(sorted((i, j))) for j in others[:k]}
    assert {tuple(e) for e in g.edges.tolist()} == expected
    assert np.bincount(g.edges.ravel(), minlength=n).min() >= k


def test_topology_decides_which_metrics_apply():
    X = blobs(200, 3, 3, seed=1)
    plain = KMeansPrototypes(n_units=8, seed=0).fit(X)
    with pytest.raises(MetricNotApplicableError, match="topology"):
        topographic_error(plain, X)
    graph = KMeansPrototypes(n_units=8, topology="knn", k=3, seed=0).fit(X)
    assert isinstance(graph.topology_, Graph)
    assert np.array_equal(graph.prototypes_, plain.prototypes_)  # same seed, same centres
    assert 0.0 <= topographic_error(graph, X) <= 1.0


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"n_units": 0}, "n_units"),
        ({"topology": "grid"}, "topology"),
        ({"topology": "knn", "k": 8}, "k"),
        ({"topology": "knn", "k": 0}, "k"),
        ({"algorithm": "elkan"}, "algorithm"),
        ({"max_iter": 0}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"batch_size": 0}, "batch_size"),
        ({"minibatch_threshold": -1}, "minibatch_threshold"),
        ({"seed": "abc"}, "seed"),
    ],
)
def test_bad_parameters_name_the_parameter(params, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        KMeansPrototypes(**{"n_units": 8, **params}).fit(blobs(50, 2, 2))


def test_fewer_samples_than_units():
    with pytest.raises(ValidationError, match="n_units=20"):
        KMeansPrototypes(n_units=20).fit(blobs(10, 2, 2))
    X = blobs(50, 2, 2)
    X[0, 1] = np.inf
    with pytest.raises(ValidationError, match="infinity"):
        KMeansPrototypes(n_units=4).fit(X)
