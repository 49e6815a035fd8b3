"""Configuration parsing: every error names file, table and key; overrides; seeds."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import attrs
import pytest

import protoflow
from protoflow.config import (
    ConfigFileError,
    apply_overrides,
    load_config,
    parse_config,
    parse_override,
)
from protoflow.errors import ConfigError

_spec = importlib.util.spec_from_file_location("pipeline_toys", Path(__file__).with_name("pipeline_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)


@pytest.fixture()
def registry():
    return protoflow.load_registry(entry_points=False, plugins=[toys.ToyPlugin()])


def _raw():
    return tomllib.loads(toys.TOY_TOML)


def test_valid_config_parses_into_frozen_objects(registry):
    cfg = parse_config(_raw(), registry=registry)
    assert cfg.model.name == "toy-grid" and cfg.model.params["rows"] == 3
    assert cfg.run.steps == 12 and len(cfg.run.pairs) == 2
    assert cfg.run.pairs[1].target_cluster == 2
    assert [c.label for c in cfg.compare] == ["hex"]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.model = cfg.encoder  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.model.params["rows"] = 5  # type: ignore[index]


def test_run_seed_reaches_every_component_unless_set(registry):
    raw = _raw()
    raw["encoder"]["seed"] = 99
    cfg = parse_config(raw, registry=registry)
    assert cfg.model.params["seed"] == 3
    assert cfg.controller.params["seed"] == 3
    assert cfg.data.params["seed"] == 3
    assert cfg.run.baselines[0].params["seed"] == 3
    assert cfg.compare[0].model.params["seed"] == 3
    assert cfg.encoder.params["seed"] == 99


def test_unknown_key_names_file_table_key_and_suggests(registry, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(toys.TOY_TOML.replace("rows = 3\n", "row = 3\n", 1))
    with pytest.raises(ConfigFileError) as info:
        load_config(path, registry=registry)
    msg = str(info.value)
    assert str(path) in msg and "[model]" in msg and "'row'" in msg and "did you mean 'rows'" in msg
    assert not info.value.is_plugin_problem


def test_wrong_type_is_reported(registry):
    raw = _raw()
    raw["model"]["rows"] = "three"
    raw["run"]["steps"] = 1.5
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw, source="x.toml", registry=registry)
    keys = {(i.table, i.key) for i in info.value.issues}
    assert keys == {("model", "rows"), ("run", "steps")}
    assert "expects an integer" in str(info.value)


def test_float_parameter_accepts_an_integer(registry):
    raw = _raw()
    raw["controller"]["rate"] = 1
    assert parse_config(raw, registry=registry).controller.params["rate"] == 1


def test_unknown_plugin_suggests_close_matches_and_is_a_plugin_problem(registry):
    raw = _raw()
    raw["model"] = {"name": "toy-gird"}
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw, source="c.toml", registry=registry)
    assert info.value.is_plugin_problem
    assert "'toy-grid'" in str(info.value) and "[model] key 'name'" in str(info.value)


def test_all_problems_are_reported_at_once(registry):
    raw = _raw()
    raw["model"]["colz"] = 2
    raw["run"]["stepz"] = 3
    raw["controller"] = {"name": "nope"}
    raw["extra"] = {}
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw, source="c.toml", registry=registry)
    assert len(info.value.issues) == 4
    assert not info.value.is_plugin_problem  # a mix: the config is at fault too
    assert str(info.value).startswith("4 problems in c.toml")


@pytest.mark.parametrize(
    ("pairs", "fragment"),
    [
        ([{"source": 0}], "exactly one"),
        ([{"source": 0, "target": 1, "targte": 2}], "unknown key"),
        ([{"source_index": -1, "target": 1}], "integers >= 0"),
        ([{"source": 0, "target_units": []}], "non-empty list"),
        ("not a list", "must be a list"),
    ],
)
def test_bad_pairs(registry, pairs, fragment):
    raw = _raw()
    raw["run"]["pairs"] = pairs
    with pytest.raises(ConfigFileError, match=fragment):
        parse_config(raw, registry=registry)


def test_missing_model_table_and_bad_run_values(registry):
    raw = _raw()
    del raw["model"]
    raw["run"]["test_size"] = 1.5
    raw["run"]["classifier"] = "svm"
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw, registry=registry)
    assert {(i.table, i.key) for i in info.value.issues} == {
        ("model", None), ("run", "test_size"), ("run", "classifier")
    }


def test_invalid_toml_and_missing_file_name_the_file(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[model\nname = 1")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_override_values_are_toml():
    assert parse_override("model.rows=20") == (["model", "rows"], 20)
    assert parse_override("model.name=kmeans") == (["model", "name"], "kmeans")
    assert parse_override('model.name="x y"') == (["model", "name"], "x y")
    assert parse_override("run.pairs=[{source=1, target=2}]")[1] == [{"source": 1, "target": 2}]
    assert parse_override("encoder.whiten=true")[1] is True
    for bad in ("rows=3", "model.rows", "=3"):
        with pytest.raises(ConfigError, match=r"table\.key=value"):
            parse_override(bad)


def test_overrides_apply_and_are_validated(registry):
    raw = _raw()
    cfg = parse_config(raw, overrides=["model.rows=5", "compare.0.model.cols=2", "run.seed=7"],
                       registry=registry)
    assert cfg.model.params["rows"] == 5 and cfg.compare[0].model.params["cols"] == 2
    assert cfg.model.params["seed"] == 7
    assert raw["model"]["rows"] == 3  # the input is not modified
    with pytest.raises(ConfigFileError, match="did you mean 'rows'"):
        parse_config(raw, overrides=["model.rowz=5"], registry=registry)
    with pytest.raises(ConfigError, match="no item"):
        apply_overrides(raw, ["compare.3.model.cols=2"])


def test_compare_shorthand_and_duplicate_labels(registry):
    raw = _raw()
    raw["compare"] = [{"name": "toy-grid", "rows": 2, "label": "small"},
                      {"model": {"name": "toy-grid"}}]
    with pytest.raises(ConfigFileError, match="used twice"):  # clashes with the main model
        parse_config(raw, registry=registry)
    raw["compare"][1]["label"] = "small"
    with pytest.raises(ConfigFileError, match="used twice"):
        parse_config(raw, registry=registry)
    raw["compare"][1]["label"] = "other"
    cfg = parse_config(raw, registry=registry)
    assert [c.label for c in cfg.compare] == ["small", "other"]
    assert cfg.compare[0].model.params["rows"] == 2


def test_requires_names_missing_distributions(registry):
    raw = _raw()
    raw["protoflow"] = {"requires": ["protoflow-core", "protoflow-does-not-exist"]}
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw, registry=registry)
    assert info.value.is_plugin_problem and "pip install protoflow-does-not-exist" in str(info.value)


def test_to_dict_round_trips_through_parse(registry):
    cfg = parse_config(_raw(), registry=registry)
    again = parse_config(cfg.to_dict(), registry=registry)
    assert again.to_dict() == cfg.to_dict()
