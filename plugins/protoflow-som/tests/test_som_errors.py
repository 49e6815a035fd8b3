"""Bad input to "som" and "toroidal-som": each raises a protoflow error that names the culprit
(the data argument or the parameter) and says how to fix it."""

import numpy as np
import pytest
from protoflow_som import SOM, ToroidalSOM

import protoflow
from protoflow.errors import ConfigError, UnknownPluginError, ValidationError
from protoflow.testing import blobs


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
@pytest.mark.parametrize("cls", [SOM, ToroidalSOM])
def test_non_finite_data(cls, value, word):
    X = blobs(40, 3, 2)
    X[5, 2] = value
    with pytest.raises(ValidationError, match=rf"^X contains {word}\..*impute"):
        cls(rows=2, cols=2).fit(X)
    fitted = cls(rows=2, cols=2, epochs=1).fit(blobs(40, 3, 2))
    with pytest.raises(ValidationError, match=rf"^X contains {word}"):
        fitted.partial_fit(X)
    with pytest.raises(ValidationError, match=rf"^Z contains {word}"):
        fitted.bmu(X)


def test_wrong_width_and_shape():
    m = SOM(rows=2, cols=2, epochs=1).fit(blobs(40, 3, 2))
    for call, name in [(m.partial_fit, "X"), (m.bmu, "Z"), (m.activations, "Z")]:
        with pytest.raises(ValidationError, match=rf"^{name} has 2 features, but 3 were expected"):
            call(np.ones((4, 2)))
    with pytest.raises(ValidationError, match=r"2-dimensional.*reshape"):
        SOM(rows=2, cols=2).fit(np.ones(10))
    with pytest.raises(ValidationError, match="0 sample"):
        SOM(rows=2, cols=2).fit(np.ones((0, 3)))


def test_fewer_samples_than_units():
    """init='random' cannot draw more distinct samples than there are: an error naming init and
    the map size. init='pca' (the default) still trains, on purpose: the batch rule gives every
    unit a neighbourhood average (`test_som_model.test_toroidal_neighbourhood_wraps` relies on it)."""
    X = blobs(10, 3, 2)
    with pytest.raises(ValidationError, match=r"10 samples but init='random' draws 16.*rows \* cols = 4 \* 4"):
        SOM(rows=4, cols=4, init="random").fit(X)
    with pytest.raises(ValidationError, match="init='pca' needs at least 2 samples"):
        SOM(rows=4, cols=4).fit(X[:1])
    assert np.isfinite(SOM(rows=4, cols=4, epochs=2).fit(X).prototypes_).all()


@pytest.mark.parametrize("cls", [SOM, ToroidalSOM])
@pytest.mark.parametrize(
    "params, name",
    [({"rows": 0}, "rows"), ({"cols": 0}, "cols"), ({"rows": -3}, "rows"), ({"rows": 2.5}, "rows"),
     ({"rows": 0, "cols": 0}, "rows"), ({"kind": "triangle"}, "kind"), ({"kind": None}, "kind"),
     ({"toroidal": "no"}, "toroidal"), ({"algorithm": "sgd"}, "algorithm"), ({"seed": "x"}, "seed")],
)
def test_bad_map_parameters_name_the_parameter(cls, params, name):
    with pytest.raises(ConfigError, match=rf"parameter '{name}'"):
        cls(**{"rows": 2, "cols": 2, **params}).fit(blobs(40, 3, 2))


def test_unknown_names_through_the_registry():
    with pytest.raises(UnknownPluginError, match=r"unknown model 'somm'.*Did you mean 'som'"):
        protoflow.create_model("somm")
    with pytest.raises(ConfigError, match=r"parameter 'kind' must be one of 'rect', 'hex'; got 'hexagon'"):
        protoflow.create_model("toroidal-som", rows=2, cols=2, kind="hexagon").fit(blobs(40, 3, 2))

