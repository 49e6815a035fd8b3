"""`protoflow.testing.isolated_registry` / `registry_fixture`, and the save/load check's
temporary registration through the public registry API."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import protoflow
from protoflow.registry import Registry, get_registry, load_registry, using_registry
from protoflow.testing import all_checks, isolated_registry, registry_fixture
from protoflow.topology import NoTopology
from protoflow.validation import check_array


class Codebook(protoflow.PrototypeModelBase):
    """The first `n_units` points become the prototypes."""

    def __init__(self, n_units: int = 4, seed: int | None = None):
        self.n_units = n_units
        self.seed = seed

    def fit(self, Z: Any, y: Any = None) -> Codebook:
        Z = check_array(Z, name="Z", min_samples=self.n_units)
        self.prototypes_ = Z[: self.n_units].copy()
        self.topology_ = NoTopology(self.n_units)
        self.n_features_in_ = Z.shape[1]
        return self


class CodebookPlugin:
    """A plugin that is not installed."""

    @protoflow.hookimpl
    def protoflow_register_models(self, registry: Any) -> None:
        registry.add_model("codebook", Codebook)


PLUGIN = CodebookPlugin()

codebook_registry = registry_fixture(PLUGIN)


def test_the_fixture_gives_a_registry_with_only_the_plugin(codebook_registry: Registry) -> None:
    assert isinstance(codebook_registry, Registry)
    assert get_registry() is codebook_registry
    assert set(codebook_registry.models) == {"codebook"}
    assert isinstance(protoflow.create_model("codebook", n_units=2), Codebook)


def test_isolated_registry_is_the_default_inside_and_restored_after() -> None:
    before = get_registry()
    with isolated_registry(PLUGIN) as reg:
        assert get_registry() is reg and reg is not before
        assert list(reg.models) == ["codebook"]
        assert not reg.encoders and not reg.controllers
    assert get_registry() is before
    assert before.find_by_class(Codebook) is None


def test_a_plugin_may_be_named_by_its_module() -> None:
    with isolated_registry("protoflow_som.plugin") as reg:
        assert {"som", "toroidal-som"} <= set(reg.models)
        assert "kmeans" not in reg.models


def test_an_installed_plugin_is_not_registered_twice() -> None:
    """The clash of problem 3: the entry point already registered the module."""
    import protoflow_som.plugin as som_plugin

    with isolated_registry(som_plugin, entry_points=True) as reg:
        assert reg.plugin_manager.is_registered(som_plugin)
        assert "som" in reg.models and "kmeans" in reg.models
    with isolated_registry(som_plugin) as reg:  # entry_points=False: only the plugin
        assert "kmeans" not in reg.models and "som" in reg.models


def _save_load() -> Any:
    return {c.name: c for c in all_checks("model")}["check_save_load_roundtrip"]


def test_save_load_check_registers_an_unregistered_class_temporarily() -> None:
    reg = load_registry(entry_points=False)
    calls: list[str] = []
    original = reg.register

    def register(plugin: Any, name: str | None = None, **kw: Any) -> str:
        out = original(plugin, name, **kw)
        calls.append(out)
        assert reg.find_by_class(Codebook) is not None
        return out

    reg.register = register  # type: ignore[method-assign]
    with using_registry(reg):
        _save_load()(Codebook)
    assert len(calls) == 1 and calls[0].startswith("_protoflow_conformance_")
    assert reg.plugin_manager.get_plugin(calls[0]) is None  # unregistered again
    assert reg.find_by_class(Codebook) is None and not reg.models


def test_save_load_check_uses_the_registered_name_when_there_is_one(
    codebook_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins_before = dict(codebook_registry.plugin_manager.list_name_plugin())
    saved: list[str] = []
    real_save = protoflow.io.save

    def spy(obj: Any, path: Any) -> Any:
        out = real_save(obj, path)
        saved.append(protoflow.io.read_metadata(out)["name"])
        return out

    import protoflow.testing.model_checks as mc

    monkeypatch.setattr(mc.io, "save", spy)
    _save_load()(Codebook)
    assert saved == ["codebook"]
    assert dict(codebook_registry.plugin_manager.list_name_plugin()) == plugins_before


def test_the_kit_passes_the_plugin_inside_its_registry(codebook_registry: Registry) -> None:
    for check in all_checks("model"):
        check(lambda seed: protoflow.create_model("codebook", seed=seed))
    assert np.array_equal(
        protoflow.create_model("codebook", n_units=2).fit(np.eye(3)).prototypes_, np.eye(3)[:2]
    )
