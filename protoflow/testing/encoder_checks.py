"""The checks every encoder passes (`protoflow.protocols.Encoder`).

Each check is a function ``check(subject, options)``; `CHECKS` lists them in the order the kit
runs them. Use them through `protoflow.testing` (`check_encoder`, `parametrize_with_checks`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from protoflow import io
from protoflow.errors import NotFittedError, ValidationError
from protoflow.protocols import Encoder
from protoflow.testing import _harness as h
from protoflow.testing.data import blobs


def default_data() -> np.ndarray:
    """The encoders' default training set: 80 points in 6 dimensions, 3 blobs (float64)."""
    return blobs(80, 6, 3, seed=2)


def _X(options: h.Options) -> np.ndarray:
    return default_data() if options.data is None else np.asarray(options.data, dtype=np.float64)


def _fitted(subject: h.Subject, options: h.Options) -> tuple[Any, np.ndarray, np.ndarray]:
    """(fitted encoder, X, Z = encode(X))."""
    X = _X(options)
    e = h.fit_record(subject, X).instance
    return e, X, np.asarray(e.encode(X))


def check_unfitted_raises(subject: h.Subject, options: h.Options) -> None:
    """``encode`` raises `NotFittedError` before fit."""
    X = _X(options)
    e = subject.new(0)
    h.raises(NotFittedError, lambda: e.encode(X), "encode before fit")


def check_fit_returns_self(subject: h.Subject, options: h.Options) -> None:
    """``fit(X)`` returns the encoder itself."""
    rec = h.fit_record(subject, _X(options))
    assert rec.returned is rec.instance, (
        f"fit must return self, it returned {type(rec.returned).__name__}"
    )


def check_protocol(subject: h.Subject, options: h.Options) -> None:
    """A fitted encoder satisfies the `Encoder` protocol (fit, encode, decode)."""
    X = _X(options)
    e = h.fit_record(subject, X).instance
    assert isinstance(e, Encoder), "does not satisfy the Encoder protocol (fit, encode, decode)"


def check_n_features_in(subject: h.Subject, options: h.Options) -> None:
    """``n_features_in_`` is set by fit to the training data's width."""
    h.check_n_features_in(subject, options, _X(options))


def check_fit_does_not_change_params(subject: h.Subject, options: h.Options) -> None:
    """``fit`` leaves the constructor parameters (``get_params()``) unchanged."""
    h.check_fit_does_not_change_params(subject, options, _X(options))


def check_shapes(subject: h.Subject, options: h.Options) -> None:
    """``encode(X)`` is finite (n, k) and ``decode`` of it is (n, n_inputs)."""
    e, X, Z = _fitted(subject, options)
    assert Z.ndim == 2 and Z.shape[0] == X.shape[0], f"encode gave shape {Z.shape}"
    assert np.isfinite(Z).all(), "encode gave non-finite values"
    Xh = np.asarray(e.decode(Z))
    assert Xh.shape == X.shape, f"decode gave shape {Xh.shape}, expected {X.shape}"


def check_output_dtypes(subject: h.Subject, options: h.Options) -> None:
    """``encode`` returns a float ndarray (n, k) and ``decode`` a float ndarray (n, n_inputs)."""
    e, X, _ = _fitted(subject, options)
    Z = e.encode(X)
    assert isinstance(Z, np.ndarray), f"encode returned a {type(Z).__name__}, not an ndarray"
    assert np.issubdtype(Z.dtype, np.floating), f"encode dtype {Z.dtype}, not float"
    Xh = e.decode(Z)
    assert isinstance(Xh, np.ndarray), f"decode returned a {type(Xh).__name__}, not an ndarray"
    assert np.issubdtype(Xh.dtype, np.floating), f"decode dtype {Xh.dtype}, not float"


def check_exact_inverse(subject: h.Subject, options: h.Options) -> None:
    """When ``exact_inverse_`` is True after fit, ``decode(encode(X)) == X`` (1e-8 relative)."""
    e, X, Z = _fitted(subject, options)
    exact = getattr(e, "exact_inverse_", False)
    assert isinstance(exact, bool | np.bool_), f"exact_inverse_ must be a bool, got {exact!r}"
    if exact:
        Xh = np.asarray(e.decode(Z))
        err = np.abs(Xh - X).max() / max(1.0, np.abs(X).max())
        assert err <= 1e-8, f"exact_inverse_ is True but decode(encode(X)) differs from X by {err:.3g}"


def check_same_seed_same_result(subject: h.Subject, options: h.Options) -> None:
    """Two fits with the same seed give the same encodings."""
    _, X, Z = _fitted(subject, options)
    again = subject.new(0)
    again.fit(X)
    Z2 = np.asarray(again.encode(X))
    assert Z2.shape == Z.shape and np.allclose(Z, Z2, rtol=1e-6, atol=1e-9), (
        "same seed gave different encodings"
    )


def check_bad_input_raises(subject: h.Subject, options: h.Options) -> None:
    """NaN, inf or empty data raise `ValidationError` in fit; NaN, inf or wrong-width data in
    encode; wrong-width codes in decode."""
    e, X, Z = _fitted(subject, options)
    for what, bad in h.bad_inputs(X).items():
        if what != "wrong width":  # a fresh encoder accepts any width
            h.raises(ValidationError, lambda bad=bad: subject.new(0).fit(bad), f"fit with {what} data")
    for what, bad in h.bad_inputs(X).items():
        if what != "empty":
            h.raises(ValidationError, lambda bad=bad: e.encode(bad), f"encode with {what}")
    h.raises(ValidationError, lambda: e.decode(np.hstack([Z, Z[:, :1]])), "decode wrong width")


def check_save_load_roundtrip(subject: h.Subject, options: h.Options) -> None:
    """`protoflow.save` then `protoflow.load` gives the same encodings."""
    e, X, Z = _fitted(subject, options)
    with h.registered(e, "encoder"), tempfile.TemporaryDirectory() as d:
        loaded = io.load(io.save(e, Path(d) / "encoder"))
        assert type(loaded) is type(e), f"loaded a {type(loaded).__name__}"
        assert np.allclose(np.asarray(loaded.encode(X)), Z, rtol=1e-6, atol=1e-9), (
            "encode changed on reload"
        )


#: every encoder check, in the order the kit runs them
CHECKS: tuple[Callable[[h.Subject, h.Options], None], ...] = (
    check_unfitted_raises,
    check_fit_returns_self,
    check_protocol,
    check_n_features_in,
    check_fit_does_not_change_params,
    h.check_get_set_params_roundtrip,
    h.check_clone,
    h.check_declared_parameters,
    check_shapes,
    check_output_dtypes,
    check_exact_inverse,
    check_same_seed_same_result,
    check_bad_input_raises,
    check_save_load_roundtrip,
)
