"""The plugin registry with throwaway plugins: unknown names, duplicates, plugins broken on
import, hook typos, attribution, environment filters, and the built-in "prototypes" model."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

import protoflow
from protoflow import registry as registry_mod
from protoflow.errors import (
    ConfigError,
    DuplicatePluginError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from protoflow.registry import load_registry


class _Model(protoflow.PrototypeModelBase):
    def __init__(self, n_units: int = 3, seed: int | None = None):
        self.n_units = n_units
        self.seed = seed


def _plugin(name: str, kind: str = "model", factory: Any = _Model) -> Any:
    class P:
        pass

    def hook(registry):
        getattr(registry, f"add_{kind}")(name, factory, summary=f"test {name}")

    hook_name = {"model": "protoflow_register_models", "controller": "protoflow_register_controllers",
                 "encoder": "protoflow_register_encoders"}[kind]
    setattr(P, hook_name, staticmethod(protoflow.hookimpl(hook)))
    return P()


class _FakeDist:
    def __init__(self, name: str, version: str = "1.0") -> None:
        self.name, self.version = name, version


class _FakeEntryPoint:
    def __init__(self, name: str, dist: str, loader) -> None:
        self.name, self.dist, self._loader = name, _FakeDist(dist), loader

    def load(self):
        return self._loader()


def _fake_entry_points(monkeypatch, eps: list[_FakeEntryPoint]) -> None:
    monkeypatch.setattr(registry_mod.md, "entry_points", lambda group: list(eps))
    for var in ("PROTOFLOW_DISABLE_PLUGINS", "PROTOFLOW_LOAD_PLUGINS", "PROTOFLOW_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def test_builtin_prototypes_model_is_registered_through_entry_points() -> None:
    reg = load_registry()
    info = reg.get("model", "prototypes")
    assert info.distribution == "protoflow-core" and info.factory is protoflow.PrototypeSet
    names = [m["name"] for m in protoflow.available()["model"]]
    assert "prototypes" in names


def test_unknown_name_lists_close_matches() -> None:
    reg = load_registry(entry_points=False, plugins=[_plugin("toroidal-somx")])
    with pytest.raises(UnknownPluginError) as info:
        reg.get("model", "toroidal-som")
    msg = str(info.value)
    assert "toroidal-somx" in msg and "pip install" not in msg  # the core knows no distributions
    with pytest.raises(UnknownPluginError, match="Installed models: toroidal-somx"):
        reg.get("model", "zzz")


def test_duplicate_names_name_both_plugins(monkeypatch) -> None:
    _fake_entry_points(monkeypatch, [
        _FakeEntryPoint("alpha", "protoflow-alpha", lambda: _plugin("shared")),
        _FakeEntryPoint("beta", "protoflow-beta", lambda: _plugin("shared")),
    ])
    with pytest.raises(DuplicatePluginError) as info:
        load_registry().get("model", "shared")
    assert "protoflow-alpha" in str(info.value) and "protoflow-beta" in str(info.value)


def test_broken_plugin_is_recorded_and_others_still_load(monkeypatch) -> None:
    def broken():
        raise ImportError("no module named 'missing_dependency'")

    _fake_entry_points(monkeypatch, [
        _FakeEntryPoint("bad", "protoflow-bad", broken),
        _FakeEntryPoint("good", "protoflow-good", lambda: _plugin("good-model")),
    ])
    reg = load_registry()
    assert "good-model" in reg.models
    assert reg.models["good-model"].distribution == "protoflow-good"
    (failure,) = reg.failures
    assert isinstance(failure, PluginLoadError)
    assert failure.plugin == "bad" and failure.distribution == "protoflow-bad"
    assert "missing_dependency" in str(failure)
    with pytest.raises(PluginLoadError):
        load_registry(strict=True)


def test_plugin_whose_hook_raises_is_isolated(monkeypatch) -> None:
    class Exploding:
        @protoflow.hookimpl
        def protoflow_register_models(self, registry):
            registry.add_model("half-registered", _Model)
            raise RuntimeError("boom")

    _fake_entry_points(monkeypatch, [
        _FakeEntryPoint("exploding", "protoflow-exploding", Exploding),
        _FakeEntryPoint("good", "protoflow-good", lambda: _plugin("good-model")),
    ])
    reg = load_registry()
    assert "good-model" in reg.models and "half-registered" not in reg.models
    assert "boom" in str(reg.failures[0])


def test_misspelled_hook_is_caught(monkeypatch) -> None:
    class Typo:
        @protoflow.hookimpl
        def protoflow_register_model(self, registry):  # missing "s"
            pass

    with pytest.raises(PluginError, match="unknown hook 'protoflow_register_model'"):
        load_registry(entry_points=False, plugins=[Typo()])
    _fake_entry_points(monkeypatch, [_FakeEntryPoint("typo", "protoflow-typo", Typo)])
    reg = load_registry()
    assert "unknown hook" in str(reg.failures[0])


def test_environment_filters(monkeypatch) -> None:
    _fake_entry_points(monkeypatch, [
        _FakeEntryPoint("a", "protoflow-a", lambda: _plugin("model-a")),
        _FakeEntryPoint("b", "protoflow-b", lambda: _plugin("model-b")),
    ])
    monkeypatch.setenv("PROTOFLOW_DISABLE_PLUGINS", "protoflow-a")
    assert set(load_registry().models) == {"model-b"}
    monkeypatch.delenv("PROTOFLOW_DISABLE_PLUGINS")
    monkeypatch.setenv("PROTOFLOW_LOAD_PLUGINS", "a")
    assert set(load_registry().models) == {"model-a"}


def test_bad_component_names_are_rejected() -> None:
    with pytest.raises(PluginError, match="kebab-case"):
        load_registry(entry_points=False, plugins=[_plugin("Bad_Name")])


def test_create_and_bad_parameter() -> None:
    reg = load_registry(entry_points=False, plugins=[_plugin("tiny")])
    model = reg.create("model", "tiny", n_units=5)
    assert model.n_units == 5 and model.get_params() == {"n_units": 5, "seed": None}
    with pytest.raises(ConfigError, match="n_unit"):
        reg.create("model", "tiny", n_unit=5)


def test_register_and_unregister_in_default_registry() -> None:
    name = protoflow.register(_plugin("temporary-model"), name="temporary")
    try:
        assert isinstance(protoflow.create_model("temporary-model"), _Model)
        assert any(m["name"] == "temporary-model" for m in protoflow.available()["model"])
    finally:
        protoflow.unregister(name)
    with pytest.raises(UnknownPluginError):
        protoflow.create_model("temporary-model")


def test_registering_a_module_works() -> None:
    module = types.ModuleType("inline_plugin")
    module.protoflow_register_controllers = protoflow.hookimpl(
        lambda registry: registry.add_controller("noop", object)
    )
    reg = load_registry(entry_points=False, plugins=[module])
    assert "noop" in reg.controllers


def test_prototype_set_from_minisom_style_codebook() -> None:
    W = np.random.default_rng(0).normal(size=(3, 4, 2))  # MiniSom's get_weights() layout
    m = protoflow.create_model("prototypes", prototypes=W)
    assert m.prototypes_.shape == (12, 2) and m.topology_ == protoflow.Lattice(3, 4)
    np.testing.assert_array_equal(m.prototypes_[1 * 4 + 2], W[1, 2])  # row-major
    with pytest.raises(ConfigError, match="topology"):
        protoflow.PrototypeSet(W.reshape(12, 2), topology=protoflow.Lattice(2, 2))
