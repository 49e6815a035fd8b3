"""Collections of checks: all of them for a kind, per component, as pytest parameters, and the
"run everything" functions. Documented in `protoflow.testing`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from protoflow.testing import _harness as h
from protoflow.testing import controller_checks, encoder_checks, model_checks

if TYPE_CHECKING:
    import pytest

_MODULES = {"model": model_checks, "encoder": encoder_checks, "controller": controller_checks}


def _options(
    data: np.ndarray | None, targets: Sequence[Any] | None, models: Mapping[str, Any] | None, steps: int
) -> h.Options:
    return h.Options(
        data=None if data is None else np.asarray(data, dtype=np.float64),
        targets=None if targets is None else tuple(targets),
        models=models,
        steps=steps,
    )


def all_checks(
    kind: str,
    *,
    data: np.ndarray | None = None,
    targets: Sequence[Any] | None = None,
    models: Mapping[str, Any] | None = None,
    steps: int = 5,
) -> tuple[h.Check, ...]:
    """Every check for one kind of component, in the order the kit runs them.

    Parameters
    ----------
    kind : {"model", "encoder", "controller"}
    data : array-like of shape (n_samples, n_features), optional
        Training data for models and encoders (float64). Defaults to small Gaussian blobs:
        (90, 4) for models, (80, 6) for encoders.
    targets : sequence, optional
        Controllers: the targets to steer toward (unit index, list of units, None). By default
        one per kind the controller declares in ``supported_targets``: "unit" -> 7,
        "cluster" -> [3, 7, 8], "none" -> None.
    models : mapping of str to fitted model, optional
        Controllers: the models to run on; by default three 20-unit `PrototypeSet` models in 3
        dimensions (lattice, graph, no topology).
    steps : int, default 5
        Controllers: the number of steps of each run.

    Returns
    -------
    tuple of Check
        ``check(component)`` runs one check; ``check.name`` is its name (e.g.
        ``"check_fit_returns_self"``).
    """
    if kind not in _MODULES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {h.KINDS}")
    options = _options(data, targets, models, steps)
    return tuple(h.Check(f.__name__, kind, f, options) for f in _MODULES[kind].CHECKS)


def check_names(kind: str) -> tuple[str, ...]:
    """The names of every check for `kind` ("model", "encoder" or "controller"), in order."""
    return tuple(c.name for c in all_checks(kind))


def iter_checks(
    components: Iterable[Any],
    *,
    kind: str | None = None,
    data: np.ndarray | None = None,
    targets: Sequence[Any] | None = None,
    models: Mapping[str, Any] | None = None,
    steps: int = 5,
) -> Iterator[tuple[Any, h.Check]]:
    """Every (component, check) pair, for running the kit without pytest::

        for component, check in iter_checks([MySOM, lambda seed: Other(seed=seed)]):
            check(component)

    Parameters
    ----------
    components : iterable
        Classes, ``functools.partial(cls, **params)``, factories ``factory(seed)`` or unfitted
        instances (see `protoflow.testing`). An item may also be a pair
        ``(component, {"targets": ..., ...})`` giving that component its own options (any of
        kind, data, targets, models, steps), e.g. controllers whose modes accept different
        targets.
    kind : {"model", "encoder", "controller"}, optional
        Detected from the protocols when omitted (`detect_kind`).
    data, targets, models, steps
        As in `all_checks`; each applies to the kinds it concerns.

    Returns
    -------
    iterator of (component, Check)
        The component (without its options), and a check to call on it.
    """
    common = {"kind": kind, "data": data, "targets": targets, "models": models, "steps": steps}
    for item in components:
        component, own = _split(item)
        opts = {**common, **own}
        k = opts.pop("kind") or detect_kind(component)
        for check in all_checks(k, **opts):
            yield component, check


_OPTION_NAMES = frozenset({"kind", "data", "targets", "models", "steps"})


def _split(item: Any) -> tuple[Any, dict[str, Any]]:
    """An item of `components`: a component, or (component, {option: value})."""
    if not isinstance(item, tuple):
        return item, {}
    if len(item) != 2 or not isinstance(item[1], Mapping):
        raise TypeError("a (component, options) pair needs a dict of options as its second item")
    unknown = set(item[1]) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}; expected some of {sorted(_OPTION_NAMES)}")
    return item[0], dict(item[1])


def detect_kind(component: Any) -> str:
    """"model", "encoder" or "controller": which protocol a (fresh) instance satisfies.

    A controller has ``step`` and ``run``; a model ``fit``, ``activations`` and ``bmu`` (its data
    attributes exist only after fit); an encoder ``fit``, ``encode`` and ``decode``. Raises
    ``TypeError`` when none applies or the component cannot be built.
    """
    return h.detect_kind(component)


def parametrize_with_checks(
    components: Iterable[Any],
    *,
    kind: str | None = None,
    ids: Sequence[str] | None = None,
    data: np.ndarray | None = None,
    targets: Sequence[Any] | None = None,
    models: Mapping[str, Any] | None = None,
    steps: int = 5,
) -> pytest.MarkDecorator:
    """A ``pytest.mark.parametrize`` decorator: one test per component and check.

    The decorated test takes the arguments ``component`` and ``check`` and calls
    ``check(component)``::

        @parametrize_with_checks([MySOM, functools.partial(MySOM, rows=3, cols=4)])
        def test_conformance(component, check):
            check(component)

    Test ids name the component and the check, e.g. ``MySOM-check_fit_returns_self`` (the
    component as its class name and the parameters that differ from the defaults, the seed
    left out). Imports pytest, which the rest of `protoflow.testing` does not need.

    Parameters
    ----------
    components : iterable
        As in `iter_checks` (components, or (component, options) pairs).
    kind : {"model", "encoder", "controller"}, optional
        Detected from the protocols when omitted.
    ids : sequence of str, optional
        One name per component, instead of the generated ones.
    data, targets, models, steps
        As in `all_checks`.

    Returns
    -------
    pytest.MarkDecorator
        Parametrizes ``component, check``.
    """
    import pytest

    components = list(components)
    if ids is not None and len(ids) != len(components):
        raise ValueError(f"{len(ids)} ids for {len(components)} components")
    params = []
    for i, item in enumerate(components):
        label = ids[i] if ids is not None else h.Subject(_split(item)[0]).label
        for component, check in iter_checks(
            [item], kind=kind, data=data, targets=targets, models=models, steps=steps
        ):
            params.append(pytest.param(component, check, id=f"{label}-{check.name}"))
    return pytest.mark.parametrize(("component", "check"), params)


def _run_all(kind: str, component: Any, params: Mapping[str, Any] | None, **options: Any) -> None:
    h.Subject(component, params)  # a wrong kind of argument is a TypeError, not a failed check
    for check in all_checks(kind, **options):
        check(component, params)


def check_prototype_model(
    component: Any, *, params: Mapping[str, Any] | None = None, data: np.ndarray | None = None
) -> None:
    """Run every model check (`all_checks` ``("model")``) on `component`.

    Parameters
    ----------
    component : class, factory or instance
        A class is built as ``cls(**params, seed=seed)`` when its constructor takes ``seed``,
        else ``cls(**params)``; a factory as ``factory(seed)``; an instance is cloned.
    params : mapping, optional
        Constructor parameters, for a class or an instance.
    data : array-like of shape (n_samples, n_features), optional
        Training data; default 90 points in 4 dimensions.

    Raises
    ------
    AssertionError
        Naming the first check that failed, e.g. ``[MySOM] check_n_features_in failed: ...``.
    """
    _run_all("model", component, params, data=data)


def check_encoder(
    component: Any, *, params: Mapping[str, Any] | None = None, data: np.ndarray | None = None
) -> None:
    """Run every encoder check (`all_checks` ``("encoder")``) on `component`.

    Parameters
    ----------
    component : class, factory or instance
        As in `check_prototype_model`.
    params : mapping, optional
        Constructor parameters, for a class or an instance.
    data : array-like of shape (n_samples, n_inputs), optional
        Training data; default 80 points in 6 dimensions.

    Raises
    ------
    AssertionError
        Naming the first check that failed.
    """
    _run_all("encoder", component, params, data=data)


def check_controller(
    component: Any,
    *,
    params: Mapping[str, Any] | None = None,
    targets: Sequence[Any] | None = None,
    models: Mapping[str, Any] | None = None,
    steps: int = 5,
) -> None:
    """Run every controller check (`all_checks` ``("controller")``) on `component`.

    Parameters
    ----------
    component : class, factory or instance
        As in `check_prototype_model`.
    params : mapping, optional
        Constructor parameters, for a class or an instance.
    targets : sequence, optional
        The targets to exercise; by default derived from the controller's ``supported_targets``
        ("unit" -> 7, "cluster" -> [3, 7, 8], "none" -> None; ``("unit",)`` when undeclared).
    models : mapping of str to fitted model, optional
        Models to run on; default three 20-unit `PrototypeSet` models in 3 dimensions.
    steps : int, default 5
        Steps per run.

    Raises
    ------
    AssertionError
        Naming the first check that failed.
    """
    _run_all("controller", component, params, targets=targets, models=models, steps=steps)
