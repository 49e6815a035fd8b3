"""The bad-input corpus as a table-driven test: every case names the error class it must raise,
a fragment the message must contain (so the problem is named), and, for the CLI, the exit code
(0 ok, 1 run failed, 2 usage or config error, 3 plugin problem) and that no existing file
changed.

Parameter cases run twice: through the component's own `fit`/`run` and through
``config validate`` (`protoflow.config.parse_config`), because both use the component's one
declaration of its parameters (`protoflow.params`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import protoflow
from protoflow.cli import main
from protoflow.config import ConfigFileError, parse_config
from protoflow.errors import ConfigError, ProtoflowError, ValidationError
from protoflow.testing import blobs

pytest.importorskip("protoflow_som")
pytest.importorskip("protoflow_music")

# -- parameters --------------------------------------------------------------------------------

INT_BAD = {"below": None, "float": 2.5, "string": "3", "bool": True}
FLOAT_BAD = {"negative": -1.0, "string": "big", "nan": math.nan, "bool": True}
BOOL_BAD = {"int": 1, "string": "yes"}
CHOICE_BAD = {"unknown": "nope", "int": 3}
SEED_BAD = {"negative": -1, "string": "a", "float": 2.5}
DEVICE_BAD = {"int": 42, "unknown": "gpu"}


def _int(minimum: int) -> dict[str, Any]:
    return {**INT_BAD, "below": minimum - 1}


#: kind, name, small working params, {parameter: {case label: bad value}}
COMPONENTS: list[tuple[str, str, dict[str, Any], dict[str, dict[str, Any]]]] = [
    ("model", "som", {"rows": 3, "cols": 3, "epochs": 2}, {
        "rows": _int(1), "cols": _int(1), "kind": CHOICE_BAD, "toroidal": BOOL_BAD,
        "epochs": _int(1), "algorithm": CHOICE_BAD, "t_max": FLOAT_BAD, "t_min": FLOAT_BAD,
        "dtype": CHOICE_BAD, "learning_rate": FLOAT_BAD, "batch_size": _int(1),
        "seed": SEED_BAD, "backend": CHOICE_BAD, "device": DEVICE_BAD}),
    ("model", "gng", {"max_units": 6, "epochs": 1}, {
        "max_units": _int(2), "epochs": _int(1), "eps_b": FLOAT_BAD, "eps_n": FLOAT_BAD,
        "max_age": _int(1), "insert_every": _int(1), "alpha": FLOAT_BAD, "decay": FLOAT_BAD,
        "seed": SEED_BAD}),
    ("model", "kmeans", {"n_units": 4}, {
        "n_units": _int(1), "topology": CHOICE_BAD, "k": _int(1), "algorithm": CHOICE_BAD,
        "max_iter": _int(1), "n_init": _int(1), "batch_size": _int(1), "seed": SEED_BAD}),
    ("encoder", "pca", {"n_components": 2}, {
        "whiten": BOOL_BAD, "center": BOOL_BAD,
        "n_components": {"zero": 0, "string": "2", "negative": -0.5, "bool": True}}),
    ("controller", "music", {}, {
        "mode": CHOICE_BAD, "gamma": {**FLOAT_BAD, "above": 1.5}, "lam": FLOAT_BAD,
        "eta": {**FLOAT_BAD, "above": 2.0}, "trust": FLOAT_BAD, "trust_mode": CHOICE_BAD,
        "passes": _int(1), "preserve": CHOICE_BAD, "radius": _int(0), "k": _int(1),
        "row_normalize": BOOL_BAD, "step_noise": FLOAT_BAD, "solver": CHOICE_BAD,
        "seed": SEED_BAD, "backend": CHOICE_BAD, "device": DEVICE_BAD}),
    ("controller", "radial", {}, {"trust": FLOAT_BAD, "step_length": FLOAT_BAD}),
]


def _param_cases() -> list[Any]:
    cases = []
    for kind, name, base, table in COMPONENTS:
        for param, bad in table.items():
            for label, value in bad.items():
                cases.append(pytest.param(kind, name, base, param, value,
                                          id=f"{name}-{param}-{label}"))
    return cases


PARAM_CASES = _param_cases()
X = blobs(40, 4, 3, seed=5)


def _use(kind: str, name: str, params: dict[str, Any]) -> None:
    obj = protoflow.get_registry().create(kind, name, **params)
    if kind == "controller":
        model = protoflow.create_model("som", rows=3, cols=3, epochs=2, seed=0).fit(X)
        obj.run(model, X[0], 4, 3)
    else:
        obj.fit(X)


@pytest.mark.parametrize(("kind", "name", "base", "param", "value"), PARAM_CASES)
def test_bad_parameter_is_named_by_fit(kind, name, base, param, value):
    with pytest.raises(ConfigError) as info:
        _use(kind, name, {**base, param: value})
    assert repr(param) in str(info.value) or f"'{param}'" in str(info.value), str(info.value)


@pytest.mark.parametrize(("kind", "name", "base", "param", "value"), PARAM_CASES)
def test_bad_parameter_is_named_by_config_validate(kind, name, base, param, value):
    table = {"name": name, **base, param: value}
    raw: dict[str, Any] = {"data": {"name": "gmm", "n_samples": 60, "n_features": 4},
                           "run": {"figures": False, "report": False}}
    if kind == "model":
        raw["model"] = table
    else:
        raw["model"] = {"name": "kmeans", "n_units": 6}
        raw[kind] = table
    with pytest.raises(ConfigFileError) as info:
        parse_config(raw)
    assert f"key '{param}'" in str(info.value), str(info.value)


def test_the_corpus_is_large_enough():
    assert len(PARAM_CASES) + len(DATA_CASES) + len(CLI_CASES) >= 150


# -- data ---------------------------------------------------------------------------------------


def _bad_arrays() -> dict[str, tuple[Any, str]]:
    nan = X.copy()
    nan[3, 1] = np.nan
    inf = X.copy()
    inf[0, 0] = -np.inf
    return {
        "nan": (nan, "NaN"),
        "inf": (inf, "infinity"),
        "huge": (X * 1e160, "Scale the data"),
        "one-d": (X[0], "2-dimensional"),
        "three-d": (X.reshape(4, 10, 4), "2-dimensional"),
        "empty": (X[:0], "0 sample"),
        "no-features": (np.empty((5, 0)), "0 features"),
        "strings": (np.array([["a", "b"], ["c", "d"]]), "must hold numbers"),
        "complex": (X + 1j, "complex"),
        "ragged": ([[1.0, 2.0], [3.0]], "could not be converted"),
        "none": (None, "is None"),
        "object": (np.array([[1.0, None]], dtype=object), "must hold numbers"),
    }


DATA_CASES = [
    pytest.param(kind, name, base, bad, fragment, id=f"{name}-{label}")
    for kind, name, base, _ in COMPONENTS if kind != "controller"
    for label, (bad, fragment) in _bad_arrays().items()
]


@pytest.mark.parametrize(("kind", "name", "base", "bad", "fragment"), DATA_CASES)
def test_bad_training_data_is_a_validation_error(kind, name, base, bad, fragment):
    obj = protoflow.get_registry().create(kind, name, **base)
    with pytest.raises(ValidationError, match=fragment):
        obj.fit(bad)


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("saved")
    W = np.random.default_rng(0).normal(size=(12, 4))
    protoflow.save(protoflow.PrototypeSet(W, protoflow.Lattice(3, 4)), folder / "model")
    np.save(folder / "A.npy", protoflow.activations(X[:3], W))
    np.save(folder / "Z.npy", X[:3])
    (folder / "ok.toml").write_text('[data]\nname = "gmm"\nn_samples = 60\nn_features = 4\n'
                                    '[model]\nname = "kmeans"\nn_units = 6\n'
                                    '[run]\nfigures = false\nreport = false\n')
    (folder / "bad.toml").write_text("[model\nname = 1")
    (folder / "unknown.toml").write_text('[data]\nname = "gmm"\n[model]\nname = "no-such-model"\n')
    (folder / "text.npy").write_text("not an array")
    return folder


#: argv (with {d} for the fixture folder), exit code, fragment of stderr
CLI_CASES = [
    pytest.param(["run", "{d}/missing.toml"], 2, "cannot read the config file", id="run-missing-config"),
    pytest.param(["run", "{d}/bad.toml"], 2, "invalid TOML", id="run-invalid-toml"),
    pytest.param(["run", "{d}/unknown.toml"], 3, "unknown model 'no-such-model'", id="run-unknown-model"),
    pytest.param(["run", "{d}/ok.toml", "--set", "model.n_units=0"], 2, "n_units", id="run-set-bad-value"),
    pytest.param(["run", "{d}/ok.toml", "--set", "model.nunits=3"], 2, "unknown key", id="run-set-unknown-key"),
    pytest.param(["run", "{d}/ok.toml", "--set", "novalue"], 2, "", id="run-set-malformed"),
    pytest.param(["run", "{d}/ok.toml", "--out", "{d}"], 2, "already holds", id="run-out-not-empty"),
    pytest.param(["run", "{d}/ok.toml", "--out", "{d}/A.npy"], 2, "not a folder", id="run-out-is-file"),
    pytest.param(["config", "validate", "{d}/unknown.toml"], 3, "no-such-model", id="validate-unknown"),
    pytest.param(["inspect", "{d}/missing.npz"], 1, "no saved file", id="inspect-missing"),
    pytest.param(["inspect", "{d}/text.npy"], 1, "", id="inspect-not-npz"),
    pytest.param(["inspect", "{d}"], 1, "not a complete protoflow run", id="inspect-not-a-run"),
    pytest.param(["invert", "{d}/model.npz", "--activations", "{d}/missing.npy"], 1, "no file",
                 id="invert-missing-activations"),
    pytest.param(["invert", "{d}/model.npz", "--activations", "{d}/Z.npy"], 1, "12 were expected",
                 id="invert-wrong-width"),
    pytest.param(["invert", "{d}/model.npz", "--activations", "{d}/A.npy", "--out", "{d}/o.txt"], 2,
                 "--out must end in", id="invert-bad-out"),
    pytest.param(["invert", "{d}/model.npz", "--activations", "{d}/A.npy", "--n-nearest", "3"], 2,
                 "D + 1", id="invert-underdetermined"),
    pytest.param(["invert", "{d}/model.npz", "--activations", "{d}/A.npy", "--n-nearest", "99"], 1,
                 "n_nearest must be an integer in 1..12", id="invert-too-many-nearest"),
    pytest.param(["invert", "{d}/model.npz", "--points", "{d}/A.npy"], 1, "4 were expected",
                 id="invert-points-wrong-width"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "99", "--target", "1", "--controller", "music"],
                 2, "--start-unit must be in 0..11", id="explore-bad-start"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--target", "x", "--controller", "music"],
                 2, "--target must be a unit index", id="explore-bad-target"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--target", "40", "--controller", "music"],
                 1, "out of range", id="explore-target-out-of-range"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--target", "1", "--controller", "nope"],
                 3, "unknown controller 'nope'", id="explore-unknown-controller"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--target", "1", "--controller", "music",
                  "--set", "gama=0.5"], 2, "did you mean 'gamma'", id="explore-misspelt-parameter"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--target", "1", "--controller", "music",
                  "--set", "gamma=7"], 2, "'gamma' must be <= 1", id="explore-bad-parameter"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--controller", "linear"], 2,
                 "cannot steer toward a none target", id="explore-linear-without-target"),
    pytest.param(["explore", "{d}/model.npz", "--start-unit", "0", "--target", "1", "--controller", "music",
                  "--steps", "-3"], 2, "'steps' must be >= 0", id="explore-negative-steps"),
    pytest.param(["explore", "{d}/A.npy", "--start-unit", "0", "--target", "1", "--controller", "music"],
                 1, "", id="explore-model-is-not-npz"),
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize(("argv", "code", "fragment"), CLI_CASES)
def test_cli_bad_input(saved, capsys, argv, code, fragment):
    before = _snapshot(saved)
    argv = [a.replace("{d}", str(saved)) for a in argv]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err, err
    assert err.startswith("protoflow: ") and len(err.strip().splitlines()) <= 12, err
    assert _snapshot(saved) == before  # nothing the user had was changed
    assert sorted(p.name for p in saved.iterdir() if p.name.startswith(".")) == []


def test_every_error_is_a_protoflow_error():
    # a bad parameter found by either path is also the built-in type users catch
    with pytest.raises(ValueError):
        _use("model", "som", {"rows": 0})
    assert issubclass(ConfigError, ProtoflowError) and issubclass(ValidationError, ValueError)
