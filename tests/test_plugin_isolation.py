"""Plugin isolation, as a third-party author and a user meet it: a duplicate name disables that
name only, a plugin raising anything at import (SystemExit and KeyboardInterrupt included) is
recorded and skipped, the CLI warns about every problem and `protoflow plugins` exits 3, an
unknown name whose plugin failed names the failure, registering an installed plugin again is a
named error, and strict mode still raises."""

from __future__ import annotations

import importlib.metadata as md
import json
import sys
import types
import warnings

import numpy as np
import pytest

import protoflow
from protoflow import registry as registry_mod
from protoflow.cli import main
from protoflow.errors import (
    DuplicatePluginError,
    InvalidPluginError,
    PluginAlreadyRegisteredError,
    PluginLoadError,
    PluginWarning,
    UnknownPluginError,
)
from protoflow.registry import load_registry


class _Model(protoflow.PrototypeModelBase):
    def __init__(self, n_units: int = 3, seed: int | None = None):
        self.n_units = n_units
        self.seed = seed


def _plugin(*names: str) -> object:
    """A plugin object registering one model per name."""

    class P:
        @protoflow.hookimpl
        def protoflow_register_models(self, registry: protoflow.Registrar) -> None:
            for name in names:
                registry.add_model(name, _Model, summary=f"test {name}")

    return P()


class _Dist:
    def __init__(self, name: str) -> None:
        self.name, self.version = name, "9.9"


class _EP:
    def __init__(self, name: str, dist: str, loader) -> None:
        self.name, self.dist, self._loader = name, _Dist(dist), loader

    def load(self):
        return self._loader()


def _raiser(exc: BaseException):
    def load():
        raise exc

    return load


@pytest.fixture
def entry_points(monkeypatch):
    """Add fake entry points to the real ones; the default registry reloads from them."""
    real = list(md.entry_points(group="protoflow"))
    extra: list[_EP] = []
    monkeypatch.setattr(registry_mod.md, "entry_points", lambda group: [*real, *extra])
    for var in ("PROTOFLOW_DISABLE_PLUGINS", "PROTOFLOW_LOAD_PLUGINS", "PROTOFLOW_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    registry_mod.reset_registry()
    yield extra
    registry_mod.reset_registry()


def test_a_duplicate_disables_that_name_only(entry_points):
    entry_points += [_EP("alpha", "protoflow-alpha", lambda: _plugin("shared", "alpha-own")),
                     _EP("beta", "protoflow-beta", lambda: _plugin("shared"))]
    reg = load_registry()
    assert "alpha-own" in reg.models and "shared" not in reg.models
    assert "prototypes" in reg.models  # every other plugin is untouched
    with pytest.raises(DuplicatePluginError) as info:
        reg.get("model", "shared")
    assert "protoflow-alpha" in str(info.value) and "protoflow-beta" in str(info.value)
    (conflict,) = reg.conflicts
    assert conflict.kind == "model" and conflict.name == "shared" and len(conflict.claimants) == 2
    with pytest.raises(DuplicatePluginError):
        load_registry(strict=True)


def test_three_claimants_are_all_named(entry_points):
    entry_points += [_EP(n, f"protoflow-{n}", lambda: _plugin("same")) for n in ("a1", "a2", "a3")]
    (conflict,) = load_registry().conflicts
    assert all(f"protoflow-{n}" in str(conflict) for n in ("a1", "a2", "a3"))


def test_claiming_a_builtin_name_leaves_every_command_usable(entry_points, capsys):
    entry_points.append(_EP("evil", "protoflow-evil", lambda: _plugin("prototypes")))
    assert main(["plugins"]) == 3
    captured = capsys.readouterr()
    assert "DISABLED model 'prototypes'" in captured.out
    assert "protoflow-evil" in captured.err and "protoflow: warning:" in captured.err
    assert "datasets:" in captured.out and "digits" in captured.out  # still lists everything
    assert main(["plugins", "--json"]) == 3
    listed = json.loads(capsys.readouterr().out)
    assert listed["conflicts"][0]["name"] == "prototypes"
    assert "digits" in {d["name"] for d in listed["dataset"]}


def test_a_disabled_name_is_restored_when_a_claimant_goes(entry_points):
    entry_points += [_EP("alpha", "protoflow-alpha", lambda: _plugin("shared")),
                     _EP("beta", "protoflow-beta", lambda: _plugin("shared"))]
    reg = load_registry()
    reg.unregister("beta")
    assert reg.get("model", "shared").distribution == "protoflow-alpha"
    assert reg.conflicts == []


@pytest.mark.parametrize("exc", [SystemExit(7), KeyboardInterrupt(), GeneratorExit(),
                                 ImportError("no module named 'x'"), RuntimeError("boom")])
def test_anything_raised_at_import_is_recorded_and_skipped(entry_points, exc):
    entry_points += [_EP("broken", "protoflow-broken", _raiser(exc)),
                     _EP("fine", "protoflow-fine", lambda: _plugin("fine-model"))]
    reg = load_registry()
    assert "fine-model" in reg.models
    (failure,) = reg.failures
    assert isinstance(failure, PluginLoadError) and failure.error is exc
    assert failure.plugin == "broken" and failure.distribution == "protoflow-broken"
    assert type(exc).__name__ in str(failure)
    with pytest.raises(PluginLoadError):
        load_registry(strict=True)


def test_sys_exit_in_a_plugin_does_not_end_the_cli(entry_points, capsys, tmp_path):
    entry_points.append(_EP("quitter", "protoflow-quitter", _raiser(SystemExit(7))))
    assert main(["plugins"]) == 3
    err = capsys.readouterr().err
    assert "plugin 'quitter' from distribution protoflow-quitter failed to load: SystemExit: 7" in err
    # any other command still works, and warns once about the failure
    A = tmp_path / "A.npy"
    W = np.eye(3)
    protoflow.save(protoflow.PrototypeSet(np.vstack([W, np.zeros(3)])), tmp_path / "m")
    np.save(A, protoflow.activations(np.ones((2, 3)), np.vstack([W, np.zeros(3)])))
    assert main(["invert", str(tmp_path / "m.npz"), "--activations", str(A),
                 "--out", str(tmp_path / "Z.npy")]) == 0
    err = capsys.readouterr().err
    assert err.count("protoflow: warning:") == 1 and "quitter" in err
    assert np.allclose(np.load(tmp_path / "Z.npy"), 1.0)


def test_run_warns_about_each_failed_plugin(entry_points, capsys, tmp_path):
    entry_points += [_EP("bad-one", "protoflow-bad-one", _raiser(ImportError("torch missing"))),
                     _EP("bad-two", "protoflow-bad-two", _raiser(ValueError("bad value")))]
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nname = "gmm"\nn_samples = 60\n[model]\nname = "prototypes"\n')
    main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert "bad-one" in err and "torch missing" in err and "bad-two" in err and "bad value" in err


def test_unknown_name_names_the_failed_plugins_and_their_cause(entry_points):
    entry_points.append(_EP("fancy", "protoflow-fancy", _raiser(ImportError("needs torch"))))
    reg = load_registry()
    with pytest.raises(UnknownPluginError) as info:
        reg.get("model", "fancy-som")
    msg = str(info.value)
    assert "failed to load" in msg and "protoflow-fancy" in msg and "needs torch" in msg


def test_the_default_registry_warns_once_per_problem(entry_points):
    entry_points.append(_EP("broken", "protoflow-broken", _raiser(RuntimeError("boom"))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        protoflow.get_registry()
        protoflow.get_registry()
    msgs = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(msgs) == 1 and "boom" in msgs[0]


def test_registering_an_installed_plugin_again_is_a_named_error(entry_points):
    module = types.ModuleType("protoflow_fake_installed")
    module.protoflow_register_models = _plugin("installed-model").protoflow_register_models
    entry_points.append(_EP("installed", "protoflow-installed", lambda: module))
    reg = load_registry()
    with pytest.raises(PluginAlreadyRegisteredError, match="protoflow-installed"):
        reg.register(module, name="again")
    with pytest.raises(PluginAlreadyRegisteredError, match="already registered"):
        reg.register(_plugin("other"), name="installed")
    assert "installed-model" in reg.models  # nothing was disturbed


def test_registering_a_duplicate_by_hand_raises_and_changes_nothing():
    reg = load_registry(entry_points=False, plugins=[_plugin("taken")])
    with pytest.raises(DuplicatePluginError):
        reg.register(_plugin("taken", "extra"))
    assert "extra" not in reg.models and reg.get("model", "taken")
    reg.register(_plugin("taken", "extra2"), duplicates="disable")
    assert "taken" not in reg.models and "extra2" in reg.models


def test_strict_environment_variable(entry_points, monkeypatch):
    entry_points.append(_EP("broken", "protoflow-broken", _raiser(SystemExit(3))))
    monkeypatch.setenv("PROTOFLOW_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="SystemExit"):
        load_registry()


def test_the_process_keeps_running_after_sys_exit_in_a_plugin(entry_points):
    entry_points.append(_EP("quitter", "protoflow-quitter", lambda: sys.exit(7)))
    reg = load_registry()  # would raise SystemExit if not isolated
    assert reg.failures[0].error.code == 7


def test_malformed_plugins_raise_a_named_error_naming_the_plugin():
    class BadName:
        @protoflow.hookimpl
        def protoflow_register_models(self, registry):
            registry.add_model("Bad_Name", _Model)

    class NotCallable:
        @protoflow.hookimpl
        def protoflow_register_models(self, registry):
            registry.add_model("fine-name", 42)

    class Typo:
        @protoflow.hookimpl
        def protoflow_register_modls(self, registry):
            pass

    for plugin, what in ((BadName(), "kebab-case"), (NotCallable(), "non-callable"), (Typo(), "unknown hook")):
        with pytest.raises(InvalidPluginError, match=what) as info:
            load_registry(entry_points=False).register(plugin, name="culprit")
        assert "culprit" in str(info.value)
