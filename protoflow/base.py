"""Optional base classes that give plugins the shared behaviour for free.

Nothing requires them (the contracts are the protocols in `protoflow.protocols`), but they
provide scikit-learn style ``get_params``/``set_params``, validated `activations`/`bmu`, the
fitted-state hooks used by `protoflow.save`, and `run` built from `step` for controllers.

Models and encoders built on them are scikit-learn estimators (``clone``, ``Pipeline``,
``GridSearchCV``, ``check_estimator``; see ``docs/sklearn.md`` and `protoflow.sklearn_compat`)
without protoflow importing scikit-learn: the estimator tags import it lazily.
"""

from __future__ import annotations

import functools
import html
import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from protoflow import inversion, sklearn_compat
from protoflow.errors import ConfigError, ValidationError
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
        """The constructor parameters and their current values.

        Parameters
        ----------
        deep : also list the parameters of parameters that are estimators themselves, as
            ``name__subname`` (scikit-learn's convention).

        Returns
        -------
        dict mapping parameter name to value.
        """
        out = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def validated_params(self) -> dict[str, Any]:
        """The current parameters checked against the class's declared ``parameters``
        (a `protoflow.params.Schema`); `ConfigError` naming the first bad one. Without a
        declaration, the parameters are returned unchecked."""
        from protoflow.params import declared_schema

        schema = declared_schema(type(self))
        params = self.get_params(deep=False)
        return schema.validate(params) if schema is not None else params

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters (``name__subname`` reaches into a parameter that is an
        estimator itself, as in scikit-learn); returns self. An unknown name raises
        `ConfigError` (a ValueError, as scikit-learn raises)."""
        valid = set(self._param_names())
        nested: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if name not in valid:
                raise ConfigError(
                    f"{type(self).__name__} has no parameter {name!r}; valid: {sorted(valid)}"
                )
            if delim:
                nested[name][sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def _changed_params(self) -> list[tuple[str, Any]]:
        """(name, value) of the parameters that differ from the constructor's defaults."""
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = sig.parameters[name].default
            if isinstance(value, np.ndarray) or (value is not default and value != default):
                shown.append((name, value))
        return shown

    def _fitted_summary(self) -> str | None:
        """A few words on the fitted state for `__repr__` (None: not fitted, or nothing to say)."""
        return None

    def _safe_fitted_summary(self) -> str | None:
        try:
            return self._fitted_summary()
        except Exception:  # a repr must never raise
            return None

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'array(...)' if isinstance(value, np.ndarray) else repr(value)}"
            for name, value in self._changed_params()
        )
        text = f"{type(self).__name__}({shown})"
        summary = self._safe_fitted_summary()
        return f"{text} [fitted: {summary}]" if summary else text

    def _repr_html_(self) -> str:
        """An HTML summary for notebooks: the class, every parameter (changed ones in bold) and
        the fitted state."""
        changed = {name for name, _ in self._changed_params()}
        rows = []
        for name, value in self.get_params(deep=False).items():
            shown = "array" + str(value.shape) if isinstance(value, np.ndarray) else repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            cell = html.escape(shown)
            if name in changed:
                cell = f"<b>{cell}</b>"
            rows.append(f"<tr><td>{html.escape(name)}</td><td><code>{cell}</code></td></tr>")
        summary = self._safe_fitted_summary()
        state = f"fitted: {html.escape(summary)}" if summary else "not fitted"
        return (
            '<div class="protoflow-estimator">'
            f"<p><b>{html.escape(type(self).__name__)}</b> <i>({state})</i></p>"
            f"<table>{''.join(rows)}</table></div>"
        )

    # -- persistence hooks (see protoflow.io) ---------------------------------------------

    #: fitted attributes that describe the training data rather than the model, left out of
    #: `protoflow.save` (pickling keeps them)
    _unsaved_attributes: tuple[str, ...] = ()

    def _fitted_attribute_names(self) -> list[str]:
        return [k for k in vars(self) if k.endswith("_") and not k.startswith("_")
                and k not in self._unsaved_attributes]

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


def _data_argument(fn: Callable[..., Any]) -> str:
    """The name of the data parameter of a fit method (the first after self)."""
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    return params[0].name if params else "X"


def _gate_fit_input(X: Any, name: str) -> None:
    """Errors in scikit-learn's words, raised before a fit that would refuse the data anyway
    (sparse, complex, 1-D, no features; ``protoflow.sklearn_compat.check_input_shape``);
    `name` is fit's own name for its data argument."""
    sklearn_compat.check_input_shape(X, name)


def _wrap_fit(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    """`fn` (a subclass's fit or partial_fit) gated by `_gate_fit_input` and followed by
    `PrototypeModelBase._record_labels`, once per outermost call (a subclass's fit calling
    ``super().fit`` records the labels once)."""
    data_name = _data_argument(fn)

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        X = args[0] if args else kwargs.get(data_name)
        depth = self.__dict__.get("_protoflow_fit_depth", 0)
        if depth == 0:
            _gate_fit_input(X, data_name)
        self.__dict__["_protoflow_fit_depth"] = depth + 1
        try:
            out = fn(self, *args, **kwargs)
        finally:
            if depth:
                self.__dict__["_protoflow_fit_depth"] = depth
            else:
                self.__dict__.pop("_protoflow_fit_depth", None)
        if depth == 0:
            self._record_labels(X)
        return out

    wrapper.__protoflow_wrapped_fit__ = True  # type: ignore[attr-defined]
    return wrapper


class PrototypeModelBase(ParamsMixin):
    """Base for prototype models: subclasses implement `fit` (setting ``prototypes_``,
    ``topology_`` and ``n_features_in_``); activations and BMUs come from here.

    It also makes every model a scikit-learn clusterer and transformer, like
    `sklearn.cluster.KMeans` (``docs/sklearn.md``): `predict`, `transform`, `fit_predict`,
    `fit_transform`, `score`, ``labels_``, ``cluster_centers_`` and estimator tags, plus
    MiniSom's vocabulary for lattice models (`winner`, `distance_map`,
    `activation_response`, `win_map`, `labels_map`).

    Spaces: `fit`, `fit_predict`, `fit_transform` and `score` take what `fit` takes (raw data for
    a model with its own ``encoder``, such as DESOM; latent points otherwise); `predict`,
    `transform`, `distances`, `activations`, `bmu` and the MiniSom methods take latent points.
    For every model without an encoder the two are the same.

    Attributes
    ----------
    labels_ : int ndarray of shape (n_samples,)
        The BMU of each training point, set by a wrapper around every subclass's `fit` (after
        `partial_fit`: those of the last chunk). Not set for chunked out-of-core input; not
        saved by `protoflow.save`.
    cluster_centers_ : ndarray of shape (n_units, n_features)
        Alias of ``prototypes_``.
    """

    #: a model that learns its own encoder sets this (after fit) to that encoder
    encoder: Any = None

    _unsaved_attributes = ("labels_",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("fit", "partial_fit"):
            fn = cls.__dict__.get(method)
            if callable(fn) and not getattr(fn, "__protoflow_wrapped_fit__", False):
                setattr(cls, method, _wrap_fit(fn, method))

    # -- validation ----------------------------------------------------------------------

    def _check_width(self, X: Any, name: str) -> None:
        """scikit-learn's message for input of the wrong width, once fitted."""
        n = getattr(self, "n_features_in_", None)
        if n is None and getattr(self, "prototypes_", None) is not None and self.encoder is None:
            n = self.prototypes_.shape[1]
        shape = getattr(X, "shape", None)
        if n is not None and isinstance(shape, tuple) and len(shape) == 2 and shape[1] != n:
            raise ValidationError(
                f"{name} has {shape[1]} features, but {type(self).__name__} is expecting {n} "
                "features as input (the width it was fitted on)."
            )

    def _validate_latent(self, Z: Any, name: str = "Z") -> np.ndarray:
        sklearn_compat.check_fitted(self, ["prototypes_"])
        sklearn_compat.check_input_shape(Z, name)
        return check_array(Z, name=name, n_features=self.prototypes_.shape[1], allow_float32=True)

    def _validate_sklearn(self, X: Any) -> np.ndarray:
        """The input of predict/transform: as `_validate_latent`, with scikit-learn's words for
        the wrong width (``X has 3 features, but SOM is expecting 4 features as input``)."""
        sklearn_compat.check_fitted(self, ["prototypes_"])
        width = self.prototypes_.shape[1]
        shape = getattr(X, "shape", None)
        if isinstance(shape, tuple) and len(shape) == 2 and shape[1] != width:
            raise ValidationError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting {width} "
                "features as input (the width of its prototypes)."
            )
        return self._validate_latent(X, "X")

    def _to_latent(self, X: Any) -> Any:
        """What `fit` took, in latent space: encoded by the model's own ``encoder`` if any."""
        return X if self.encoder is None else self.encoder.encode(X)

    def _record_labels(self, X: Any) -> None:
        """Set ``labels_`` to the BMUs of the data `fit` just took (removed for chunked data)."""
        from protoflow.scale.arrays import is_chunked

        if X is None or is_chunked(X) or getattr(self, "prototypes_", None) is None:
            self.__dict__.pop("labels_", None)
            return
        self.labels_ = self.predict(self._to_latent(X))

    def __sklearn_is_fitted__(self) -> bool:
        """True once `fit` has set ``prototypes_`` (scikit-learn's ``check_is_fitted`` asks)."""
        return getattr(self, "prototypes_", None) is not None

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags: a clusterer that also transforms (like KMeans).

        Returns ``sklearn.utils.Tags``; imports scikit-learn here, never at import of
        protoflow. Without scikit-learn (>= 1.6) raises AttributeError.
        """
        return sklearn_compat.estimator_tags("model")

    def _fitted_summary(self) -> str | None:
        W = getattr(self, "prototypes_", None)
        if W is None:
            return None
        return f"{W.shape[0]} units x {W.shape[1]} features"

    # -- the protocol ----------------------------------------------------------------------

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

    # -- scikit-learn vocabulary -----------------------------------------------------------

    def predict(self, Z: Any) -> np.ndarray:
        """The best-matching unit of each point (`bmu`; scikit-learn's clustering vocabulary).

        Z : array-like of shape (n_samples, n_features) -> int ndarray of shape (n_samples,).
        """
        return inversion.bmu(self._validate_sklearn(Z), self.prototypes_)

    def transform(self, Z: Any) -> np.ndarray:
        """*Squared* Euclidean distances to every prototype (alias of `activations`).

        Z : array-like of shape (n_samples, n_features) -> ndarray (n_samples, n_units).

        Unlike `sklearn.cluster.KMeans.transform` (plain distances) this keeps protoflow's
        activations, so ``Inverter(model.prototypes_).invert(model.transform(Z))`` gives Z
        back; `distances` gives KMeans' plain distances.
        """
        return inversion.activations(self._validate_sklearn(Z), self.prototypes_)

    def distances(self, Z: Any) -> np.ndarray:
        """Euclidean distances to every prototype (what `sklearn.cluster.KMeans.transform`
        returns): the square root of `transform`.

        Z : array-like of shape (n_samples, n_features) -> ndarray (n_samples, n_units).
        """
        return np.sqrt(self.transform(Z))

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """`fit` on X, then the BMU of each of its points (``labels_``).

        X : what `fit` takes, shape (n_samples, n_features_in_); y is ignored.
        Returns an int ndarray of shape (n_samples,).
        """
        self.fit(X, y)
        labels = getattr(self, "labels_", None)
        return labels if labels is not None else self.predict(self._to_latent(X))

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """`fit` on X, then `transform` its points (squared distances).

        X : what `fit` takes, shape (n_samples, n_features_in_); y is ignored.
        Returns an ndarray of shape (n_samples, n_units).
        """
        self.fit(X, y)
        return self.transform(self._to_latent(X))

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the quantization error: the mean Euclidean distance from each point to its
        nearest prototype, negated so that higher is better (scikit-learn's convention, as in
        ``GridSearchCV``).

        X : what `fit` takes, shape (n_samples, n_features_in_); y is ignored.
        """
        self._check_width(X, "X")
        Z = self._validate_sklearn(self._to_latent(X))
        return -float(sklearn_compat.min_distances(Z, self.prototypes_).mean())

    @property
    def cluster_centers_(self) -> np.ndarray:
        """Alias of ``prototypes_`` (scikit-learn's KMeans name), shape (n_units, n_features)."""
        check_is_fitted(self, ["prototypes_"])
        return self.prototypes_

    @cluster_centers_.setter
    def cluster_centers_(self, value: np.ndarray) -> None:
        self.prototypes_ = value

    # -- MiniSom vocabulary (lattice models) ------------------------------------------------

    def winner(self, x: Any) -> tuple[int, int]:
        """Grid coordinates (row, col) of the best-matching unit of one point.

        x : array-like of shape (n_features,). Needs a `Lattice` topology (else
        `TopologyError`); units are row-major, ``unit = row * cols + col``.
        """
        return sklearn_compat.winner(self, x)

    def distance_map(self, scaling: str = "mean") -> np.ndarray:
        """The U-matrix, shape (rows, cols): each unit's mean (``scaling="sum"``: summed)
        Euclidean distance to its lattice neighbours, divided by the largest value (as
        MiniSom normalises). Neighbours are the lattice's: 4 on "rect" (MiniSom uses 8), 6 on
        "hex", wrapped on a torus."""
        return sklearn_compat.distance_map(self, scaling)

    def activation_response(self, Z: Any) -> np.ndarray:
        """How many points each unit wins: Z (n_samples, n_features) -> int ndarray
        (rows, cols)."""
        return sklearn_compat.activation_response(self, Z)

    def win_map(self, Z: Any, return_indices: bool = False) -> dict[tuple[int, int], list[Any]]:
        """The points of Z (n_samples, n_features) grouped by the (row, col) of their BMU, as
        a ``defaultdict(list)`` of rows of Z (or of row indices with ``return_indices``)."""
        return sklearn_compat.win_map(self, Z, return_indices)

    def labels_map(self, Z: Any, y: Any) -> dict[tuple[int, int], Any]:
        """For each (row, col), a ``collections.Counter`` of the labels y (n_samples,) of the
        points of Z (n_samples, n_features) it wins."""
        return sklearn_compat.labels_map(self, Z, y)

    def inverter(self, **kwargs: Any) -> inversion.Inverter:
        """An `Inverter` for this model's prototypes (factorised once)."""
        check_is_fitted(self, ["prototypes_"])
        return inversion.Inverter(self.prototypes_, **kwargs)


def _wrap_encoder_fit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An encoder's fit, gated by `_gate_fit_input` (the errors scikit-learn expects)."""
    data_name = _data_argument(fn)

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        _gate_fit_input(args[0] if args else kwargs.get(data_name), data_name)
        return fn(self, *args, **kwargs)

    wrapper.__protoflow_wrapped_fit__ = True  # type: ignore[attr-defined]
    return wrapper


class EncoderBase(ParamsMixin):
    """Base for encoders: subclasses implement fit/encode/decode.

    Every encoder is also a scikit-learn transformer (``docs/sklearn.md``): `transform` and
    `inverse_transform` are `encode` and `decode`, with `fit_transform` and estimator tags, so
    it can be a `sklearn.pipeline.Pipeline` step.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fn = cls.__dict__.get("fit")
        if callable(fn) and not getattr(fn, "__protoflow_wrapped_fit__", False):
            cls.fit = _wrap_encoder_fit(fn)  # type: ignore[method-assign]

    def fit_encode(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``encode(X)``: X (n_samples, n_inputs) -> (n_samples, n_features)."""
        return self.fit(X).encode(X)  # type: ignore[attr-defined]

    def _check_width(self, X: Any, expected: Any, name: str) -> None:
        shape = getattr(X, "shape", None)
        if (expected is not None and isinstance(shape, tuple) and len(shape) == 2
                and shape[1] != expected):
            raise ValidationError(
                f"{name} has {shape[1]} features, but {type(self).__name__} is expecting "
                f"{expected} features as input (the width it was fitted on)."
            )

    def transform(self, X: Any) -> np.ndarray:
        """Alias of `encode`: X (n_samples, n_inputs) -> ndarray (n_samples, n_features)."""
        sklearn_compat.check_fitted(self)
        sklearn_compat.check_input_shape(X)
        self._check_width(X, getattr(self, "n_features_in_", None), "X")
        return self.encode(X)  # type: ignore[attr-defined]

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Alias of `decode`: latent X (n_samples, n_features) -> ndarray (n_samples, n_inputs)."""
        sklearn_compat.check_fitted(self)
        sklearn_compat.check_input_shape(X)
        self._check_width(X, getattr(self, "n_components_", None), "X")
        return self.decode(X)  # type: ignore[attr-defined]

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` then ``encode(X)``: X (n_samples, n_inputs) -> (n_samples, n_features);
        y is ignored."""
        return self.fit(X, y).encode(X)  # type: ignore[attr-defined]

    def __sklearn_is_fitted__(self) -> bool:
        """True once `fit` has run (scikit-learn's ``check_is_fitted`` asks)."""
        from protoflow.validation import is_fitted

        return is_fitted(self)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags: a transformer. Returns ``sklearn.utils.Tags``
        (scikit-learn is imported here only); without scikit-learn raises AttributeError."""
        return sklearn_compat.estimator_tags("encoder")

    def _fitted_summary(self) -> str | None:
        n_in = getattr(self, "n_features_in_", None)
        if n_in is None:
            return None
        n_out = getattr(self, "n_components_", None)
        return f"{n_in} -> {n_out} features" if n_out is not None else f"{n_in} features in"


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
