"""The template plugin passes the core's conformance kit, registered without installing it."""

import pytest

import protoflow
from protoflow.testing import check_prototype_model


@pytest.fixture
def example_registered():
    from protoflow_example import plugin

    name = protoflow.register(plugin, name="example-under-test")
    yield
    protoflow.unregister(name)


@pytest.mark.parametrize("topology", ["none", "knn"])
def test_random_samples_conforms(example_registered, topology):
    check_prototype_model(
        lambda seed: protoflow.create_model("random-samples", n_units=12, topology=topology, seed=seed)
    )


def test_too_few_samples_is_a_clear_error(example_registered):
    model = protoflow.create_model("random-samples", n_units=50)
    with pytest.raises(protoflow.ValidationError, match="at least 50"):
        model.fit([[0.0, 1.0]] * 10)
