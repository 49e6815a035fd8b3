"""The checks every prototype model passes (`protoflow.protocols.PrototypeModel`).

Each check is a function ``check(subject, options)``; `CHECKS` lists them in the order the kit
runs them. Use them through `protoflow.testing` (`check_prototype_model`,
`parametrize_with_checks`), which turns them into named `protoflow.testing.Check` objects.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from protoflow import io
from protoflow.errors import NotFittedError, NotInvertibleError, ValidationError
from protoflow.inversion import Inverter
from protoflow.protocols import PrototypeModel
from protoflow.testing import _harness as h
from protoflow.testing.data import blobs
from protoflow.topology import Topology
from protoflow.validation import is_fitted


def default_data() -> np.ndarray:
    """The models' default training set: 90 points in 4 dimensions, 3 blobs (float64)."""
    return blobs(90, 4, 3, seed=1)


def _X(options: h.Options) -> np.ndarray:
    return default_data() if options.data is None else np.asarray(options.data, dtype=np.float64)


def _fitted(subject: h.Subject, options: h.Options) -> tuple[object, np.ndarray, np.ndarray]:
    """(fitted model, X, Z = X in the model's latent space)."""
    X = _X(options)
    m = h.fit_record(subject, X).instance
    return m, X, h.latent(m, X)


def check_unfitted_raises(subject: h.Subject, options: h.Options) -> None:
    """``activations`` and ``bmu`` raise `NotFittedError` before fit (a model usable at
    construction, such as a fixed codebook, is exempt)."""
    X = _X(options)
    m = subject.new(0)
    if is_fitted(m, ["prototypes_"]):
        return
    h.raises(NotFittedError, lambda: m.activations(X), "activations before fit")
    h.raises(NotFittedError, lambda: m.bmu(X), "bmu before fit")


def check_fit_returns_self(subject: h.Subject, options: h.Options) -> None:
    """``fit(X)`` returns the model itself."""
    rec = h.fit_record(subject, _X(options))
    assert rec.returned is rec.instance, (
        f"fit must return self, it returned {type(rec.returned).__name__}"
    )


def check_protocol(subject: h.Subject, options: h.Options) -> None:
    """A fitted model satisfies the `PrototypeModel` protocol (prototypes_, topology_, fit,
    activations, bmu)."""
    m, _, _ = _fitted(subject, options)
    assert isinstance(m, PrototypeModel), "does not satisfy the PrototypeModel protocol"


def check_n_features_in(subject: h.Subject, options: h.Options) -> None:
    """``n_features_in_`` is set by fit to the training data's width."""
    h.check_n_features_in(subject, options, _X(options))


def check_fit_does_not_change_params(subject: h.Subject, options: h.Options) -> None:
    """``fit`` leaves the constructor parameters (``get_params()``) unchanged."""
    h.check_fit_does_not_change_params(subject, options, _X(options))


def check_shapes(subject: h.Subject, options: h.Options) -> None:
    """``prototypes_`` is finite float (n_units, n_features) and ``topology_`` a `Topology`
    with n_units units."""
    m, _, Z = _fitted(subject, options)
    W = np.asarray(m.prototypes_)
    assert W.ndim == 2 and W.shape[1] == Z.shape[1], (
        f"prototypes_ has shape {W.shape}, expected (n_units, {Z.shape[1]})"
    )
    assert np.issubdtype(W.dtype, np.floating), f"prototypes_ dtype {W.dtype}"
    assert np.isfinite(W).all(), "prototypes_ contains non-finite values"
    assert isinstance(m.topology_, Topology), "topology_ must be a protoflow Topology"
    assert m.topology_.n_units == W.shape[0], (
        f"topology_ has {m.topology_.n_units} units, prototypes_ {W.shape[0]}"
    )


def check_output_dtypes(subject: h.Subject, options: h.Options) -> None:
    """``activations`` is float (n, n_units) and ``bmu`` integer (n,), for n points and for one."""
    m, _, Z = _fitted(subject, options)
    n_units = np.asarray(m.prototypes_).shape[0]
    for what, Zs in (("all points", Z), ("one point", Z[:1])):
        A = m.activations(Zs)
        assert isinstance(A, np.ndarray), f"activations ({what}) returned a {type(A).__name__}"
        assert np.issubdtype(A.dtype, np.floating), f"activations ({what}) dtype {A.dtype}, not float"
        assert A.shape == (len(Zs), n_units), f"activations ({what}) shape {A.shape}"
        b = m.bmu(Zs)
        assert isinstance(b, np.ndarray), f"bmu ({what}) returned a {type(b).__name__}"
        assert np.issubdtype(b.dtype, np.integer), f"bmu ({what}) dtype {b.dtype}, not integer"
        assert b.shape == (len(Zs),), f"bmu ({what}) shape {b.shape}"


def check_activations_are_squared_distances(subject: h.Subject, options: h.Options) -> None:
    """``activations(Z)`` equals the brute-force squared Euclidean distances."""
    m, _, Z = _fitted(subject, options)
    W = np.asarray(m.prototypes_)
    A = np.asarray(m.activations(Z))
    assert A.shape == (Z.shape[0], W.shape[0]), f"activations shape {A.shape}"
    brute = ((Z[:, None, :] - W[None, :, :]) ** 2).sum(-1)
    scale = max(1.0, float(brute.max()))
    err = np.abs(A - brute).max() / scale
    tol = 1e-5 if W.dtype == np.float32 else 1e-10
    assert err <= tol, f"activations differ from brute-force squared distances by {err:.3g}"
    assert (A >= 0).all(), "activations must be non-negative"


def check_bmu_is_argmin(subject: h.Subject, options: h.Options) -> None:
    """``bmu(Z)`` is the index of the smallest activation."""
    m, _, Z = _fitted(subject, options)
    A = np.asarray(m.activations(Z))
    b = np.asarray(m.bmu(Z))
    assert b.shape == (Z.shape[0],), f"bmu shape {b.shape}"
    assert np.issubdtype(b.dtype, np.integer), f"bmu dtype {b.dtype}"
    picked = A[np.arange(len(b)), b]
    assert np.allclose(picked, A.min(axis=1), rtol=1e-9, atol=1e-9), "bmu is not the argmin"


def check_same_seed_same_result(subject: h.Subject, options: h.Options) -> None:
    """Two fits with the same seed give the same prototypes."""
    m, X, _ = _fitted(subject, options)
    again = subject.new(0)
    again.fit(X)
    assert np.allclose(np.asarray(again.prototypes_), np.asarray(m.prototypes_), rtol=1e-6, atol=1e-9), (
        "two fits with the same seed gave different prototypes"
    )


def check_inversion_of_own_activations(subject: h.Subject, options: h.Options) -> None:
    """The model's own activations of Z, inverted with an `Inverter` of its prototypes, give
    Z back (or `NotInvertibleError`, only for prototypes that do not span the space)."""
    m, _, Z = _fitted(subject, options)
    W = np.asarray(m.prototypes_)
    W64 = W.astype(np.float64)
    A = np.asarray(m.activations(Z), dtype=np.float64)
    try:
        inv = Inverter(W64)
    except NotInvertibleError:
        centred = W64 - W64.mean(axis=0)
        assert np.linalg.matrix_rank(centred) < W64.shape[1], (
            "NotInvertibleError raised for prototypes that span the space"
        )
        return
    Zh = inv.invert(A)
    rel = np.abs(Zh - Z).max() / max(1.0, np.abs(Z).max())
    tol = (1e-3 if W.dtype == np.float32 else 1e-6) * max(1.0, inv.condition)
    assert rel <= tol, f"inverting the model's activations misses Z by {rel:.3g} (tolerance {tol:.3g})"


def check_bad_input_raises(subject: h.Subject, options: h.Options) -> None:
    """NaN, inf or empty training data and NaN, inf or wrong-width points raise
    `ValidationError`."""
    m, X, Z = _fitted(subject, options)
    for what, bad in h.bad_inputs(X).items():
        if what != "wrong width":  # a fresh model accepts any width
            h.raises(ValidationError, lambda bad=bad: subject.new(0).fit(bad), f"fit with {what} data")
    for what, bad in h.bad_inputs(Z).items():
        if what == "empty":
            continue  # activations of zero points may legitimately be (0, n_units)
        h.raises(ValidationError, lambda bad=bad: m.activations(bad), f"activations with {what}")
        h.raises(ValidationError, lambda bad=bad: m.bmu(bad), f"bmu with {what}")


def check_save_load_roundtrip(subject: h.Subject, options: h.Options) -> None:
    """`protoflow.save` then `protoflow.load` gives the same prototypes, topology and
    activations."""
    m, _, Z = _fitted(subject, options)
    W = np.asarray(m.prototypes_)
    A = np.asarray(m.activations(Z))
    with h.registered(m, "model"), tempfile.TemporaryDirectory() as d:
        loaded = io.load(io.save(m, Path(d) / "model"))
        assert type(loaded) is type(m), f"loaded a {type(loaded).__name__}"
        assert np.array_equal(np.asarray(loaded.prototypes_), W), "prototypes changed on reload"
        assert loaded.topology_ == m.topology_, "topology changed on reload"
        assert np.allclose(loaded.activations(Z), A, rtol=1e-12, atol=1e-12), (
            "activations changed on reload"
        )


#: every model check, in the order the kit runs them
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
    check_activations_are_squared_distances,
    check_bmu_is_argmin,
    check_same_seed_same_result,
    check_inversion_of_own_activations,
    check_bad_input_raises,
    check_save_load_roundtrip,
)
