"""Shared input and parameter validation, used by the core and by every plugin.

Errors say what was wrong, the value received, and how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from protoflow.errors import ConfigError, MemoryLimitError, NotFittedError, ValidationError

_FLOAT_DTYPES = (np.float64, np.float32)


def check_array(
    X: Any,
    *,
    name: str = "X",
    ndim: int = 2,
    n_features: int | None = None,
    min_samples: int = 1,
    dtype: Any = np.float64,
    allow_float32: bool = False,
    copy: bool = False,
    ensure_finite: bool = True,
    allow_nan: bool = False,
) -> np.ndarray:
    """Return `X` as a finite floating-point array of the right shape, or raise `ValidationError`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) (or (n_features,) when ``ndim=1``)
    name : what to call the array in messages.
    ndim : 1 or 2.
    n_features : expected width, when known.
    min_samples : the least number of rows.
    dtype : dtype to convert to (float64 by default).
    allow_float32 : keep float32 input as float32 instead of converting it.
    copy : force a copy.
    ensure_finite : check for NaN/inf (callers that can detect them more cheaply on a smaller
        result may skip it here and call `check_finite` themselves).
    allow_nan : accept NaN as a missing entry (`protoflow.missing`); infinity is still refused
        and the magnitude check runs on the finite values. Rows without any observed value are
        not checked here (`protoflow.missing.check_observed` does that).
    """
    if X is None:
        raise ValidationError(f"{name} is None; pass an array of shape (n_samples, n_features).")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValidationError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValidationError(
            f"{name} must hold numbers, got dtype {arr.dtype}. Convert it to floats first."
        )
    if np.iscomplexobj(arr):
        raise ValidationError(f"{name} is complex; protoflow works with real numbers only.")
    target = arr.dtype if (allow_float32 and arr.dtype == np.float32) else dtype
    arr = np.array(arr, dtype=target, copy=True) if copy else np.asarray(arr, dtype=target)
    if arr.ndim != ndim:
        shape_hint = "(n_samples, n_features)" if ndim == 2 else "(n_features,)"
        extra = ""
        if ndim == 2 and arr.ndim == 1:
            extra = " Reshape a single sample with x.reshape(1, -1), one feature with x.reshape(-1, 1)."
        raise ValidationError(
            f"{name} must be {ndim}-dimensional {shape_hint}, got shape {arr.shape}.{extra}"
        )
    if arr.shape[0] < min_samples:
        raise ValidationError(
            f"{name} has {arr.shape[0]} sample(s), at least {min_samples} needed."
        )
    if ndim == 2 and arr.shape[1] == 0:
        raise ValidationError(f"{name} has 0 features; each sample needs at least one.")
    if n_features is not None and arr.shape[-1] != n_features:
        raise ValidationError(
            f"{name} has {arr.shape[-1]} features, but {n_features} were expected "
            f"(the width the model was fitted on)."
        )
    if ensure_finite:
        if allow_nan:
            if np.isinf(arr).any():
                raise ValidationError(
                    f"{name} contains infinity. Remove or impute infinite values before calling "
                    "protoflow (NaN is accepted here as a missing entry)."
                )
        else:
            check_finite(arr, name)
        check_magnitude(arr, name)
    return arr


def safe_magnitude(dtype: Any, n_features: int) -> float:
    """The largest absolute value whose squared distances cannot overflow `dtype`:
    ``sqrt(max / (4 n_features)) / 8`` (a difference of two such values, squared and summed
    over the features, stays 64 times below the dtype's maximum)."""
    return float(np.sqrt(np.finfo(dtype).max / (4.0 * max(int(n_features), 1)))) / 8.0


def check_magnitude(arr: np.ndarray, name: str = "X", *, dtype: Any = None) -> None:
    """Raise `ValidationError` when values are so large that squared distances between them
    would overflow `dtype` (default: the array's own float dtype) to infinity.

    One pass over the array (``max(abs)``); skipped for empty arrays. The message gives the
    largest value, the limit and the fix (scale the data).
    """
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.floating):
        return
    dtype = arr.dtype if dtype is None else np.dtype(dtype)
    n_features = arr.shape[-1] if arr.ndim else 1
    limit = safe_magnitude(dtype, n_features)
    lo, hi = _extremes(arr)  # max |x| without an |x| temporary of the array's size
    biggest = max(-lo, hi)
    if np.isnan(biggest):  # NaN as missing entries (check_array(allow_nan=True)): finite values
        finite = np.abs(arr[~np.isnan(arr)])
        biggest = float(finite.max()) if finite.size else 0.0
    if biggest > limit:
        raise ValidationError(
            f"{name} holds values up to {biggest:.3g}; squared distances between {n_features}-"
            f"feature points that large overflow {np.dtype(dtype).name} (the limit here is "
            f"{limit:.3g}). Scale the data first, e.g. standardise each feature "
            "(sklearn.preprocessing.StandardScaler) or divide by its largest value."
        )


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else psutil, else
    None when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"  # pragma: no cover - the loop always returns


def check_memory(nbytes: float, what: str, *, hint: str = "", fraction: float = 0.9) -> None:
    """Refuse, before allocating, work whose buffers need more than `fraction` of the memory
    available now. Raises `MemoryLimitError` naming `what`, the estimate and `hint` (which
    setting to change). When the available memory cannot be read, nothing is checked.

    nbytes : the estimated peak of the buffers about to be allocated, in bytes.
    """
    available = _available_memory()
    if available is None or nbytes <= fraction * available:
        return
    advice = f" {hint}" if hint else ""
    raise MemoryLimitError(
        f"{what} would need about {_human(nbytes)} of memory, but only {_human(available)} "
        f"is available.{advice}"
    )


def _extremes(arr: np.ndarray) -> tuple[float, float]:
    """(min, max) of a non-empty numeric array: two reductions, no temporary of its size
    (NaN and infinity show in them: NaN propagates through both)."""
    return float(np.min(arr)), float(np.max(arr))


def _extremes_finite(arr: np.ndarray) -> bool:
    """Whether every entry of the numeric array `arr` is finite, without a boolean temporary
    of its size (a fresh array's page faults cost more than the two reductions)."""
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.inexact):
        return True
    lo, hi = _extremes(arr)
    return bool(np.isfinite(lo) and np.isfinite(hi))


def check_finite(arr: np.ndarray, name: str = "X") -> None:
    """Raise `ValidationError` if `arr` holds NaN or infinity."""
    if not _extremes_finite(arr):
        kind = "NaN" if np.isnan(arr).any() else "infinity"
        raise ValidationError(
            f"{name} contains {kind}. Remove or impute non-finite values before calling protoflow."
        )


def is_fitted(obj: Any, attributes: Sequence[str] | None = None) -> bool:
    """True when `obj` has been fitted (has the given attributes, or any public one ending in `_`)."""
    if hasattr(obj, "__protoflow_is_fitted__"):
        return bool(obj.__protoflow_is_fitted__())
    if attributes is not None:
        return all(getattr(obj, a, None) is not None for a in attributes)
    return any(
        k.endswith("_") and not k.startswith("_") and v is not None for k, v in vars(obj).items()
    )


def check_is_fitted(obj: Any, attributes: Sequence[str] | None = None) -> None:
    """Raise `NotFittedError` naming the class when `obj` has not been fitted."""
    if not is_fitted(obj, attributes):
        raise NotFittedError(
            f"this {type(obj).__name__} is not fitted yet; call fit(...) before using it."
        )


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate an integer parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"parameter {name!r} must be an integer, got {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ConfigError(f"parameter {name!r} must be >= {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"parameter {name!r} must be <= {maximum}, got {value}.")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_min: bool = False,
    strict_max: bool = False,
) -> float:
    """Validate a real-valued parameter (finite, within the given bounds)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"parameter {name!r} must be a number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ConfigError(f"parameter {name!r} must be finite, got {value}.")
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        op = ">" if strict_min else ">="
        raise ConfigError(f"parameter {name!r} must be {op} {minimum}, got {value}.")
    if maximum is not None and (value >= maximum if strict_max else value > maximum):
        op = "<" if strict_max else "<="
        raise ConfigError(f"parameter {name!r} must be {op} {maximum}, got {value}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Validate a true/false parameter: only ``True``/``False`` (and numpy bools) pass; ``1``,
    ``0`` or ``"yes"`` raise `ConfigError` (``1 == True`` would let `check_choice` accept them)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ConfigError(f"parameter {name!r} must be true or false, got {value!r}.")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Validate that `value` is one of `choices`."""
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"parameter {name!r} must be one of {listed}; got {value!r}.")
    return value


def check_seed(seed: Any) -> np.random.Generator:
    """Turn a seed (None, int, or Generator) into a NumPy Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0):
        return np.random.default_rng(seed)
    raise ConfigError(f"parameter 'seed' must be a non-negative integer or None, got {seed!r}.")
