"""Run configurations: a TOML file with one table per stage, parsed into frozen objects.

::

    [run]                      # seed, output folder, trajectories, baselines, classifier
    seed = 0
    steps = 100
    pairs = [{ source = 0, target = 1 }]
    baselines = ["linear"]

    [data]                     # `name` picks the loader, other keys are its parameters
    name = "digits"

    [encoder]
    name = "pca"
    whiten = true

    [model]
    name = "toroidal-som"      # swap the backbone by changing this line
    rows = 12
    cols = 12

    [controller]
    name = "music"

    [[compare]]                # same data and encoder through other backbones
    model = { name = "kmeans", n_units = 144 }

``name`` is reserved; every other key goes to the plugin's constructor and is checked against
its signature. Every problem is collected and reported at once, each naming the file, the
table and the key. Overrides (``--set model.rows=20``) are parsed as TOML values. The
``[run] seed`` reaches every component that takes a ``seed`` unless its table sets its own.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import inspect
import numbers
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from protoflow.errors import ConfigError, PluginError, ProtoflowError, UnknownPluginError

TABLES = ("protoflow", "run", "data", "encoder", "model", "controller", "compare")
COMPARE_KEYS = ("label", "model", "encoder")
PAIR_KEYS = ("source", "source_index", "target", "target_unit", "target_cluster", "target_units")


@attrs.frozen
class Issue:
    """One configuration problem. `kind` is "config" or "plugin" (unknown or broken plugin)."""

    table: str
    key: str | None
    message: str
    kind: str = "config"

    def render(self, source: str) -> str:
        """One line for an error message: file, [table], key and the problem."""
        where = f"[{self.table}]" + (f" key {self.key!r}" if self.key else "")
        return f"{source}: {where}: {self.message}"


class ConfigFileError(ConfigError):
    """One or more problems in a configuration; ``issues`` lists them all."""

    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = list(issues)
        if len(self.issues) == 1:
            msg = self.issues[0].render(source)
        else:
            lines = [i.render(source).removeprefix(f"{source}: ") for i in self.issues]
            msg = f"{len(lines)} problems in {source}:\n" + "\n".join(f"  - {line}" for line in lines)
        super().__init__(msg)

    @property
    def is_plugin_problem(self) -> bool:
        """True when every problem is a missing or broken plugin (the CLI exits with 3)."""
        return all(i.kind == "plugin" for i in self.issues)


def _frozen_params(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class ComponentSpec:
    """A component to build: registered `name` and constructor `params`."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_params)

    def to_dict(self) -> dict[str, Any]:
        """The spec as the TOML table it came from: ``{"name": ..., **params}``."""
        return {"name": self.name, **dict(self.params)}


@attrs.frozen
class PairSpec:
    """A trajectory: from a source (a label, or a sample index) to a target (the unit that
    best represents a label, a unit index, every unit of a label's cluster, or a unit list)."""

    source: Any = None
    source_index: int | None = None
    target: Any = None
    target_unit: int | None = None
    target_cluster: Any = None
    target_units: tuple[int, ...] | None = None

    @property
    def target_kind(self) -> str:
        """The kind of target: "cluster" for target_cluster/target_units, else "unit"."""
        return "cluster" if self.target_cluster is not None or self.target_units is not None else "unit"

    def describe(self) -> str:
        """The pair in words, e.g. "label 0 -> cluster of label 2"."""
        src = f"sample {self.source_index}" if self.source_index is not None else f"label {self.source!r}"
        if self.target_unit is not None:
            tgt = f"unit {self.target_unit}"
        elif self.target_units is not None:
            tgt = f"units {list(self.target_units)}"
        elif self.target_cluster is not None:
            tgt = f"cluster of label {self.target_cluster!r}"
        else:
            tgt = f"label {self.target!r}"
        return f"{src} -> {tgt}"


@attrs.frozen
class CompareSpec:
    """Another backbone run through the same data (and the main encoder unless it sets one)."""

    label: str
    model: ComponentSpec
    encoder: ComponentSpec | None = None


@attrs.frozen
class RunSettings:
    """The ``[run]`` table.

    seed : reaches every component taking ``seed`` (default 0); None for unseeded runs.
    out : output folder (the command's ``--out`` wins).
    test_size : fraction of the data held out for the inversion check and trajectory starts.
    steps : steps per trajectory. starts : start samples per source label.
    pairs : trajectories to run (see `PairSpec`).
    baselines : controllers run on the same pairs for comparison (names or tables).
    classifier : "logistic", "mlp" or "none"; trained in the latent space on the labels.
    inversion_samples : held-out points used for the inversion check.
    manifold_k : neighbours for the manifold distance.
    figures, report, save_models : which artifacts to write.
    """

    seed: int | None = 0
    out: str | None = None
    test_size: float = 0.2
    steps: int = 100
    starts: int = 1
    pairs: tuple[PairSpec, ...] = ()
    baselines: tuple[ComponentSpec, ...] = ()
    classifier: str = "logistic"
    inversion_samples: int = 500
    manifold_k: int = 5
    figures: bool = True
    report: bool = True
    save_models: bool = True


#: expected types of the simple [run] keys (pairs and baselines are checked separately)
_RUN_TYPES: dict[str, tuple[type, ...]] = {
    "seed": (int, type(None)),
    "out": (str,),
    "test_size": (float, int),
    "steps": (int,),
    "starts": (int,),
    "classifier": (str,),
    "inversion_samples": (int,),
    "manifold_k": (int,),
    "figures": (bool,),
    "report": (bool,),
    "save_models": (bool,),
}
_CLASSIFIERS = ("logistic", "mlp", "none")


@attrs.frozen
class RunConfig:
    """A whole run. `source` names where it came from (for messages); `base_dir` is the
    config file's folder (relative data paths are also looked up there)."""

    data: ComponentSpec
    model: ComponentSpec
    encoder: ComponentSpec | None = None
    controller: ComponentSpec | None = None
    compare: tuple[CompareSpec, ...] = ()
    run: RunSettings = RunSettings()
    requires: tuple[str, ...] = ()
    source: str = "<config>"
    base_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration (seeds filled in) as plain TOML-like data."""
        out: dict[str, Any] = {"run": _run_to_dict(self.run), "data": self.data.to_dict()}
        if self.encoder is not None:
            out["encoder"] = self.encoder.to_dict()
        out["model"] = self.model.to_dict()
        if self.controller is not None:
            out["controller"] = self.controller.to_dict()
        if self.compare:
            out["compare"] = [
                {"label": c.label, "model": c.model.to_dict(),
                 **({"encoder": c.encoder.to_dict()} if c.encoder is not None else {})}
                for c in self.compare
            ]
        return out


def _run_to_dict(run: RunSettings) -> dict[str, Any]:
    d = attrs.asdict(run, recurse=False)
    d["pairs"] = [{k: v for k, v in attrs.asdict(p).items() if v is not None} for p in run.pairs]
    d["baselines"] = [b.to_dict() for b in run.baselines]
    return {k: v for k, v in d.items() if v is not None or k == "seed"}


# -- overrides --------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"model.rows=20"`` -> (["model", "rows"], 20). The value is read as TOML; a bare word
    that is not valid TOML is taken as a string (``--set model.name=kmeans``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or "." not in key:
        raise ConfigError(
            f"override {text!r} must look like table.key=value (e.g. model.rows=20)"
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of the raw TOML data with ``table.key=value`` overrides applied
    (list items by index: ``compare.0.model.n_units=64``)."""
    import copy

    data = copy.deepcopy(dict(raw))
    for text in overrides:
        path, value = parse_override(text)
        node: Any = data
        for i, part in enumerate(path[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {text!r}: no item {part!r} in {'.'.join(path[:i])}")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"override {text!r}: {'.'.join(path[: i + 1])} is not a table")
        if isinstance(node, list):
            raise ConfigError(f"override {text!r}: give an item index before the key")
        node[path[-1]] = value
    return data


# -- parsing ------------------------------------------------------------------------------------


def load_config(
    path: str | Path, overrides: Iterable[str] = (), *, registry: Any = None
) -> RunConfig:
    """Read, override and validate a TOML run configuration; raises `ConfigFileError`
    listing every problem (or `ConfigError` for an unreadable file)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {p}: {exc.strerror or exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
    return parse_config(raw, source=str(p), overrides=overrides, registry=registry,
                        base_dir=str(p.resolve().parent))


def parse_config(
    raw: Mapping[str, Any],
    *,
    source: str = "<config>",
    overrides: Iterable[str] = (),
    registry: Any = None,
    base_dir: str | None = None,
) -> RunConfig:
    """Validate TOML-like data (a dict) into a `RunConfig`."""
    if registry is None:
        from protoflow.registry import get_registry

        registry = get_registry()
    data = apply_overrides(raw, overrides)
    p = _Parser(registry)
    for table in data:
        if table not in TABLES:
            p.issue("", None, f"unknown table [{table}]{_suggest(table, TABLES)}")
    requires = p.requires(data.get("protoflow", {}))
    run = p.run_settings(data.get("run", {}))
    seed = run.seed if run is not None else 0
    data_spec = p.component("data", "dataset", data.get("data"), seed, required=True)
    encoder = p.component("encoder", "encoder", data.get("encoder"), seed)
    model = p.component("model", "model", data.get("model"), seed, required=True)
    controller = p.component("controller", "controller", data.get("controller"), seed)
    baselines = p.baselines(data.get("run", {}).get("baselines", []), seed)
    compare = p.compare(data.get("compare", []), seed, model.name if model else None)
    if run is not None and run.pairs and controller is None and not baselines:
        p.issue("run", "pairs", "trajectories need a [controller] table (or [run] baselines)")
    if run is not None:
        p.target_kinds(run.pairs, [c for c in (controller, *baselines) if c is not None])
        p.optional_dependencies(run)
    if data_spec is not None:
        p.data_path(data_spec, base_dir)
    if p.issues:
        raise ConfigFileError(source, p.issues)
    assert run is not None and data_spec is not None and model is not None
    return RunConfig(
        data=data_spec, model=model, encoder=encoder, controller=controller,
        compare=tuple(compare), run=attrs.evolve(run, baselines=tuple(baselines)),
        requires=tuple(requires), source=source, base_dir=base_dir,
    )


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f": did you mean {close[0]!r}?" if close else ""


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if float in types and isinstance(value, numbers.Real):
        return True
    return isinstance(value, types)


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             type(None): "absent"}
    return " or ".join(names.get(t, t.__name__) for t in types if t is not type(None))


class _Parser:
    """Collects issues while building the pieces of a `RunConfig`."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.issues: list[Issue] = []
        #: (table, module) pairs the run's components will import
        self.needed_modules: set[tuple[str, str]] = set()

    def issue(self, table: str, key: str | None, message: str, kind: str = "config") -> None:
        self.issues.append(Issue(table, key, message, kind))

    def optional_dependencies(self, run: RunSettings) -> None:
        """What the run will import, checked before anything is computed."""
        if (run.figures or run.report) and not _importable("matplotlib"):
            key = "figures" if run.figures else "report"
            self.issue("run", key, "figures and the report need matplotlib, which is not "
                       "installed: pip install 'protoflow-core[report]', or set figures = false "
                       "and report = false")
        for table, module in sorted(self.needed_modules):
            if not _importable(module):
                hint = "pip install torch==2.13.0 (the CPU build)" if module == "torch" else f"pip install {module}"
                self.issue(table, None, f"needs the Python package {module!r}, which is not "
                           f"installed: {hint}")

    def data_path(self, spec: ComponentSpec, base_dir: str | None) -> None:
        """A data file named by ``path`` must exist (here, or beside the config file)."""
        path = spec.params.get("path")
        if not isinstance(path, str):
            return
        here = Path(path).expanduser()
        if here.exists() or (base_dir is not None and (Path(base_dir) / here).exists()):
            return
        where = f" (nor in {base_dir})" if base_dir else ""
        self.issue("data", "path", f"no file or folder {str(here)!r} here{where}; give an "
                   "existing path, relative to the working folder or to the config file")

    def target_kinds(self, pairs: Iterable[Any], controllers: list[ComponentSpec]) -> None:
        """Every pair's target kind must be one each controller declares (`supported_targets`)."""
        from protoflow.protocols import supported_targets

        kinds = {pair.target_kind for pair in pairs}
        for spec in {c.name: c for c in controllers}.values():
            try:
                factory = self.registry.get("controller", spec.name).factory
            except ProtoflowError:
                continue  # an unknown name is reported where the table is parsed
            accepted = supported_targets(factory)
            for kind in sorted(kinds - set(accepted)):
                self.issue("run", "pairs", f"controller {spec.name!r} cannot steer toward a {kind} "
                           f"target (it accepts: {', '.join(accepted)})")

    def requires(self, table: Any) -> list[str]:
        if not isinstance(table, dict):
            self.issue("protoflow", None, "must be a table")
            return []
        for key in table:
            if key != "requires":
                self.issue("protoflow", key, f"unknown key{_suggest(key, ['requires'])}")
        reqs = table.get("requires", [])
        if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
            self.issue("protoflow", "requires", "must be a list of distribution names")
            return []
        for dist in reqs:
            try:
                md.distribution(dist)
            except md.PackageNotFoundError:
                self.issue("protoflow", "requires", f"the distribution {dist!r} is not installed: "
                           f"pip install {dist}", kind="plugin")
        return reqs

    def run_settings(self, table: Any) -> RunSettings | None:
        if not isinstance(table, dict):
            self.issue("run", None, "must be a table")
            return None
        fields = {f.name for f in attrs.fields(RunSettings)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in fields:
                self.issue("run", key, f"unknown key{_suggest(key, fields)}")
            elif key in _RUN_TYPES:
                if not _type_ok(value, _RUN_TYPES[key]):
                    self.issue("run", key, f"must be {_type_names(_RUN_TYPES[key])}, got {value!r}")
                else:
                    values[key] = float(value) if key == "test_size" else value
        self._check_run_values(values)
        values["pairs"] = tuple(self.pairs(table.get("pairs", [])))
        return RunSettings(**values)

    def _check_run_values(self, v: dict[str, Any]) -> None:
        checks = [
            ("seed", lambda x: x is None or x >= 0, "must be >= 0"),
            ("test_size", lambda x: 0.0 < x < 1.0, "must be between 0 and 1"),
            ("steps", lambda x: x >= 1, "must be >= 1"),
            ("starts", lambda x: x >= 1, "must be >= 1"),
            ("inversion_samples", lambda x: x >= 1, "must be >= 1"),
            ("manifold_k", lambda x: x >= 1, "must be >= 1"),
            ("classifier", lambda x: x in _CLASSIFIERS, f"must be one of {list(_CLASSIFIERS)}"),
        ]
        for key, ok, msg in checks:
            if key in v and not ok(v[key]):
                self.issue("run", key, f"{msg}, got {v.pop(key)!r}")

    def pairs(self, value: Any) -> list[PairSpec]:
        if not isinstance(value, list):
            self.issue("run", "pairs", "must be a list of tables like { source = 0, target = 1 }")
            return []
        out = []
        for i, item in enumerate(value):
            where = f"pairs[{i}]"
            if not isinstance(item, dict):
                self.issue("run", where, "must be a table like { source = 0, target = 1 }")
                continue
            bad = [k for k in item if k not in PAIR_KEYS]
            for k in bad:
                self.issue("run", f"{where}.{k}", f"unknown key{_suggest(k, PAIR_KEYS)}")
            n_src = sum(k in item for k in ("source", "source_index"))
            n_tgt = sum(k in item for k in PAIR_KEYS[2:])
            if n_src != 1 or n_tgt != 1:
                self.issue("run", where, "give exactly one of source/source_index and one of "
                           "target/target_unit/target_cluster/target_units")
                continue
            ints = [k for k in ("source_index", "target_unit") if k in item]
            if any(isinstance(item[k], bool) or not isinstance(item[k], int) or item[k] < 0 for k in ints):
                self.issue("run", where, "source_index and target_unit must be integers >= 0")
                continue
            units = item.get("target_units")
            if units is not None and (not isinstance(units, list) or not units or not all(
                    isinstance(u, int) and not isinstance(u, bool) and u >= 0 for u in units)):
                self.issue("run", f"{where}.target_units", "must be a non-empty list of unit indices")
                continue
            if units is not None:
                item = {**item, "target_units": tuple(units)}
            if not bad:
                out.append(PairSpec(**item))
        return out

    def component(
        self, table: str, kind: str, value: Any, seed: Any, *, required: bool = False
    ) -> ComponentSpec | None:
        if value is None:
            if required:
                self.issue(table, None, f"missing table: add [{table}] with name = \"...\"")
            return None
        if not isinstance(value, dict):
            self.issue(table, None, "must be a table with a 'name' key")
            return None
        name = value.get("name")
        if not isinstance(name, str):
            self.issue(table, "name", f"missing or not a string: name the {kind} to use")
            return None
        try:
            info = self.registry.get(kind, name)
        except UnknownPluginError as exc:
            self.issue(table, "name", str(exc), kind="plugin")
            return None
        except PluginError as exc:
            self.issue(table, "name", str(exc), kind="plugin")
            return None
        params = {k: v for k, v in value.items() if k != "name"}
        self._check_params(table, name, info.factory, params)
        # torch components declare it (needs_modules); any backend="torch" needs it too
        for module in getattr(info.factory, "needs_modules", ()):
            self.needed_modules.add((table, module))
        if params.get("backend") == "torch":
            self.needed_modules.add((table, "torch"))
        accepted = _parameters(info.factory)
        if "seed" not in params and accepted is not None and "seed" in accepted:
            params["seed"] = seed
        return ComponentSpec(name, params)

    def _check_params(self, table: str, name: str, factory: Any, params: dict[str, Any]) -> None:
        from protoflow.params import declared_schema

        accepted = _parameters(factory)
        if accepted is None:  # **kwargs: the factory checks its own keys
            return
        for key in params:
            if key not in accepted:
                self.issue(table, key, f"unknown key for {name!r}{_suggest(key, accepted)} "
                           f"(valid: {', '.join(sorted(accepted)) or 'none'})")
        for key, default in accepted.items():
            if default is inspect.Parameter.empty and key not in params and key != "seed":
                self.issue(table, key, f"{name!r} needs this parameter (it has no default)")
        schema = declared_schema(factory)
        if schema is not None:  # the component's own declaration: the same checks as its fit
            for key, message in schema.issues({k: v for k, v in params.items() if k in accepted}):
                self.issue(table, key, message)
            return
        for key, value in params.items():  # no declaration: judge types from the defaults
            if key not in accepted:
                continue
            default = accepted[key]
            types = _default_types(default)
            if types and value is not None and not _type_ok(value, types):
                self.issue(table, key, f"{name!r} expects {_type_names(types)} "
                           f"(default {default!r}), got {value!r}")

    def baselines(self, value: Any, seed: Any) -> list[ComponentSpec]:
        if not isinstance(value, list):
            self.issue("run", "baselines", "must be a list of controller names or tables")
            return []
        out = []
        for i, item in enumerate(value):
            table = item if isinstance(item, dict) else {"name": item}
            spec = self.component(f"run.baselines[{i}]", "controller", table, seed)
            if spec is not None:
                out.append(spec)
        return out

    def compare(self, value: Any, seed: Any, main: str | None) -> list[CompareSpec]:
        if not isinstance(value, list):
            self.issue("compare", None, "use [[compare]] entries (an array of tables)")
            return []
        out = []
        labels: set[str] = {main} if main else set()
        for i, entry in enumerate(value):
            where = f"compare[{i}]"
            if not isinstance(entry, dict):
                self.issue(where, None, "must be a table with a 'model' key")
                continue
            if "name" in entry and "model" not in entry:  # shorthand: the entry is the model
                entry = {"label": entry.get("label"),
                         "model": {k: v for k, v in entry.items() if k != "label"}}
            for key in entry:
                if key not in COMPARE_KEYS:
                    self.issue(where, key, f"unknown key{_suggest(key, COMPARE_KEYS)}")
            model = self.component(f"{where}.model", "model", entry.get("model"), seed, required=True)
            encoder = self.component(f"{where}.encoder", "encoder", entry.get("encoder"), seed)
            if model is None:
                continue
            label = entry.get("label") or model.name
            if not isinstance(label, str):
                self.issue(where, "label", f"must be a string, got {label!r}")
                continue
            if label in labels:
                self.issue(where, "label", f"label {label!r} is used twice (the main [model] is "
                           f"labelled by its name); set a distinct label = \"...\"")
            labels.add(label)
            out.append(CompareSpec(label, model, encoder))
        return out


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _parameters(factory: Any) -> dict[str, Any] | None:
    """Keyword parameters of a factory and their defaults; None when it takes **kwargs."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    out = {}
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            out[p.name] = p.default
    return out


def _default_types(default: Any) -> tuple[type, ...]:
    """Types a value may have, judged from the default (empty: anything goes)."""
    if default is inspect.Parameter.empty or default is None:
        return ()
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, numbers.Integral):
        return (int,)
    if isinstance(default, numbers.Real):
        return (float, int)
    if isinstance(default, str):
        return (str,)
    return ()
