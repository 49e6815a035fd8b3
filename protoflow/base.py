"""Optional base classes that give plugins the shared behaviour for free.

Nothing requires them (the contracts are the protocols in `protoflow.protocols`), but they
provide scikit-learn style ``get_params``/``set_params``, validated `activations`/`bmu`, the
fitted-state hooks used by `protoflow.save`, and `run` built from `step` for controllers.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from protoflow import inversion
from protoflow.protocols import Trajectory
from protoflow.topology import Topology, topology_from_dict
from protoflow.validation import check_array, check_is_fitted

_JSON_SCALARS = (bool, int, float, str, type(None))


class ParamsMixin:
    """scikit-learn's parameter protocol: the constructor's keyword arguments are parameters."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ may not take *args or **kwargs")
            names.append(p.name)
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def validated_params(self) -> dict[str, Any]:
        """The current parameters checked against the class's declared ``parameters``
        (a `protoflow.params.Schema`); `ConfigError` naming the first bad one. Without a
        declaration, the parameters are returned unchecked."""
        from protoflow.params import declared_schema

        schema = declared_schema(type(self))
        params = self.get_params()
        return schema.validate(params) if schema is not None else params

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters; returns self."""
        from protoflow.errors import ConfigError

        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(
                    f"{type(self).__name__} has no parameter {key!r}; valid: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            if isinstance(value, np.ndarray) or (value is not default and value != default):
                r = "array(...)" if isinstance(value, np.ndarray) else repr(value)
                shown.append(f"{name}={r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- persistence hooks (see protoflow.io) ---------------------------------------------

    def _fitted_attribute_names(self) -> list[str]:
        return [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]

    def _protoflow_get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Fitted state as (JSON-able dict, arrays). Override for state that is neither."""
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for name in self._fitted_attribute_names():
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                arrays[name] = value
            elif isinstance(value, Topology):
                meta[name] = {"__topology__": value.to_dict()}
            elif isinstance(value, np.generic):
                meta[name] = value.item()
            elif isinstance(value, _JSON_SCALARS) or _is_json_list(value):
                meta[name] = value
            else:
                raise TypeError(
                    f"{type(self).__name__}.{name} ({type(value).__name__}) cannot be saved by "
                    f"the default state hook; override _protoflow_get_state/_protoflow_set_state"
                )
        return meta, arrays

    def _protoflow_set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what `_protoflow_get_state` returned."""
        for name, value in meta.items():
            if isinstance(value, dict) and "__topology__" in value:
                value = topology_from_dict(value["__topology__"])
            setattr(self, name, value)
        for name, value in arrays.items():
            setattr(self, name, value)


def _is_json_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(v, _JSON_SCALARS) or _is_json_list(v) for v in value
    )


class PrototypeModelBase(ParamsMixin):
    """Base for prototype models: subclasses implement `fit` (setting ``prototypes_``,
    ``topology_`` and ``n_features_in_``); activations and BMUs come from here."""

    #: a model that learns its own encoder sets this (after fit) to that encoder
    encoder: Any = None

    def _validate_latent(self, Z: Any, name: str = "Z") -> np.ndarray:
        check_is_fitted(self, ["prototypes_"])
        return check_array(
            Z, name=name, n_features=self.prototypes_.shape[1], allow_float32=True
        )

    def activations(self, Z: Any) -> np.ndarray:
        """Squared distances to every prototype.

        Z : array-like of shape (n_samples, n_features) -> ndarray (n_samples, n_units)
        """
        Z = self._validate_latent(Z)
        return inversion.activations(Z, self.prototypes_)

    def bmu(self, Z: Any) -> np.ndarray:
        """Best-matching unit of each point. Z (n_samples, n_features) -> (n_samples,) ints."""
        Z = self._validate_latent(Z)
        return inversion.bmu(Z, self.prototypes_)

    # scikit-learn vocabulary
    def predict(self, Z: Any) -> np.ndarray:
        """Alias of `bmu` (scikit-learn's clustering vocabulary)."""
        return self.bmu(Z)

    def transform(self, Z: Any) -> np.ndarray:
        """Alias of `activations`: note these are *squared* distances."""
        return self.activations(Z)

    def inverter(self, **kwargs: Any) -> inversion.Inverter:
        """An `Inverter` for this model's prototypes (factorised once)."""
        check_is_fitted(self, ["prototypes_"])
        return inversion.Inverter(self.prototypes_, **kwargs)


class EncoderBase(ParamsMixin):
    """Base for encoders: subclasses implement fit/encode/decode."""

    def fit_encode(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``encode(X)``: X (n_samples, n_inputs) -> (n_samples, n_features)."""
        return self.fit(X).encode(X)  # type: ignore[attr-defined]


class ControllerBase(ParamsMixin):
    """Base for controllers: subclasses implement `step`; `run` repeats it.

    Subclasses may implement ``_step_with_info(model, z, target, state)`` returning
    ``(z_next, info_dict)`` to record per-step information; `step` then calls it.

    ``supported_targets`` declares what the controller can steer toward; the pipeline, the CLI
    and the conformance kit read it: ``"unit"`` (an int unit index), ``"cluster"`` (a list of
    unit indices), ``"none"`` (``target=None``: free motion).
    """

    #: what `run` accepts as a target: any of "unit", "cluster", "none"
    supported_targets: tuple[str, ...] = ("unit",)

    def _start(self, model: Any, z0: np.ndarray, target: Any) -> Any:
        """Per-trajectory state (e.g. a seeded random generator). Override as needed."""
        return None

    def _step_with_info(
        self, model: Any, z: np.ndarray, target: Any, state: Any
    ) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    def step(self, model: Any, z: Any, target: Any) -> np.ndarray:
        """One step from z (n_features,) or a batch (n, n_features); returns the next point(s)."""
        z = self._check_point(model, z)
        return self._step_with_info(model, z, target, self._start(model, z, target))[0]

    def _check_point(self, model: Any, z: Any) -> np.ndarray:
        check_is_fitted(model, ["prototypes_"])
        n_features = model.prototypes_.shape[1]
        if np.ndim(z) == 1:
            return check_array(z, name="z", ndim=1, n_features=n_features)
        return check_array(z, name="z", n_features=n_features)

    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        """Take `steps` steps from z0 (n_features,) or a batch (n, n_features)."""
        from protoflow.validation import check_int

        steps = check_int("steps", steps, minimum=0)
        z = self._check_point(model, z0)
        state = self._start(model, z, target)
        points = [z]
        info = []
        for _ in range(steps):
            z, step_info = self._step_with_info(model, z, target, state)
            points.append(z)
            info.append(step_info)
        P = np.stack(points, axis=-2)
        flat = P.reshape(-1, P.shape[-1])
        bmus = inversion.bmu(flat, model.prototypes_).reshape(P.shape[:-1])
        name = getattr(self, "name", type(self).__name__)
        return Trajectory(points=P, bmus=bmus, info=info, controller=name, target=target)
