"""Declared parameters: a component states its constructor parameters once, as a `Schema`, and
both its `fit` and ``protoflow config validate`` check values against that one declaration.

Part of the public plugin API. A component declares the schema as the class attribute
``parameters``; `protoflow.base.ParamsMixin.validated_params` checks the current values::

    from protoflow.params import Choice, Float, Int, Schema, Seed

    class MySOM(protoflow.PrototypeModelBase):
        parameters = Schema(
            rows=Int(minimum=1, doc="map height"),
            cols=Int(minimum=1, doc="map width"),
            t_max=Float(minimum=0.0, strict_min=True, optional=True),
            kind=Choice("rect", "hex"),
            seed=Seed(),
        )

        def __init__(self, rows=10, cols=10, t_max=None, kind="rect", seed=None): ...

        def fit(self, X, y=None):
            p = self.validated_params()   # {"rows": 10, ...}, or ConfigError naming the key
            ...

What a schema can check is the value alone (type, range, choices). Checks that need the data
(an image shape against the number of features) stay in `fit`. The conformance kit checks
that a declared schema names exactly the constructor's parameters and accepts its defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from protoflow.errors import ConfigError
from protoflow.validation import check_bool, check_float, check_int, check_seed

__all__ = [
    "Any_",
    "Bool",
    "Choice",
    "Device",
    "Float",
    "Int",
    "Param",
    "Schema",
    "Seed",
    "Str",
    "declared_schema",
]


@attrs.frozen
class Param:
    """How one parameter's value is checked.

    Attributes
    ----------
    check : ``check(name, value) -> value``: returns the (possibly normalised) value or raises
        `ConfigError` naming the parameter.
    optional : None is accepted (and returned) without calling `check`.
    doc : a one-line description, for generated documentation and error messages.
    """

    check: Callable[[str, Any], Any]
    optional: bool = False
    doc: str = ""

    def validate(self, name: str, value: Any) -> Any:
        """The checked value of parameter `name`; `ConfigError` when it is not acceptable."""
        if value is None and self.optional:
            return None
        if value is None:
            raise ConfigError(f"parameter {name!r} may not be None.")
        return self.check(name, value)


def Int(minimum: int | None = None, maximum: int | None = None, *, optional: bool = False,
        doc: str = "") -> Param:
    """An integer in [minimum, maximum] (bools refused)."""
    return Param(lambda n, v: check_int(n, v, minimum=minimum, maximum=maximum), optional, doc)


def Float(minimum: float | None = None, maximum: float | None = None, *, strict_min: bool = False,
          strict_max: bool = False, optional: bool = False, doc: str = "") -> Param:
    """A finite real number within the bounds (``strict_*``: the bound itself is excluded)."""
    return Param(lambda n, v: check_float(n, v, minimum=minimum, maximum=maximum,
                                          strict_min=strict_min, strict_max=strict_max), optional, doc)


def Bool(*, optional: bool = False, doc: str = "") -> Param:
    """True or False only (1 and 0 are refused)."""
    return Param(check_bool, optional, doc)


def Str(*, optional: bool = False, doc: str = "") -> Param:
    """Any string."""
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"parameter {name!r} must be a string, got {value!r}.")
        return value

    return Param(check, optional, doc)


def Choice(*choices: Any, optional: bool = False, doc: str = "") -> Param:
    """One of `choices` (compared by type as well as value, so True never passes for 1)."""
    def check(name: str, value: Any) -> Any:
        if not any(type(value) is type(c) and value == c for c in choices):
            listed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"parameter {name!r} must be one of {listed}; got {value!r}.")
        return value

    return Param(check, optional, doc)


def Seed(*, doc: str = "seeds every random choice") -> Param:
    """A non-negative integer or None (a numpy Generator is accepted too)."""
    def check(name: str, value: Any) -> Any:
        check_seed(value)
        return value

    return Param(check, True, doc)


def Device(*, doc: str = '"cpu", "cuda", "cuda:N" or "auto"') -> Param:
    """A torch device name, checked without importing torch (`protoflow.backend.check_device`)."""
    from protoflow.backend import check_device

    return Param(lambda n, v: check_device(v), True, doc)


def Any_(check: Callable[[str, Any], Any] | None = None, *, optional: bool = True,
         doc: str = "") -> Param:
    """A parameter checked by `check` (or not at all: arrays, callables, nested settings)."""
    return Param(check or (lambda n, v: v), optional, doc)


class Schema(Mapping[str, Param]):
    """The declared parameters of a component, by name (an ordered, read-only mapping)."""

    def __init__(self, **params: Param) -> None:
        for name, p in params.items():
            if not isinstance(p, Param):
                raise TypeError(f"Schema parameter {name!r} must be a Param (Int(), Float(), ...)")
        self._params = dict(params)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Schema({', '.join(self._params)})"

    def subset(self, names: Iterable[str]) -> dict[str, Param]:
        """The declarations of `names`, for a component that shares another's parameters
        (``Schema(rows=Int(1), **other.parameters.subset(["lr", "seed"]))``)."""
        return {n: self._params[n] for n in names}

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared value checked, in declaration order; the first problem raises
        `ConfigError`. Keys of `values` that the schema does not declare are refused too."""
        unknown = sorted(set(values) - set(self._params))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                              f"declared: {', '.join(self._params)}.")
        return {k: self._params[k].validate(k, v) for k, v in values.items()}

    def issues(self, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Every problem at once as (parameter, message) pairs (for ``config validate``);
        keys the schema does not declare are left to the caller."""
        out = []
        for key, value in values.items():
            if key in self._params:
                try:
                    self._params[key].validate(key, value)
                except ConfigError as exc:
                    out.append((key, str(exc)))
        return out

    def mismatch(self, factory: Callable[..., Any]) -> list[str]:
        """How the schema and the factory's keyword parameters differ (empty: they agree)."""
        try:
            sig = inspect.signature(factory)
        except (TypeError, ValueError):
            return ["the factory has no signature to compare with"]
        ctor = [p.name for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        out = [f"constructor parameter {n!r} is not declared" for n in ctor if n not in self._params]
        out += [f"declared parameter {n!r} is not a constructor parameter"
                for n in self._params if n not in ctor]
        defaults = {p.name: p.default for p in sig.parameters.values()
                    if p.name in self._params and p.default is not p.empty}
        for key, message in self.issues(defaults):
            out.append(f"the default of {key!r} fails its own declaration: {message}")
        return out


def declared_schema(factory: Any) -> Schema | None:
    """The `Schema` a component class (or an instance) declares as ``parameters``, or None."""
    schema = getattr(factory, "parameters", None)
    return schema if isinstance(schema, Schema) else None
