"""Implementation of the conformance checks (see `protoflow.testing`)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from protoflow import io
from protoflow.errors import (
    NotFittedError,
    NotInvertibleError,
    ProtoflowError,
    ValidationError,
)
from protoflow.hookspecs import hookimpl
from protoflow.inversion import Inverter
from protoflow.protocols import Controller, Encoder, PrototypeModel, Trajectory
from protoflow.prototypes import PrototypeSet
from protoflow.registry import get_registry
from protoflow.testing.data import blobs
from protoflow.topology import Graph, Lattice, NoTopology, Topology
from protoflow.validation import is_fitted

Factory = Callable[[int], Any]


class _Checker:
    def __init__(self, label: str) -> None:
        self.label = label

    @contextlib.contextmanager
    def check(self, name: str) -> Iterator[None]:
        try:
            yield
        except AssertionError as exc:
            raise AssertionError(f"[{self.label}] {name} failed: {exc}") from exc
        except Exception as exc:
            raise AssertionError(
                f"[{self.label}] {name} raised {type(exc).__name__}: {exc}"
            ) from exc

    @staticmethod
    def raises(exc_type: type[BaseException], fn: Callable[[], Any], what: str) -> None:
        try:
            fn()
        except exc_type:
            return
        except Exception as exc:
            raise AssertionError(
                f"{what}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}"
            ) from exc
        raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing was raised")


def _bad_inputs(X: np.ndarray) -> dict[str, np.ndarray]:
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


@contextlib.contextmanager
def _registered(obj: Any, kind: str) -> Iterator[None]:
    """Make sure `obj`'s class is registered, so save/load can find it by name."""
    reg = get_registry()
    if reg.find_by_class(type(obj)) is not None:
        yield
        return
    cls = type(obj)
    name = "conformance-" + "".join(c if c.isalnum() else "-" for c in cls.__name__.lower())

    class _TempPlugin:
        @hookimpl
        def protoflow_register_models(self, registry: Any) -> None:
            if kind == "model":
                registry.add_model(name, cls)

        @hookimpl
        def protoflow_register_encoders(self, registry: Any) -> None:
            if kind == "encoder":
                registry.add_encoder(name, cls)

    plugin_name = reg.register(_TempPlugin(), name=f"_protoflow_conformance_{id(cls)}")
    try:
        yield
    finally:
        reg._forget(plugin_name)


def _latent(model: Any, X: np.ndarray) -> np.ndarray:
    enc = getattr(model, "encoder", None)
    return X if enc is None else np.asarray(enc.encode(X))


def check_prototype_model(factory: Factory, *, data: np.ndarray | None = None) -> None:
    """Run every `PrototypeModel` check on models made by ``factory(seed)``.

    A model that learns its own encoder (DESOM) sets ``model.encoder``; the kit then fits on
    data and checks activations in the encoder's latent space.
    """
    X = blobs(90, 4, 3, seed=1) if data is None else np.asarray(data, dtype=np.float64)
    c = _Checker(f"check_prototype_model {type(factory(0)).__name__}")

    with c.check("check_unfitted_raises"):
        m = factory(0)
        if is_fitted(m, ["prototypes_"]):  # a fixed codebook is usable at once
            m = PrototypeSet()
        c.raises(NotFittedError, lambda: m.activations(X), "activations before fit")
        c.raises(NotFittedError, lambda: m.bmu(X), "bmu before fit")

    with c.check("check_fit_returns_self"):
        m = factory(0)
        assert m.fit(X) is m, "fit must return self"

    with c.check("check_protocol"):
        assert isinstance(m, PrototypeModel), "does not satisfy the PrototypeModel protocol"
        if hasattr(m, "get_params"):
            params = m.get_params()
            assert isinstance(params, dict)

    Z = _latent(m, X)
    W = np.asarray(m.prototypes_)
    with c.check("check_shapes"):
        assert W.ndim == 2 and W.shape[1] == Z.shape[1], (
            f"prototypes_ has shape {W.shape}, expected (n_units, {Z.shape[1]})"
        )
        assert np.issubdtype(W.dtype, np.floating), f"prototypes_ dtype {W.dtype}"
        assert np.isfinite(W).all(), "prototypes_ contains non-finite values"
        assert isinstance(m.topology_, Topology), "topology_ must be a protoflow Topology"
        assert m.topology_.n_units == W.shape[0], (
            f"topology_ has {m.topology_.n_units} units, prototypes_ {W.shape[0]}"
        )

    A = m.activations(Z)
    with c.check("check_activations_are_squared_distances"):
        A = np.asarray(A)
        assert A.shape == (Z.shape[0], W.shape[0]), f"activations shape {A.shape}"
        brute = ((Z[:, None, :] - W[None, :, :]) ** 2).sum(-1)
        scale = max(1.0, float(brute.max()))
        err = np.abs(A - brute).max() / scale
        tol = 1e-5 if W.dtype == np.float32 else 1e-10
        assert err <= tol, f"activations differ from brute-force squared distances by {err:.3g}"
        assert (A >= 0).all(), "activations must be non-negative"

    with c.check("check_bmu_is_argmin"):
        b = np.asarray(m.bmu(Z))
        assert b.shape == (Z.shape[0],), f"bmu shape {b.shape}"
        assert np.issubdtype(b.dtype, np.integer), f"bmu dtype {b.dtype}"
        picked = A[np.arange(len(b)), b]
        assert np.allclose(picked, A.min(axis=1), rtol=1e-9, atol=1e-9), "bmu is not the argmin"

    with c.check("check_same_seed_same_result"):
        m2 = factory(0).fit(X)
        assert np.allclose(m2.prototypes_, W, rtol=1e-6, atol=1e-9), (
            "two fits with the same seed gave different prototypes"
        )

    with c.check("check_inversion_of_own_activations"):
        W64 = W.astype(np.float64)
        A64 = ((Z[:, None, :] - W64[None, :, :]) ** 2).sum(-1)
        try:
            inv = Inverter(W64)
        except NotInvertibleError:
            centred = W64 - W64.mean(axis=0)
            assert np.linalg.matrix_rank(centred) < W64.shape[1], (
                "NotInvertibleError raised for prototypes that span the space"
            )
        else:
            Zh = inv.invert(A64)
            rel = np.abs(Zh - Z).max() / max(1.0, np.abs(Z).max())
            assert rel <= 1e-6 * max(1.0, inv.condition), f"inversion error {rel:.3g}"

    with c.check("check_bad_input_raises"):
        for what, bad in _bad_inputs(X).items():
            if what != "wrong width":  # a fresh model accepts any width
                c.raises(ValidationError, lambda bad=bad: factory(0).fit(bad), f"fit with {what} data")
        for what, bad in _bad_inputs(Z).items():
            if what == "empty":
                continue  # activations of zero points may legitimately be (0, n_units)
            c.raises(ValidationError, lambda bad=bad: m.activations(bad), f"activations with {what}")

    with c.check("check_save_load_roundtrip"), _registered(m, "model"), tempfile.TemporaryDirectory() as d:
        path = io.save(m, Path(d) / "model")
        loaded = io.load(path)
        assert type(loaded) is type(m), f"loaded a {type(loaded).__name__}"
        assert np.array_equal(np.asarray(loaded.prototypes_), W), "prototypes changed on reload"
        assert loaded.topology_ == m.topology_, "topology changed on reload"
        assert np.allclose(loaded.activations(Z), A, rtol=1e-12, atol=1e-12), (
            "activations changed on reload"
        )


def check_encoder(factory: Factory, *, data: np.ndarray | None = None) -> None:
    """Run every `Encoder` check on encoders made by ``factory(seed)``.

    An encoder whose ``exact_inverse_`` is True after fit must satisfy
    ``decode(encode(X)) == X`` (to 1e-8 relative).
    """
    X = blobs(80, 6, 3, seed=2) if data is None else np.asarray(data, dtype=np.float64)
    c = _Checker(f"check_encoder {type(factory(0)).__name__}")

    with c.check("check_unfitted_raises"):
        e = factory(0)
        c.raises(NotFittedError, lambda: e.encode(X), "encode before fit")

    with c.check("check_fit_returns_self"):
        e = factory(0)
        assert e.fit(X) is e, "fit must return self"
        assert isinstance(e, Encoder), "does not satisfy the Encoder protocol"

    Z = np.asarray(e.encode(X))
    with c.check("check_shapes"):
        assert Z.ndim == 2 and Z.shape[0] == X.shape[0], f"encode gave shape {Z.shape}"
        assert np.isfinite(Z).all(), "encode gave non-finite values"
        Xh = np.asarray(e.decode(Z))
        assert Xh.shape == X.shape, f"decode gave shape {Xh.shape}, expected {X.shape}"

    with c.check("check_exact_inverse"):
        if getattr(e, "exact_inverse_", False):
            err = np.abs(Xh - X).max() / max(1.0, np.abs(X).max())
            assert err <= 1e-8, f"decode(encode(X)) differs from X by {err:.3g}"

    with c.check("check_same_seed_same_result"):
        Z2 = np.asarray(factory(0).fit(X).encode(X))
        assert np.allclose(Z, Z2, rtol=1e-6, atol=1e-9), "same seed gave different encodings"

    with c.check("check_bad_input_raises"):
        for what, bad in _bad_inputs(X).items():
            if what != "wrong width":  # a fresh encoder accepts any width
                c.raises(ValidationError, lambda bad=bad: factory(0).fit(bad), f"fit with {what} data")
        for what, bad in _bad_inputs(X).items():
            if what != "empty":
                c.raises(ValidationError, lambda bad=bad: e.encode(bad), f"encode with {what}")
        c.raises(ValidationError, lambda: e.decode(np.hstack([Z, Z[:, :1]])), "decode wrong width")

    with c.check("check_save_load_roundtrip"), _registered(e, "encoder"), tempfile.TemporaryDirectory() as d:
        loaded = io.load(io.save(e, Path(d) / "encoder"))
        assert np.allclose(np.asarray(loaded.encode(X)), Z, rtol=1e-6, atol=1e-9), (
            "encode changed on reload"
        )


def _controller_models(n_features: int) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    W = rng.normal(size=(20, n_features))
    ring = np.array([(i, (i + 1) % 20) for i in range(20)])
    return {
        "lattice": PrototypeSet(W, Lattice(4, 5)),
        "graph": PrototypeSet(W, Graph(20, ring)),
        "none": PrototypeSet(W, NoTopology(20)),
    }


def check_controller(
    factory: Factory,
    *,
    targets: tuple[Any, ...] = (7,),
    models: dict[str, Any] | None = None,
    steps: int = 5,
) -> None:
    """Run every `Controller` check on controllers made by ``factory(seed)``.

    `targets` lists the target forms the controller supports (a unit index, a list of units,
    None for free mode). Runs on `PrototypeSet` models with a lattice, a graph and no topology
    unless `models` is given.
    """
    D = 3
    models = models or _controller_models(D)
    c = _Checker(f"check_controller {type(factory(0)).__name__}")
    with c.check("check_protocol"):
        assert isinstance(factory(0), Controller), "does not satisfy the Controller protocol"

    for label, model in models.items():
        W = np.asarray(model.prototypes_)
        D = W.shape[1]
        z0 = W.mean(axis=0) + 0.3
        for target in targets:
            tag = f"{label}, target={target!r}"
            with c.check(f"check_run_shapes ({tag})"):
                traj = factory(0).run(model, z0, target, steps)
                assert isinstance(traj, Trajectory), "run must return a Trajectory"
                assert traj.points.shape == (steps + 1, D), f"points shape {traj.points.shape}"
                assert traj.bmus.shape == (steps + 1,), f"bmus shape {traj.bmus.shape}"
                assert len(traj.info) == steps, f"{len(traj.info)} info entries for {steps} steps"
                assert np.allclose(traj.points[0], z0), "the trajectory must start at z0"
                assert np.isfinite(traj.points).all(), "non-finite points"
                assert np.array_equal(traj.bmus, model.bmu(traj.points)), "bmus are not the points' BMUs"
            with c.check(f"check_step_shape ({tag})"):
                z1 = np.asarray(factory(0).step(model, z0, target))
                assert z1.shape == (D,), f"step returned shape {z1.shape}"
            with c.check(f"check_same_seed_same_result ({tag})"):
                again = factory(0).run(model, z0, target, steps)
                assert np.array_equal(traj.points, again.points), "same seed, different path"
            with c.check(f"check_batch ({tag})"):
                Z0 = np.stack([z0, z0 - 0.5, W[0] + 0.1])
                batch = factory(0).run(model, Z0, target, steps)
                assert batch.points.shape == (3, steps + 1, D), f"batch points {batch.points.shape}"
                assert batch.bmus.shape == (3, steps + 1), f"batch bmus {batch.bmus.shape}"
                assert np.isfinite(batch.points).all(), "non-finite points in batch"

    model = next(iter(models.values()))
    D = model.prototypes_.shape[1]
    with c.check("check_bad_input_raises"):
        bad = np.full(D, np.nan)
        c.raises(ValidationError, lambda: factory(0).run(model, bad, targets[0], 2), "NaN z0")
        c.raises(ValidationError, lambda: factory(0).run(model, np.zeros(D + 1), targets[0], 2), "wrong width z0")
        unfitted = PrototypeSet()
        c.raises(NotFittedError, lambda: factory(0).run(unfitted, np.zeros(D), targets[0], 2), "unfitted model")
        c.raises(ProtoflowError, lambda: factory(0).run(model, np.zeros(D), targets[0], -1), "negative steps")
