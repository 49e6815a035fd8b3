"""`config validate` catches, before anything is computed, what used to fail only later: a
missing required parameter, a data path that does not exist, an optional dependency that is
not installed, and any value a component's declared parameters (`protoflow.params.Schema`)
refuse: the same declaration its own fit uses."""

from __future__ import annotations

import pytest

import protoflow
from protoflow import config as config_mod
from protoflow.config import ConfigFileError, parse_config
from protoflow.params import Bool, Choice, Device, Float, Int, Schema, Seed


class Declared(protoflow.PrototypeModelBase):
    parameters = Schema(n_units=Int(minimum=1), t_max=Float(minimum=0.0, strict_min=True, optional=True),
                        kind=Choice("rect", "hex"), flag=Bool(), device=Device(), seed=Seed())
    needs_modules = ("surely_not_installed_module_xyz",)

    def __init__(self, n_units=4, t_max=None, kind="rect", flag=False, device=None, seed=None):
        self.n_units, self.t_max, self.kind, self.flag, self.device, self.seed = (
            n_units, t_max, kind, flag, device, seed)

    def fit(self, X, y=None):
        self.validated_params()
        return self


class Plugin:
    @protoflow.hookimpl
    def protoflow_register_models(self, registry):
        registry.add_model("declared", Declared)


@pytest.fixture()
def reg():
    return protoflow.registry.load_registry(plugins=[Plugin()])


def _issues(raw, reg, **kw):
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw, registry=reg, **kw)
    return str(info.value)


BASE = {"data": {"name": "gmm", "n_samples": 50}, "run": {"figures": False, "report": False}}


@pytest.mark.parametrize(("params", "expected"), [
    ({"n_units": 0}, "'n_units' must be >= 1, got 0"),
    ({"t_max": "big"}, "'t_max' must be a number, got 'big'"),
    ({"t_max": -1.0}, "'t_max' must be > 0.0"),
    ({"kind": "square"}, "'kind' must be one of 'rect', 'hex'"),
    ({"flag": 1}, "'flag' must be true or false"),
    ({"device": 42}, "parameter 'device' must be 'cpu'"),
])
def test_declared_parameters_are_checked_by_config_validate(reg, params, expected, monkeypatch):
    monkeypatch.setattr(config_mod, "_importable", lambda m: True)
    text = _issues({**BASE, "model": {"name": "declared", **params}}, reg)
    assert expected in text and "[model]" in text
    with pytest.raises(protoflow.ConfigError, match=expected.split(",")[0].replace("'", ".")):
        Declared(**params).fit(None)  # fit says the same from the same declaration


def test_every_problem_is_reported_at_once(reg, monkeypatch):
    monkeypatch.setattr(config_mod, "_importable", lambda m: True)
    text = _issues({**BASE, "model": {"name": "declared", "n_units": 0, "kind": "x", "flag": 2}}, reg)
    assert "n_units" in text and "kind" in text and "flag" in text


def test_a_declared_module_that_is_missing_is_reported(reg):
    text = _issues({**BASE, "model": {"name": "declared"}}, reg)
    assert "surely_not_installed_module_xyz" in text and "not installed" in text


def test_figures_without_matplotlib_are_reported_before_running(reg, monkeypatch):
    monkeypatch.setattr(config_mod, "_importable", lambda m: m != "matplotlib")
    raw = {**BASE, "run": {"figures": True}, "model": {"name": "prototypes", "prototypes": [[0.0, 1.0]]}}
    text = _issues(raw, reg)
    assert "need matplotlib" in text and "protoflow-core[report]" in text


def test_a_file_dataset_without_path_and_with_a_missing_path(reg, tmp_path, monkeypatch):
    monkeypatch.setattr(config_mod, "_importable", lambda m: True)
    model = {"name": "prototypes"}
    text = _issues({"data": {"name": "file"}, "model": model, "run": BASE["run"]}, reg)
    assert "[data] key 'path'" in text and "needs this parameter" in text
    text = _issues({"data": {"name": "file", "path": "nowhere.csv"}, "model": model, "run": BASE["run"]},
                   reg, base_dir=str(tmp_path))
    assert "no file or folder 'nowhere.csv'" in text
    (tmp_path / "here.csv").write_text("1,2\n3,4\n")
    parse_config({"data": {"name": "file", "path": "here.csv"}, "model": model, "run": BASE["run"]},
                 registry=reg, base_dir=str(tmp_path))  # beside the config file: fine


def test_backend_torch_needs_torch(reg, monkeypatch):
    monkeypatch.setattr(config_mod, "_importable", lambda m: m != "torch")

    class TorchThing(protoflow.PrototypeModelBase):
        def __init__(self, backend="numpy"):
            self.backend = backend

    class TorchPlugin:
        @protoflow.hookimpl
        def protoflow_register_models(self, registry):
            registry.add_model("torch-thing", TorchThing)

    reg.register(TorchPlugin(), name="torch-thing-plugin")
    text = _issues({**BASE, "model": {"name": "torch-thing", "backend": "torch"}}, reg)
    assert "'torch'" in text and "not installed" in text
    parse_config({**BASE, "model": {"name": "torch-thing"}}, registry=reg)  # numpy: fine


def test_schema_mismatch_is_reported():
    class Wrong:
        def __init__(self, a=1, b="x"):
            pass

    problems = Schema(a=Int(minimum=5), c=Int()).mismatch(Wrong)
    assert any("'b' is not declared" in p for p in problems)
    assert any("'c' is not a constructor parameter" in p for p in problems)
    assert any("default of 'a' fails" in p for p in problems)
    assert Schema(a=Int(), b=Choice("x")).mismatch(Wrong) == []
