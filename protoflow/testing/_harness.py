"""The machinery the checks share: how a component under test becomes fresh instances, what a
check is, and small assertion helpers. See `protoflow.testing` for the public API."""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from protoflow.hookspecs import hookimpl
from protoflow.protocols import Controller, Encoder
from protoflow.registry import get_registry

#: the kinds of component the kit checks
KINDS = ("model", "encoder", "controller")

#: what a controller may declare in ``supported_targets``, and the target the kit uses for each
TARGETS_FOR_KIND: dict[str, Any] = {"unit": 7, "cluster": [3, 7, 8], "none": None}

_MODEL_METHODS = ("fit", "activations", "bmu")  # PrototypeModel's methods (its data attributes
# exist only after fit, so isinstance on an unfitted model is False)


def _has_methods(obj: Any, names: tuple[str, ...]) -> bool:
    return all(callable(getattr(obj, n, None)) for n in names)


def _looks_like_component(obj: Any) -> bool:
    return (
        isinstance(obj, (Controller, Encoder))
        or _has_methods(obj, _MODEL_METHODS)
        or _has_methods(obj, ("step", "run"))
    )


def _takes_seed(cls: type) -> bool:
    try:
        return "seed" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


class Subject:
    """A component under test, normalised so every check can build fresh instances.

    ``component`` is a class, ``functools.partial(cls, **params)``, a factory
    ``factory(seed) -> instance`` or an instance (cloned through ``get_params``).
    """

    def __init__(self, component: Any, params: Mapping[str, Any] | None = None) -> None:
        self.component = component
        self.params = dict(params or {})
        self._cls: type | None = None
        self._factory: Callable[[int], Any] | None = None
        if inspect.isclass(component):
            self._cls = component
        elif (
            isinstance(component, functools.partial)
            and inspect.isclass(component.func)
            and not component.args
        ):
            self._cls = component.func
            self.params = {**component.keywords, **self.params}
        elif _looks_like_component(component):
            get_params = getattr(component, "get_params", None)
            if not callable(get_params):
                raise TypeError(
                    f"cannot clone the {type(component).__name__} instance: it has no get_params(); "
                    "pass its class or a factory ``factory(seed) -> instance`` instead"
                )
            self._cls = type(component)
            self.params = {**get_params(), **self.params}
        elif callable(component):
            if self.params:
                raise TypeError(
                    "params apply to a class (or an instance); a factory is called as factory(seed)"
                )
            self._factory = component
        else:
            raise TypeError(
                f"expected a component class, factory or instance, got {type(component).__name__}"
            )
        self._seeded = self._cls is not None and _takes_seed(self._cls)
        self._label: str | None = None

    def new(self, seed: int = 0) -> Any:
        """A fresh, unfitted instance built with `seed`."""
        if self._factory is not None:
            return self._factory(seed)
        assert self._cls is not None
        params = dict(self.params)
        if self._seeded:
            params["seed"] = seed
        return self._cls(**params)

    @property
    def label(self) -> str:
        """How messages and test ids name the component, e.g. ``SOM(rows=3,cols=4)``."""
        if self._label is None:
            try:
                self._label = component_id(self.new(0))
            except Exception:
                self._label = getattr(self._cls or self.component, "__name__", type(self.component).__name__)
        return self._label


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "array" + "x".join(map(str, value.shape)).join("()")
    text = "".join(repr(value).split())
    return text if len(text) <= 30 else text[:27] + "..."


def component_id(obj: Any) -> str:
    """The class name and the parameters that differ from their defaults (the seed left out)."""
    name = type(obj).__name__
    try:
        params = obj.get_params()
        sig = inspect.signature(type(obj)).parameters
    except Exception:
        return name
    shown = []
    for key, value in params.items():
        if key == "seed" or key not in sig:
            continue
        default = sig[key].default
        if not isinstance(value, np.ndarray) and same_value(value, default):
            continue
        shown.append(f"{key}={_short(value)}")
    return f"{name}({','.join(shown)})" if shown else name


def detect_kind(component: Any) -> str:
    """'model', 'encoder' or 'controller', from the protocols a (fresh) instance satisfies."""
    obj = component if _looks_like_component(component) and not inspect.isclass(component) else None
    if obj is None:
        try:
            obj = Subject(component).new(0)
        except Exception as exc:
            raise TypeError(
                f"could not build {component!r} to detect its kind ({type(exc).__name__}: {exc}); "
                "pass kind='model', 'encoder' or 'controller'"
            ) from exc
    found = [
        kind
        for kind, ok in (
            ("controller", isinstance(obj, Controller)),
            ("model", _has_methods(obj, _MODEL_METHODS)),
            ("encoder", isinstance(obj, Encoder)),
        )
        if ok
    ]
    if not found:
        raise TypeError(
            f"{type(obj).__name__} is neither a model (fit, activations, bmu), an encoder "
            "(fit, encode, decode) nor a controller (step, run)"
        )
    return found[0]


# -- what a check is -------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the checks run on (see `protoflow.testing.all_checks`)."""

    data: np.ndarray | None = None
    targets: tuple[Any, ...] | None = None
    models: Mapping[str, Any] | None = None
    steps: int = 5


class Check:
    """One conformance check, bound to its options; made by `protoflow.testing.all_checks`.

    ``check(component)`` builds the component (see `protoflow.testing`) and raises
    ``AssertionError`` naming the check when the component fails it. ``check.name`` is the
    check's name (``"check_fit_returns_self"``), ``check.kind`` the kind of component it checks
    ("model", "encoder" or "controller").
    """

    __slots__ = ("func", "kind", "name", "options")

    def __init__(self, name: str, kind: str, func: Callable[..., None], options: Any = None) -> None:
        self.name = name
        self.kind = kind
        self.func = func
        self.options = options if options is not None else Options()

    def __call__(self, component: Any, params: Mapping[str, Any] | None = None) -> None:
        """Run the check on `component` (a class, factory or instance; `params` for a class)."""
        subject = Subject(component, params)
        try:
            self.func(subject, self.options)
        except AssertionError as exc:
            raise AssertionError(f"[{subject.label}] {self.name} failed: {exc}") from exc
        except Exception as exc:
            raise AssertionError(
                f"[{subject.label}] {self.name} raised {type(exc).__name__}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return self.name

    @property
    def __name__(self) -> str:  # so pytest and other tools name it like a function
        """The check's name."""
        return self.name


# -- assertion helpers -----------------------------------------------------------------------


def raises(exc_type: type[BaseException], fn: Callable[[], Any], what: str) -> None:
    """Assert that ``fn()`` raises `exc_type`."""
    try:
        fn()
    except exc_type:
        return
    except Exception as exc:
        raise AssertionError(
            f"{what}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing was raised")


def bad_inputs(X: np.ndarray) -> dict[str, np.ndarray]:
    """Variants of X (n, d) that must be refused: NaN, inf, wrong width (d + 1), empty."""
    nan = X.copy()
    nan[0, 0] = np.nan
    inf = X.copy()
    inf[1, -1] = np.inf
    return {
        "NaN": nan,
        "inf": inf,
        "wrong width": np.hstack([X, X[:, :1]]),
        "empty": X[:0],
    }


def same_value(a: Any, b: Any) -> bool:
    """Strict equality for parameter values: same type, equal value; arrays by dtype, shape
    and ``np.array_equal`` (NaN equal to NaN); containers element by element."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a and b != b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return a is b


def params_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """'name: old -> new' for every parameter that differs (or appears or disappears)."""
    out = []
    for key in sorted(set(before) | set(after), key=str):
        if key not in after:
            out.append(f"{key} disappeared")
        elif key not in before:
            out.append(f"{key} appeared")
        elif not same_value(before[key], after[key]):
            a, b = before[key], after[key]
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape:
                out.append(f"{key}: the values of {_short(a)} changed")
            else:
                out.append(f"{key}: {_short(a)} -> {_short(b)}")
    return out


def get_params_of(obj: Any) -> dict[str, Any]:
    """``obj.get_params()``, asserting that it exists and returns a dict."""
    get_params = getattr(obj, "get_params", None)
    assert callable(get_params), (
        f"{type(obj).__name__} has no get_params(); components expose their constructor "
        "parameters (subclass protoflow.ParamsMixin or a protoflow base class)"
    )
    params = get_params()
    assert isinstance(params, dict), f"get_params() returned a {type(params).__name__}, not a dict"
    return params


def _snapshot(params: dict[str, Any]) -> dict[str, Any]:
    try:
        return copy.deepcopy(params)
    except Exception:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in params.items()}


# -- fitted instances, shared between checks -------------------------------------------------


@dataclass
class FitRecord:
    """What happened when a fresh instance was fitted: the instance, what ``fit`` returned,
    and ``get_params()`` before and after (None without ``get_params``)."""

    instance: Any
    returned: Any
    params_before: dict[str, Any] | None
    params_after: dict[str, Any] | None


_CACHE_SIZE = 64
#: key -> (objects the key names by id, kept alive so ids are not reused; params; value)
_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any], Any]] = OrderedDict()


_IMPLEMENTATION = ("fit", "activations", "bmu", "encode", "decode", "step", "run", "_step_with_info")


def _fingerprint(X: np.ndarray) -> tuple[Any, ...]:
    X = np.ascontiguousarray(X)
    return X.shape, str(X.dtype), hashlib.sha1(X.tobytes()).hexdigest()


def reuse(
    subject: Subject,
    seed: int,
    key: tuple[Any, ...],
    refs: tuple[Any, ...],
    compute: Callable[[Any, dict[str, Any] | None], Any],
) -> Any:
    """``compute(subject.new(seed), params)``, or the value it gave before for the same
    component with equal parameters, the same seed and the same `key` (so checks run one by one
    do the expensive work, fitting or running, once per component).

    `refs` are the objects `key` names by ``id``. Components without ``get_params`` are never
    reused. A reused value is shared: checks must not modify it.
    """
    obj = subject.new(seed)
    get_params = getattr(obj, "get_params", None)
    params = _snapshot(get_params()) if callable(get_params) else None
    full_key = (id(subject.component), seed, *key)
    # the class and its methods too: a monkeypatched method must not get an earlier result
    impl = (type(obj), *(getattr(type(obj), n, None) for n in _IMPLEMENTATION))
    refs = (subject.component, *impl, *refs)
    if params is not None and full_key in _CACHE:
        old_refs, old_params, value = _CACHE[full_key]
        if (
            len(old_refs) == len(refs)
            and all(a is b for a, b in zip(old_refs, refs))
            and not params_diff(old_params, params)
        ):
            _CACHE.move_to_end(full_key)
            return value
    value = compute(obj, params)
    if params is not None:
        _CACHE[full_key] = (refs, params, value)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def fit_record(subject: Subject, X: np.ndarray, seed: int = 0) -> FitRecord:
    """Fit ``subject.new(seed)`` on X, reusing an earlier fit of the same component with the same
    parameters, seed and data (see `reuse`)."""

    def fit(obj: Any, before: dict[str, Any] | None) -> FitRecord:
        returned = obj.fit(X)
        after = _snapshot(obj.get_params()) if before is not None else None
        return FitRecord(obj, returned, before, after)

    return reuse(subject, seed, ("fit", _fingerprint(X)), (), fit)


def clear_cache() -> None:
    """Forget every fitted instance and trajectory kept for reuse between checks."""
    _CACHE.clear()


def latent(model: Any, X: np.ndarray) -> np.ndarray:
    """X in the model's latent space (through ``model.encoder`` for models that learn one)."""
    enc = getattr(model, "encoder", None)
    return X if enc is None else np.asarray(enc.encode(X))


# -- shared checks: the parameter contract ---------------------------------------------------


def check_get_set_params_roundtrip(subject: Subject, options: Options) -> None:
    """``set_params(**get_params())`` returns self and leaves the parameters equal."""
    obj = subject.new(0)
    params = get_params_of(obj)
    set_params = getattr(obj, "set_params", None)
    assert callable(set_params), f"{type(obj).__name__} has no set_params()"
    returned = set_params(**_snapshot(params))
    assert returned is obj, "set_params must return self"
    diff = params_diff(params, get_params_of(obj))
    assert not diff, f"set_params(**get_params()) changed parameters: {'; '.join(diff)}"


def check_clone(subject: Subject, options: Options) -> None:
    """``type(obj)(**obj.get_params())`` builds an object with equal parameters (scikit-learn's
    clone contract: the constructor stores its arguments unchanged)."""
    obj = subject.new(0)
    params = get_params_of(obj)
    clone = type(obj)(**_snapshot(params))
    diff = params_diff(params, get_params_of(clone))
    assert not diff, (
        f"{type(obj).__name__}(**get_params()) has other parameters: {'; '.join(diff)}; "
        "the constructor must store its arguments unchanged (validate them in fit)"
    )


def check_declared_parameters(subject: Subject, options: Options) -> None:
    """A declared ``parameters`` schema (`protoflow.params.Schema`) names exactly the
    constructor's parameters, accepts every default, and accepts the values the component is
    tested with (so ``config validate`` and ``fit`` agree). Components that declare nothing pass."""
    from protoflow.params import declared_schema

    obj = subject.new(0)
    cls = type(obj)
    declared = getattr(cls, "parameters", None)
    schema = declared_schema(cls)
    assert declared is None or schema is not None, (
        f"{cls.__name__}.parameters must be a protoflow.params.Schema, got {type(declared).__name__}"
    )
    if schema is None:
        return
    problems = schema.mismatch(cls)
    assert not problems, f"{cls.__name__}.parameters disagrees with __init__: {'; '.join(problems)}"
    bad = schema.issues(get_params_of(obj))
    assert not bad, f"the declaration refuses the values under test: {'; '.join(m for _, m in bad)}"


def check_fit_does_not_change_params(subject: Subject, options: Options, X: np.ndarray) -> None:
    """``fit`` leaves ``get_params()`` as it was (no parameter reassigned or changed in place)."""
    rec = fit_record(subject, X)
    assert rec.params_before is not None and rec.params_after is not None, (
        f"{type(rec.instance).__name__} has no get_params()"
    )
    diff = params_diff(rec.params_before, rec.params_after)
    assert not diff, f"fit changed constructor parameters: {'; '.join(diff)}"


def check_n_features_in(subject: Subject, options: Options, X: np.ndarray) -> None:
    """After fit, ``n_features_in_`` is an int equal to the training data's width."""
    obj = fit_record(subject, X).instance
    n = getattr(obj, "n_features_in_", None)
    assert n is not None, "fit must set n_features_in_ (the width of the training data)"
    assert isinstance(n, int | np.integer) and not isinstance(n, bool), (
        f"n_features_in_ must be an int, got {type(n).__name__}"
    )
    assert n == X.shape[1], f"n_features_in_ is {n}, the training data has {X.shape[1]} columns"


# -- save/load needs the class to be registered ----------------------------------------------


def _kebab(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "component"


@contextlib.contextmanager
def registered(obj: Any, kind: str) -> Iterator[None]:
    """Make `obj`'s class findable in the default registry (for `protoflow.save` and
    `protoflow.load`) inside the block: registered under a temporary plugin when it is not
    already, through the public `Registry.register` / `Registry.unregister`."""
    reg = get_registry()
    cls = type(obj)
    if reg.find_by_class(cls) is not None:
        yield
        return
    name = "conformance-" + _kebab(cls.__name__)

    class _ConformancePlugin:
        @hookimpl
        def protoflow_register_models(self, registry: Any) -> None:
            if kind == "model":
                registry.add_model(name, cls)

        @hookimpl
        def protoflow_register_encoders(self, registry: Any) -> None:
            if kind == "encoder":
                registry.add_encoder(name, cls)

        @hookimpl
        def protoflow_register_controllers(self, registry: Any) -> None:
            if kind == "controller":
                registry.add_controller(name, cls)

    plugin_name = reg.register(_ConformancePlugin(), name=f"_protoflow_conformance_{id(cls)}")
    try:
        yield
    finally:
        reg.unregister(plugin_name)
