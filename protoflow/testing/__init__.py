"""The conformance kit: the checks every model, encoder and controller must pass.

Plugins (built-in and third-party) run it from their tests, the way scikit-learn estimators use
``parametrize_with_checks``: one pytest test per component and check::

    import functools
    from protoflow.testing import parametrize_with_checks

    @parametrize_with_checks([MySOM, functools.partial(MySOM, rows=3, cols=4)])
    def test_conformance(component, check):
        check(component)

or all checks at once (`check_prototype_model`, `check_encoder`, `check_controller`), which
raise ``AssertionError`` naming the first check that failed::

    check_prototype_model(MySOM, params={"rows": 3, "cols": 4})

What a component may be, and how seeds reach it (the kit builds a fresh instance for every
check, and two with the same seed to test determinism):

* a class: built as ``cls(**params, seed=seed)`` when its constructor has a ``seed``
  parameter, else ``cls(**params)`` (a ``seed`` in `params` is replaced by the kit's);
* ``functools.partial(cls, **params)``: the same, with the partial's keywords as params;
* an unfitted instance: cloned as a class with ``params = instance.get_params()``;
* any other callable: a factory, called as ``factory(seed)`` and returning a new unfitted
  instance (it takes no params).

Models get training data of shape (90, 4) and encoders (80, 6) (float64 blobs) unless `data`
is given; controllers run on three 20-unit `PrototypeSet` models in 3 dimensions toward the
targets their ``supported_targets`` declares. Every component must expose ``get_params`` and
``set_params`` (scikit-learn's parameter protocol, as `protoflow.ParamsMixin` gives it).

`isolated_registry` and `registry_fixture` give tests a registry holding only the plugin under
test, whether or not it is installed. pytest is imported only by `parametrize_with_checks` and
`registry_fixture`: ``import protoflow.testing`` works without it.
"""

from __future__ import annotations

from protoflow.testing._harness import Check
from protoflow.testing._suite import (
    all_checks,
    check_controller,
    check_encoder,
    check_names,
    check_prototype_model,
    detect_kind,
    iter_checks,
    parametrize_with_checks,
)
from protoflow.testing.data import blobs, labelled_blobs, with_missing
from protoflow.testing.fixtures import isolated_registry, registry_fixture

__all__ = [
    "Check",
    "all_checks",
    "blobs",
    "check_controller",
    "check_encoder",
    "check_names",
    "check_prototype_model",
    "detect_kind",
    "isolated_registry",
    "iter_checks",
    "labelled_blobs",
    "parametrize_with_checks",
    "registry_fixture",
    "with_missing",
]
