"""The conformance kit: the checks every model, encoder and controller must pass.

Plugins (built-in and third-party) call these from their tests, the way scikit-learn
estimators call ``check_estimator``::

    from protoflow.testing import check_prototype_model
    def test_conformance():
        check_prototype_model(lambda seed: MySOM(rows=3, cols=4, seed=seed))

Each function takes a *factory*: a callable ``factory(seed) -> unfitted object``. Each runs
every check and raises ``AssertionError`` naming the check that failed. Pass `data` to use your
own small training set (float64, shape (n_samples, n_features)).
"""

from __future__ import annotations

from protoflow.testing._checks import (
    check_controller,
    check_encoder,
    check_prototype_model,
)
from protoflow.testing.data import blobs, labelled_blobs

__all__ = [
    "blobs",
    "check_controller",
    "check_encoder",
    "check_prototype_model",
    "labelled_blobs",
]
