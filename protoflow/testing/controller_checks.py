"""The checks every controller passes (`protoflow.protocols.Controller`).

Each check is a function ``check(subject, options)``; `CHECKS` lists them in the order the kit
runs them. Use them through `protoflow.testing` (`check_controller`, `parametrize_with_checks`).

Controllers run on `PrototypeSet` models of 20 units in 3 dimensions with a lattice, a graph and
no topology (`default_models`), toward the targets the controller declares in its
``supported_targets`` class attribute (`targets_for`) unless the options name others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from protoflow.errors import NotFittedError, ProtoflowError, ValidationError
from protoflow.protocols import Controller, Trajectory
from protoflow.prototypes import PrototypeSet
from protoflow.testing import _harness as h
from protoflow.topology import Graph, Lattice, NoTopology


def default_models(n_features: int = 3) -> dict[str, PrototypeSet]:
    """Three 20-unit `PrototypeSet` models, prototypes (20, n_features): "lattice" (4 x 5),
    "graph" (a ring) and "none" (no topology)."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(20, n_features))
    ring = np.array([(i, (i + 1) % 20) for i in range(20)])
    return {
        "lattice": PrototypeSet(W, Lattice(4, 5)),
        "graph": PrototypeSet(W, Graph(20, ring)),
        "none": PrototypeSet(W, NoTopology(20)),
    }


def declared_targets(controller: Any) -> tuple[str, ...]:
    """The controller's ``supported_targets`` (an instance or class); ``("unit",)`` when absent."""
    declared = getattr(controller, "supported_targets", ("unit",))
    if isinstance(declared, str):  # a bare string is a mistake check_supported_targets reports
        return (declared,)
    return tuple(declared)


def targets_for(controller: Any) -> tuple[Any, ...]:
    """One target per declared kind: "unit" -> 7, "cluster" -> [3, 7, 8], "none" -> None."""
    return tuple(
        h.TARGETS_FOR_KIND[kind] for kind in declared_targets(controller) if kind in h.TARGETS_FOR_KIND
    )


def _targets(subject: h.Subject, options: h.Options) -> tuple[Any, ...]:
    if options.targets is not None:
        return tuple(options.targets)
    targets = targets_for(subject.new(0))
    assert targets, "supported_targets names no known target kind"
    return targets


_DEFAULT_MODELS: dict[str, PrototypeSet] = {}


def _models(options: h.Options) -> Mapping[str, Any]:
    if options.models:
        return options.models
    if not _DEFAULT_MODELS:  # built once, so runs on them can be shared between checks
        _DEFAULT_MODELS.update(default_models())
    return _DEFAULT_MODELS


def _batch(model: Any, z0: np.ndarray) -> np.ndarray:
    """Three starting points (3, n_features) around z0."""
    return np.stack([z0, z0 - 0.5, np.asarray(model.prototypes_)[0] + 0.1])


def _cases(subject: h.Subject, options: h.Options) -> Iterator[tuple[str, Any, Any, np.ndarray]]:
    """(tag, model, target, z0) for every model and target."""
    targets = _targets(subject, options)
    for label, model in _models(options).items():
        W = np.asarray(model.prototypes_)
        z0 = W.mean(axis=0) + 0.3
        for target in targets:
            yield f"{label}, target={target!r}", model, target, z0


def _run(subject: h.Subject, model: Any, z0: np.ndarray, target: Any, steps: int) -> Trajectory:
    """``subject.new(0).run(model, z0, target, steps)``, shared between checks (see
    `protoflow.testing._harness.reuse`)."""
    key = ("run", id(model), repr(target), steps, z0.shape, z0.tobytes())
    return h.reuse(subject, 0, key, (model,), lambda c, _: c.run(model, z0, target, steps))


def check_protocol(subject: h.Subject, options: h.Options) -> None:
    """The controller satisfies the `Controller` protocol (step, run)."""
    assert isinstance(subject.new(0), Controller), "does not satisfy the Controller protocol (step, run)"


def check_supported_targets(subject: h.Subject, options: h.Options) -> None:
    """``supported_targets`` (when declared) is a non-empty tuple of distinct names among
    "unit", "cluster" and "none"."""
    c = subject.new(0)
    declared = getattr(c, "supported_targets", ("unit",))
    assert isinstance(declared, Sequence) and not isinstance(declared, str), (
        f"supported_targets must be a tuple of names, got {declared!r}"
    )
    assert len(declared) > 0, "supported_targets is empty"
    unknown = [t for t in declared if t not in h.TARGETS_FOR_KIND]
    assert not unknown, f"supported_targets names unknown kinds {unknown}; known: {list(h.TARGETS_FOR_KIND)}"
    assert len(set(declared)) == len(declared), f"supported_targets repeats a kind: {declared!r}"


def check_run_starts_at_z0(subject: h.Subject, options: h.Options) -> None:
    """``run(...).points[0]`` is z0 exactly (for a batch, ``points[:, 0]`` is Z0)."""
    steps = options.steps
    for tag, model, target, z0 in _cases(subject, options):
        traj = _run(subject, model, z0, target, steps)
        assert np.array_equal(np.asarray(traj.points)[0], z0), (
            f"({tag}) the trajectory must start at z0 exactly"
        )
        Z0 = _batch(model, z0)
        batch = _run(subject, model, Z0, target, steps)
        assert np.array_equal(np.asarray(batch.points)[:, 0], Z0), (
            f"({tag}) batched trajectories must start at z0 exactly"
        )


def check_run_respects_steps(subject: h.Subject, options: h.Options) -> None:
    """``run(..., steps)`` has steps + 1 points and `steps` info entries; ``steps=0`` gives
    just z0."""
    for tag, model, target, z0 in _cases(subject, options):
        for steps in sorted({0, 1, options.steps}):
            traj = _run(subject, model, z0, target, steps)
            points = np.asarray(traj.points)
            assert points.shape[0] == steps + 1, (
                f"({tag}) steps={steps} gave {points.shape[0]} points, expected {steps + 1}"
            )
            assert len(traj.info) == steps, (
                f"({tag}) steps={steps} gave {len(traj.info)} info entries, expected {steps}"
            )
            if steps == 0:
                assert np.array_equal(points, z0[None]), f"({tag}) steps=0 must give just z0"


def check_run_shapes(subject: h.Subject, options: h.Options) -> None:
    """``run`` returns a `Trajectory`: finite points (steps + 1, n_features), bmus
    (steps + 1,) that are the points' BMUs, one info dict per step."""
    steps = options.steps
    for tag, model, target, z0 in _cases(subject, options):
        D = z0.shape[0]
        traj = _run(subject, model, z0, target, steps)
        assert isinstance(traj, Trajectory), f"({tag}) run must return a Trajectory"
        assert traj.points.shape == (steps + 1, D), f"({tag}) points shape {traj.points.shape}"
        assert traj.bmus.shape == (steps + 1,), f"({tag}) bmus shape {traj.bmus.shape}"
        assert len(traj.info) == steps, f"({tag}) {len(traj.info)} info entries for {steps} steps"
        assert np.isfinite(traj.points).all(), f"({tag}) non-finite points"
        assert np.array_equal(traj.bmus, model.bmu(traj.points)), f"({tag}) bmus are not the points' BMUs"


def check_output_dtypes(subject: h.Subject, options: h.Options) -> None:
    """Trajectory points and ``step`` results are float; trajectory bmus are integer."""
    steps = options.steps
    for tag, model, target, z0 in _cases(subject, options):
        traj = _run(subject, model, z0, target, steps)
        points, bmus = np.asarray(traj.points), np.asarray(traj.bmus)
        assert np.issubdtype(points.dtype, np.floating), f"({tag}) points dtype {points.dtype}, not float"
        assert np.issubdtype(bmus.dtype, np.integer), f"({tag}) bmus dtype {bmus.dtype}, not integer"
        z1 = subject.new(0).step(model, z0, target)
        assert isinstance(z1, np.ndarray), f"({tag}) step returned a {type(z1).__name__}, not an ndarray"
        assert np.issubdtype(z1.dtype, np.floating), f"({tag}) step dtype {z1.dtype}, not float"


def check_step_shape(subject: h.Subject, options: h.Options) -> None:
    """``step(model, z, target)`` of one point (n_features,) returns (n_features,)."""
    for tag, model, target, z0 in _cases(subject, options):
        z1 = np.asarray(subject.new(0).step(model, z0, target))
        assert z1.shape == z0.shape, f"({tag}) step returned shape {z1.shape}, expected {z0.shape}"


def check_same_seed_same_result(subject: h.Subject, options: h.Options) -> None:
    """Two controllers built with the same seed take the same path."""
    steps = options.steps
    for tag, model, target, z0 in _cases(subject, options):
        a = _run(subject, model, z0, target, steps)
        b = subject.new(0).run(model, z0, target, steps)
        assert np.array_equal(a.points, b.points), f"({tag}) same seed, different path"


def check_batch(subject: h.Subject, options: h.Options) -> None:
    """A batch Z0 (3, n_features) gives points (3, steps + 1, n_features), bmus (3, steps + 1)."""
    steps = options.steps
    for tag, model, target, z0 in _cases(subject, options):
        D = z0.shape[0]
        batch = _run(subject, model, _batch(model, z0), target, steps)
        assert batch.points.shape == (3, steps + 1, D), f"({tag}) batch points {batch.points.shape}"
        assert batch.bmus.shape == (3, steps + 1), f"({tag}) batch bmus {batch.bmus.shape}"
        assert np.isfinite(batch.points).all(), f"({tag}) non-finite points in batch"


def check_bad_input_raises(subject: h.Subject, options: h.Options) -> None:
    """A NaN or wrong-width z0 raises `ValidationError`, an unfitted model `NotFittedError`,
    negative steps a `ProtoflowError`."""
    model = next(iter(_models(options).values()))
    target = _targets(subject, options)[0]
    D = np.asarray(model.prototypes_).shape[1]
    new = subject.new
    h.raises(ValidationError, lambda: new(0).run(model, np.full(D, np.nan), target, 2), "NaN z0")
    h.raises(ValidationError, lambda: new(0).run(model, np.zeros(D + 1), target, 2), "wrong width z0")
    h.raises(NotFittedError, lambda: new(0).run(PrototypeSet(), np.zeros(D), target, 2), "unfitted model")
    h.raises(ProtoflowError, lambda: new(0).run(model, np.zeros(D), target, -1), "negative steps")


#: every controller check, in the order the kit runs them
CHECKS: tuple[Callable[[h.Subject, h.Options], None], ...] = (
    check_protocol,
    check_supported_targets,
    h.check_get_set_params_roundtrip,
    h.check_clone,
    h.check_declared_parameters,
    check_run_starts_at_z0,
    check_run_respects_steps,
    check_run_shapes,
    check_output_dtypes,
    check_step_shape,
    check_same_seed_same_result,
    check_batch,
    check_bad_input_raises,
)
