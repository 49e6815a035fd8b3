"""The conformance kit catches what it claims: a deliberately broken component for every check
it runs, each caught by that check by name, and well-behaved components that pass everything.

`BROKEN` must hold at least one broken component for every check name the kit exposes
(`test_every_check_has_a_broken_component`), so a new check without one fails this suite.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from protoflow import ControllerBase, EncoderBase, PrototypeModelBase, Trajectory
from protoflow.errors import ValidationError
from protoflow.params import Any_, Float, Int, Schema, Seed
from protoflow.testing import _harness as harness
from protoflow.testing import (
    all_checks,
    check_controller,
    check_encoder,
    check_names,
    check_prototype_model,
    detect_kind,
    iter_checks,
    parametrize_with_checks,
)
from protoflow.testing.controller_checks import targets_for
from protoflow.testing.model_checks import default_data
from protoflow.topology import NoTopology
from protoflow.validation import check_array, check_int, check_is_fitted, check_seed

# -- well-behaved components -----------------------------------------------------------------


class GoodModel(PrototypeModelBase):
    """Prototypes: n_units samples of the data, slightly jittered. ``n_units`` comes first, so a
    kit that passed the seed positionally would build ``GoodModel(0)`` (problem 1)."""

    def __init__(self, n_units: int = 5, init: np.ndarray | None = None, seed: int | None = None):
        self.n_units = n_units
        self.init = init
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return check_seed(self.seed)

    def fit(self, Z: Any, y: Any = None) -> GoodModel:
        n_units = check_int("n_units", self.n_units, minimum=1)
        Z = check_array(Z, name="Z", min_samples=n_units)
        rng = self._rng()
        if self.init is not None:
            W = check_array(self.init, name="init", n_features=Z.shape[1], copy=True)
        else:
            W = Z[rng.choice(len(Z), size=n_units, replace=False)].copy()
        self.prototypes_ = W + rng.normal(scale=0.01, size=W.shape)
        self.topology_ = NoTopology(len(W))
        self.n_features_in_ = Z.shape[1]
        return self


class GoodEncoder(EncoderBase):
    """Centre, then rotate by a random orthogonal matrix (seeded); keeps `n_components` axes.
    All axes kept: an exact inverse."""

    def __init__(self, n_components: int | None = None, seed: int | None = None):
        self.n_components = n_components
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return check_seed(self.seed)

    def fit(self, X: Any, y: Any = None) -> GoodEncoder:
        X = check_array(X, name="X")
        d = X.shape[1]
        k = d if self.n_components is None else check_int("n_components", self.n_components, minimum=1, maximum=d)
        Q, _ = np.linalg.qr(self._rng().normal(size=(d, d)))
        self.mean_ = X.mean(axis=0)
        self.components_ = Q[:, :k]
        self.n_features_in_ = d
        self.exact_inverse_ = k == d
        return self

    def encode(self, X: Any) -> np.ndarray:
        check_is_fitted(self, ["components_"])
        X = check_array(X, name="X", n_features=self.n_features_in_)
        return (X - self.mean_) @ self.components_

    def decode(self, Z: Any) -> np.ndarray:
        check_is_fitted(self, ["components_"])
        Z = check_array(Z, name="Z", n_features=self.components_.shape[1])
        return Z @ self.components_.T + self.mean_


class GoodController(ControllerBase):
    """Moves `rate` of the way to the target (a unit, the mean of a cluster, or, free, the
    current BMU), plus seeded noise."""

    supported_targets = ("unit", "cluster", "none")

    def __init__(self, rate: float = 0.5, noise: float = 0.01, seed: int | None = None):
        self.rate = rate
        self.noise = noise
        self.seed = seed

    def _start(self, model: Any, z0: np.ndarray, target: Any) -> np.random.Generator:
        return check_seed(self.seed)

    def _goal(self, model: Any, z: np.ndarray, target: Any) -> np.ndarray:
        W = model.prototypes_
        if target is None:
            return W[model.bmu(np.atleast_2d(z))].reshape(z.shape)
        if isinstance(target, list | tuple | np.ndarray):
            return W[list(target)].mean(axis=0)
        return W[target]

    def _step_with_info(self, model: Any, z: np.ndarray, target: Any, state: Any) -> tuple[np.ndarray, dict[str, Any]]:
        step = self.rate * (self._goal(model, z, target) - z) + self.noise * state.normal(size=z.shape)
        return z + step, {"step_length": np.linalg.norm(step, axis=-1)}


class UnitOnlyController(GoodController):
    """Declares (and accepts) unit targets only."""

    supported_targets = ("unit",)

    def _goal(self, model: Any, z: np.ndarray, target: Any) -> np.ndarray:
        if not isinstance(target, int | np.integer):
            raise ValidationError(f"{type(self).__name__} steers toward one unit, got {target!r}")
        return super()._goal(model, z, target)


# -- broken models: one (or more) per model check --------------------------------------------


class UnfittedGarbage(GoodModel):
    def activations(self, Z: Any) -> np.ndarray:
        if not hasattr(self, "prototypes_"):
            return np.zeros((len(Z), self.n_units))
        return super().activations(Z)

    def bmu(self, Z: Any) -> np.ndarray:
        if not hasattr(self, "prototypes_"):
            return np.zeros(len(Z), dtype=int)
        return super().bmu(Z)


class FitReturnsNone(GoodModel):
    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        return None


class NoTopologyAttribute(GoodModel):
    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        del self.topology_
        return self


class NoNFeaturesIn(GoodModel):
    """Problem 2: a model that never sets n_features_in_."""

    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        del self.n_features_in_
        return self


class WrongNFeaturesIn(GoodModel):
    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        self.n_features_in_ += 1
        return self


class FitChangesItsParams(GoodModel):
    """Problem 2: fit reassigns a constructor parameter."""

    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        self.n_units = len(self.prototypes_) * 1.0  # equal value, other type: still a change
        return self


class FitChangesInitInPlace(GoodModel):
    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        self.init *= 2.0
        return self


class SetParamsReturnsNone(GoodModel):
    def set_params(self, **params: Any) -> Any:
        super().set_params(**params)
        return None


class GetParamsReportsAnUnknownName(GoodModel):
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {**super().get_params(deep), "extra": 1}


class ConstructorChangesItsArguments(GoodModel):
    def __init__(self, n_units: int = 5, init: np.ndarray | None = None, seed: int | None = None):
        super().__init__(n_units + 1, init, seed)


class TopologyOfTheWrongSize(GoodModel):
    def fit(self, Z: Any, y: Any = None) -> Any:
        super().fit(Z)
        self.topology_ = NoTopology(len(self.prototypes_) + 1)
        return self


class FloatBMU(GoodModel):
    def bmu(self, Z: Any) -> np.ndarray:
        return super().bmu(Z).astype(np.float64)


class DistancesNotSquared(GoodModel):
    def activations(self, Z: Any) -> np.ndarray:
        return np.sqrt(super().activations(Z))


class ArgmaxBMU(GoodModel):
    def bmu(self, Z: Any) -> np.ndarray:
        return np.argmax(self.activations(Z), axis=1)


class IgnoresItsSeed(GoodModel):
    def _rng(self) -> np.random.Generator:
        return np.random.default_rng()


class DoubledActivations(GoodModel):
    def activations(self, Z: Any) -> np.ndarray:
        return 2.0 * super().activations(Z)


class AcceptsAnyData(GoodModel):
    def fit(self, Z: Any, y: Any = None) -> Any:
        Z = np.asarray(Z, dtype=np.float64)
        self.prototypes_ = Z[: self.n_units].copy()
        self.topology_ = NoTopology(len(self.prototypes_))
        self.n_features_in_ = Z.shape[1]
        return self


class ShiftedOnReload(GoodModel):
    def _protoflow_set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._protoflow_set_state(meta, arrays)
        self.prototypes_ = self.prototypes_ + 1.0


# -- broken encoders -------------------------------------------------------------------------


class EncodesBeforeFit(GoodEncoder):
    def encode(self, X: Any) -> np.ndarray:
        if not hasattr(self, "components_"):
            return np.asarray(X, dtype=np.float64)
        return super().encode(X)


class EncoderFitReturnsNone(GoodEncoder):
    def fit(self, X: Any, y: Any = None) -> Any:
        super().fit(X)
        return None


class NoDecode(GoodEncoder):
    decode = None  # type: ignore[assignment]


class EncoderWithoutNFeaturesIn(GoodEncoder):
    def fit(self, X: Any, y: Any = None) -> Any:
        super().fit(X)
        del self.n_features_in_
        return self


class FitFillsInNComponents(GoodEncoder):
    def fit(self, X: Any, y: Any = None) -> Any:
        super().fit(X)
        self.n_components = self.components_.shape[1]
        return self


class EncoderSetParamsReturnsNone(GoodEncoder):
    def set_params(self, **params: Any) -> Any:
        super().set_params(**params)
        return None


class EncoderConstructorChangesSeed(GoodEncoder):
    def __init__(self, n_components: int | None = None, seed: int | None = None):
        super().__init__(n_components, None if seed is None else seed + 1)


class DecodeDropsAColumn(GoodEncoder):
    def decode(self, Z: Any) -> np.ndarray:
        return super().decode(Z)[:, :-1]


class IntegerCodes(GoodEncoder):
    def encode(self, X: Any) -> np.ndarray:
        return np.rint(super().encode(X)).astype(np.int64)


class ClaimsAnExactInverse(GoodEncoder):
    def decode(self, Z: Any) -> np.ndarray:
        return super().decode(Z) + 1e-3


class EncoderIgnoresItsSeed(GoodEncoder):
    def _rng(self) -> np.random.Generator:
        return np.random.default_rng()


class EncodeSkipsValidation(GoodEncoder):
    def encode(self, X: Any) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean_) @ self.components_


class EncoderShiftedOnReload(GoodEncoder):
    def _protoflow_set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._protoflow_set_state(meta, arrays)
        self.mean_ = self.mean_ + 1.0


# -- broken controllers ----------------------------------------------------------------------


class NoStep(GoodController):
    step = None  # type: ignore[assignment]


class TargetsAsAString(GoodController):
    supported_targets = "unit"  # type: ignore[assignment]


class UnknownTargetKind(GoodController):
    supported_targets = ("unit", "clusters")


class ControllerSetParamsReturnsNone(GoodController):
    def set_params(self, **params: Any) -> Any:
        super().set_params(**params)
        return None


class ControllerConstructorDoublesRate(GoodController):
    def __init__(self, rate: float = 0.5, noise: float = 0.01, seed: int | None = None):
        super().__init__(rate * 2, noise, seed)


class StartsNearZ0(GoodController):
    """Starts 1e-9 away from z0: close, but not exactly z0."""

    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        t = super().run(model, z0, target, steps)
        points = np.array(t.points)
        points[..., 0, :] += 1e-9
        return Trajectory(points=points, bmus=t.bmus, info=t.info, controller=t.controller, target=target)


class AlwaysOneStep(GoodController):
    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        return super().run(model, z0, target, max(steps, 1))


class DropsItsInfo(GoodController):
    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        t = super().run(model, z0, target, steps)
        return Trajectory(points=t.points, bmus=t.bmus, info=(), controller=t.controller, target=target)


class WrongBMUs(GoodController):
    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        t = super().run(model, z0, target, steps)
        return Trajectory(points=t.points, bmus=np.zeros_like(t.bmus), info=t.info)


class FloatTrajectoryBMUs(GoodController):
    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        t = super().run(model, z0, target, steps)
        return Trajectory(points=t.points, bmus=t.bmus.astype(np.float64), info=t.info)


class StepReturnsARow(GoodController):
    def step(self, model: Any, z: Any, target: Any) -> np.ndarray:
        return np.atleast_2d(super().step(model, z, target))


class ControllerIgnoresItsSeed(GoodController):
    def _start(self, model: Any, z0: np.ndarray, target: Any) -> np.random.Generator:
        return np.random.default_rng()


class BatchKeepsOnePath(GoodController):
    def run(self, model: Any, z0: Any, target: Any, steps: int) -> Trajectory:
        if np.ndim(z0) == 2:
            z0 = np.asarray(z0)[0]
        return super().run(model, z0, target, steps)


class NoInputValidation(GoodController):
    def _check_point(self, model: Any, z: Any) -> np.ndarray:
        return np.asarray(z, dtype=np.float64)


class ClaimsClusters(UnitOnlyController):
    """Declares cluster targets but refuses them: the kit derives its targets from the
    declaration and catches it."""

    supported_targets = ("unit", "cluster")


class DeclaresAParameterItLacks(GoodModel):
    """Its declaration names a parameter the constructor does not take (and misses `init`)."""

    parameters = Schema(n_units=Int(1), size=Int(1), seed=Seed())


class DefaultFailsItsDeclaration(GoodEncoder):
    """Declares n_components >= 1 but defaults to -1."""

    parameters = Schema(n_components=Int(1), seed=Seed())

    def __init__(self, n_components: int | None = -1, seed: int | None = None):
        super().__init__(n_components, seed)


class DeclarationIsNotASchema(GoodController):
    """``parameters`` is a dict, not a `protoflow.params.Schema`."""

    parameters = {"rate": Float(0.0)}  # noqa: RUF012 - deliberately the wrong type


class WellDeclaredModel(GoodModel):
    """Declares exactly its constructor's parameters: passes check_declared_parameters."""

    parameters = Schema(n_units=Int(1), init=Any_(), seed=Seed())


#: kind -> check name -> broken components that check must catch
BROKEN: dict[str, dict[str, list[Any]]] = {
    "model": {
        "check_unfitted_raises": [UnfittedGarbage],
        "check_fit_returns_self": [FitReturnsNone],
        "check_protocol": [NoTopologyAttribute],
        "check_n_features_in": [NoNFeaturesIn, WrongNFeaturesIn],
        "check_fit_does_not_change_params": [
            FitChangesItsParams,
            functools.partial(FitChangesInitInPlace, init=default_data()[:5].copy()),
        ],
        "check_get_set_params_roundtrip": [SetParamsReturnsNone, GetParamsReportsAnUnknownName],
        "check_clone": [ConstructorChangesItsArguments],
        "check_declared_parameters": [DeclaresAParameterItLacks],
        "check_shapes": [TopologyOfTheWrongSize],
        "check_output_dtypes": [FloatBMU],
        "check_activations_are_squared_distances": [DistancesNotSquared],
        "check_bmu_is_argmin": [ArgmaxBMU],
        "check_same_seed_same_result": [IgnoresItsSeed],
        "check_inversion_of_own_activations": [DoubledActivations],
        "check_bad_input_raises": [AcceptsAnyData],
        "check_save_load_roundtrip": [ShiftedOnReload],
    },
    "encoder": {
        "check_unfitted_raises": [EncodesBeforeFit],
        "check_fit_returns_self": [EncoderFitReturnsNone],
        "check_protocol": [NoDecode],
        "check_n_features_in": [EncoderWithoutNFeaturesIn],
        "check_fit_does_not_change_params": [FitFillsInNComponents],
        "check_get_set_params_roundtrip": [EncoderSetParamsReturnsNone],
        "check_clone": [EncoderConstructorChangesSeed],
        "check_declared_parameters": [DefaultFailsItsDeclaration],
        "check_shapes": [DecodeDropsAColumn],
        "check_output_dtypes": [IntegerCodes],
        "check_exact_inverse": [ClaimsAnExactInverse],
        "check_same_seed_same_result": [EncoderIgnoresItsSeed],
        "check_bad_input_raises": [EncodeSkipsValidation],
        "check_save_load_roundtrip": [EncoderShiftedOnReload],
    },
    "controller": {
        "check_protocol": [NoStep],
        "check_supported_targets": [TargetsAsAString, UnknownTargetKind],
        "check_get_set_params_roundtrip": [ControllerSetParamsReturnsNone],
        "check_clone": [ControllerConstructorDoublesRate],
        "check_declared_parameters": [DeclarationIsNotASchema],
        "check_run_starts_at_z0": [StartsNearZ0],
        "check_run_respects_steps": [AlwaysOneStep, DropsItsInfo],
        "check_run_shapes": [WrongBMUs, ClaimsClusters],
        "check_output_dtypes": [FloatTrajectoryBMUs],
        "check_step_shape": [StepReturnsARow],
        "check_same_seed_same_result": [ControllerIgnoresItsSeed],
        "check_batch": [BatchKeepsOnePath],
        "check_bad_input_raises": [NoInputValidation],
    },
}

GOOD: dict[str, list[Any]] = {
    "model": [GoodModel, functools.partial(GoodModel, n_units=3), lambda seed: GoodModel(seed=seed)],
    "encoder": [GoodEncoder, functools.partial(GoodEncoder, n_components=2)],
    "controller": [GoodController, UnitOnlyController],
}


def _broken_cases() -> list[Any]:
    cases = []
    for kind, by_check in BROKEN.items():
        for name, components in by_check.items():
            for i, component in enumerate(components):
                label = getattr(component, "__name__", None) or harness.Subject(component).label
                cases.append(pytest.param(kind, name, component, id=f"{kind}-{name}-{label}-{i}"))
    return cases


def _check(kind: str, name: str) -> Any:
    return {c.name: c for c in all_checks(kind)}[name]


# -- the kit catches every broken component --------------------------------------------------


@pytest.mark.parametrize("kind", harness.KINDS)
def test_every_check_has_a_broken_component(kind: str) -> None:
    names = set(check_names(kind))
    missing = names - set(BROKEN[kind])
    assert not missing, f"{kind} checks without a broken component in this file: {sorted(missing)}"
    stale = set(BROKEN[kind]) - names
    assert not stale, f"broken components for {kind} checks that no longer exist: {sorted(stale)}"
    assert all(BROKEN[kind].values())


@pytest.mark.parametrize(("kind", "name", "component"), _broken_cases())
def test_the_check_catches_its_broken_component(kind: str, name: str, component: Any) -> None:
    with pytest.raises(AssertionError, match=rf"\] {name} (failed|raised)"):
        _check(kind, name)(component)


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k in BROKEN for n in BROKEN[k]])
def test_the_good_components_pass_each_check(kind: str, name: str) -> None:
    """So a broken component is caught for its defect, not because the check always fails."""
    for component in GOOD[kind]:
        _check(kind, name)(component)


def test_the_run_everything_functions_name_the_failed_check() -> None:
    with pytest.raises(AssertionError, match=r"\[NoNFeaturesIn\] check_n_features_in failed"):
        check_prototype_model(NoNFeaturesIn)
    with pytest.raises(AssertionError, match="check_fit_does_not_change_params"):
        check_prototype_model(FitChangesItsParams)
    with pytest.raises(AssertionError, match="check_exact_inverse"):
        check_encoder(ClaimsAnExactInverse)
    with pytest.raises(AssertionError, match="check_run_starts_at_z0"):
        check_controller(StartsNearZ0)


# -- well-behaved components pass everything, one test per check ------------------------------


@parametrize_with_checks([*GOOD["model"], GoodModel(n_units=4), *GOOD["encoder"], *GOOD["controller"]])
def test_good_components_pass_every_check(component: Any, check: Any) -> None:
    check(component)


def test_run_everything_functions_pass_good_components() -> None:
    check_prototype_model(GoodModel)
    check_prototype_model(GoodModel, params={"n_units": 3})
    check_prototype_model(GoodModel(n_units=4))
    check_prototype_model(lambda seed: GoodModel(n_units=6, seed=seed), data=default_data()[:40])
    check_encoder(GoodEncoder, params={"n_components": 3})
    check_controller(GoodController, params={"rate": 0.2}, steps=3)
    check_controller(GoodController, targets=(4,))


# -- how components are built (problem 1) ----------------------------------------------------


def test_a_class_is_built_with_the_seed_as_a_keyword() -> None:
    """Problem 1: ``check_prototype_model(MyModel)`` used to call ``MyModel(0)``."""
    m = harness.Subject(GoodModel).new(3)
    assert (m.n_units, m.seed) == (5, 3)
    m = harness.Subject(GoodModel, {"n_units": 2, "seed": 99}).new(4)
    assert (m.n_units, m.seed) == (2, 4)  # the kit's seed replaces a seed in params
    m = harness.Subject(functools.partial(GoodModel, n_units=2)).new(5)
    assert (m.n_units, m.seed) == (2, 5)
    check_prototype_model(GoodModel)


def test_a_class_without_a_seed_is_built_without_one() -> None:
    class Seedless(GoodModel):
        def __init__(self, n_units: int = 5):
            super().__init__(n_units, None, 0)

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {"n_units": self.n_units}

    assert harness.Subject(Seedless).new(7).n_units == 5
    check_prototype_model(Seedless, params={"n_units": 4})


def test_an_instance_is_cloned_for_every_check() -> None:
    original = GoodModel(n_units=4, seed=11)
    subject = harness.Subject(original)
    a, b = subject.new(0), subject.new(0)
    assert a is not original and a is not b
    assert (a.n_units, a.seed) == (4, 0)
    check_prototype_model(original)
    assert not hasattr(original, "prototypes_")  # the instance given is never fitted


def test_a_factory_receives_the_seed() -> None:
    seeds: list[int] = []

    def factory(seed: int) -> GoodModel:
        seeds.append(seed)
        return GoodModel(seed=seed)

    check_prototype_model(factory)
    assert seeds and set(seeds) == {0}


def test_wrong_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="params apply to a class"):
        check_prototype_model(lambda seed: GoodModel(seed=seed), params={"n_units": 3})

    class NoParams:
        def fit(self, Z: Any) -> Any:
            return self

        def activations(self, Z: Any) -> Any:
            return Z

        def bmu(self, Z: Any) -> Any:
            return Z

    with pytest.raises(TypeError, match="no get_params"):
        check_prototype_model(NoParams())
    with pytest.raises(TypeError, match="expected a component"):
        check_prototype_model(42)
    with pytest.raises(ValueError, match="unknown kind"):
        all_checks("dataset")


def test_kind_is_detected_from_the_protocols() -> None:
    assert detect_kind(GoodModel) == "model"
    assert detect_kind(GoodModel()) == "model"
    assert detect_kind(functools.partial(GoodEncoder, n_components=2)) == "encoder"
    assert detect_kind(lambda seed: GoodController(seed=seed)) == "controller"
    with pytest.raises(TypeError, match="neither a model"):
        detect_kind(dict)
    kinds = {check.kind for _, check in iter_checks([GoodModel, GoodEncoder, GoodController])}
    assert kinds == {"model", "encoder", "controller"}
    assert {check.kind for _, check in iter_checks([GoodEncoder], kind="encoder")} == {"encoder"}


def test_parametrize_ids_name_the_component_and_the_check() -> None:
    mark = parametrize_with_checks([GoodModel, functools.partial(GoodModel, n_units=3), GoodController])
    names, params = mark.args
    assert names == ("component", "check")
    ids = [p.id for p in params]
    assert "GoodModel-check_fit_returns_self" in ids
    assert "GoodModel(n_units=3)-check_clone" in ids
    assert "GoodController-check_run_starts_at_z0" in ids
    assert len(ids) == 2 * len(check_names("model")) + len(check_names("controller"))
    component, check = params[0].values
    assert component is GoodModel and check.name == check_names("model")[0]
    custom = parametrize_with_checks([GoodModel], ids=["mine"]).args[1]
    assert custom[0].id == f"mine-{check_names('model')[0]}"
    with pytest.raises(ValueError, match="ids"):
        parametrize_with_checks([GoodModel], ids=["a", "b"])


def test_controller_targets_come_from_supported_targets() -> None:
    assert targets_for(GoodController()) == (7, [3, 7, 8], None)
    assert targets_for(UnitOnlyController()) == (7,)
    assert targets_for(object()) == (7,)  # undeclared: ("unit",)
    check_controller(UnitOnlyController)  # never asked to steer toward a cluster
    with pytest.raises(AssertionError, match="ClaimsClusters"):
        check_controller(ClaimsClusters)
    with pytest.raises(AssertionError, match=r"got \[1, 2\]"):  # explicit targets win
        check_controller(UnitOnlyController, targets=([1, 2],))


def test_fits_are_shared_between_checks_but_not_across_parameters() -> None:
    harness.clear_cache()
    X = default_data()
    spec = GoodModel(n_units=4)
    first = harness.fit_record(harness.Subject(spec), X)
    assert harness.fit_record(harness.Subject(spec), X) is first
    spec.set_params(n_units=3)
    other = harness.fit_record(harness.Subject(spec), X)
    assert other is not first and len(other.instance.prototypes_) == 3
    assert harness.fit_record(harness.Subject(spec), X[:50]) is not other  # other data


def test_a_monkeypatched_method_is_not_served_an_earlier_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    class Patched(GoodModel):
        pass

    X = default_data()
    first = harness.fit_record(harness.Subject(Patched), X)
    assert harness.fit_record(harness.Subject(Patched), X) is first
    def fit_returning_none(self: Any, Z: Any, y: Any = None) -> None:
        GoodModel.fit(self, Z)

    monkeypatch.setattr(Patched, "fit", fit_returning_none)
    assert harness.fit_record(harness.Subject(Patched), X) is not first
    with pytest.raises(AssertionError, match="check_fit_returns_self"):
        _check("model", "check_fit_returns_self")(Patched)


def test_same_value_is_strict() -> None:
    assert harness.same_value(np.arange(3.0), np.arange(3.0))
    assert not harness.same_value(np.arange(3.0), np.arange(3))
    assert not harness.same_value(5, 5.0)
    assert harness.same_value([1, (2, np.nan)], [1, (2, np.nan)])
    assert not harness.same_value({"a": 1}, {"a": 2})


def test_importing_the_kit_does_not_need_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import protoflow.testing as t\n"
        "from protoflow.prototypes import PrototypeSet\n"
        "import numpy as np\n"
        "W = np.random.default_rng(0).normal(size=(6, 4))\n"
        "for component, check in t.iter_checks([lambda seed: PrototypeSet(W)]):\n"
        "    check(component)\n"
        "try:\n"
        "    t.parametrize_with_checks([PrototypeSet])\n"
        "except ImportError:\n"
        "    print('needs pytest')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "needs pytest"


def test_a_component_may_carry_its_own_options() -> None:
    pairs = list(iter_checks([(UnitOnlyController, {"targets": ([1, 2],)}), GoodController]))
    assert {c is UnitOnlyController for c, _ in pairs} == {True, False}
    own = [check for c, check in pairs if c is UnitOnlyController and check.name == "check_run_shapes"]
    with pytest.raises(AssertionError, match=r"got \[1, 2\]"):
        own[0](UnitOnlyController)
    ids = [p.id for p in parametrize_with_checks([(GoodModel, {"steps": 1, "data": default_data()[:30]})]).args[1]]
    assert ids[0] == f"GoodModel-{check_names('model')[0]}"
    with pytest.raises(TypeError, match="unknown options"):
        list(iter_checks([(GoodModel, {"target": 7})]))
    with pytest.raises(TypeError, match="pair"):
        list(iter_checks([(GoodModel, 7)]))


def test_a_well_declared_model_passes_the_declaration_check():
    check = next(c for c in all_checks("model") if c.name == "check_declared_parameters")
    check(WellDeclaredModel)
