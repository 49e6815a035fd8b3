"""The template plugin passes the core's conformance kit (one test per check) and registers its
model, tested in an isolated registry whether or not the plugin is installed."""

import functools

import pytest
from protoflow_example import RandomSamples

import protoflow
from protoflow.testing import check_prototype_model, parametrize_with_checks

COMPONENTS = [
    functools.partial(RandomSamples, n_units=12),
    functools.partial(RandomSamples, n_units=12, topology="knn"),
]


@parametrize_with_checks(COMPONENTS)
def test_conformance(example_registry, component, check):
    """One test per component and check, e.g. ``RandomSamples(n_units=12)-check_n_features_in``."""
    check(component)


def test_registered_under_its_name(example_registry):
    assert set(example_registry.models) == {"random-samples"}
    model = protoflow.create_model("random-samples", n_units=3, seed=0)
    assert isinstance(model, RandomSamples) and model.n_units == 3


def test_conforms_when_built_through_the_registry(example_registry):
    """Everything at once, the model made by name (the way pipelines make it)."""
    check_prototype_model(lambda seed: protoflow.create_model("random-samples", n_units=12, seed=seed))


def test_too_few_samples_is_a_clear_error(example_registry):
    model = protoflow.create_model("random-samples", n_units=50)
    with pytest.raises(protoflow.ValidationError, match="at least 50"):
        model.fit([[0.0, 1.0]] * 10)
