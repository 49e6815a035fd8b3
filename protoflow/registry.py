"""Plugin discovery and the `create_*` factories.

Plugins are found through the entry-point group ``protoflow`` and loaded one by one, so that a
plugin that fails to import is recorded (`PluginLoadError`) while every other plugin still
loads. Hook implementations with unknown names (typos) are caught with pluggy's
``check_pending``. Each registration is attributed to its plugin and distribution, so two
plugins claiming one name raise `DuplicatePluginError` naming both.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import pluggy

from protoflow import hookspecs
from protoflow.errors import (
    ConfigError,
    DuplicatePluginError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)

KINDS = ("model", "encoder", "controller", "dataset")
ENTRY_POINT_GROUP = "protoflow"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")

#: Where the built-in components live, for "pip install ..." hints on unknown names.
KNOWN_DISTRIBUTIONS: dict[tuple[str, str], str] = {
    ("model", "som"): "protoflow-som",
    ("model", "toroidal-som"): "protoflow-som",
    ("model", "gng"): "protoflow-gng",
    ("model", "kmeans"): "protoflow-kmeans",
    ("model", "desom"): "protoflow-desom",
    ("encoder", "identity"): "protoflow-encoders",
    ("encoder", "pca"): "protoflow-encoders",
    ("encoder", "autoencoder"): "protoflow-encoders",
    ("controller", "music"): "protoflow-music",
    ("controller", "linear"): "protoflow-music",
    ("controller", "radial"): "protoflow-music",
}


@attrs.frozen
class ComponentInfo:
    """One registered component: what it is, how to build it, and who provided it."""

    kind: str
    name: str
    factory: Callable[..., Any] = attrs.field(eq=False, repr=False)
    summary: str = ""
    plugin: str = ""
    distribution: str | None = None
    version: str | None = None

    @property
    def origin(self) -> str:
        """'plugin NAME (distribution DIST VERSION)' for messages."""
        if self.distribution:
            return f"plugin {self.plugin!r} (distribution {self.distribution} {self.version or ''})".replace(" )", ")")
        return f"plugin {self.plugin!r}"


class Registrar:
    """What every ``protoflow_register_*`` hook receives as its ``registry`` argument.

    Each ``add_*`` call registers one component, attributed to the plugin (and its
    distribution and version) whose hook is running, so errors and ``protoflow plugins`` can
    say who provided what. Plugins never construct one; protoflow passes it in::

        @protoflow.hookimpl
        def protoflow_register_models(registry: protoflow.Registrar) -> None:
            registry.add_model("my-som", MySOM, summary="A SOM of my own.")

    Names are lower-case kebab-case (``[a-z][a-z0-9-]*``). ``factory(**params)`` must return a
    new, unfitted component; a class is the usual factory. A name another plugin already
    registered is refused for both (see `DuplicatePluginError`); the rest of the plugin's
    components still register.
    """

    def __init__(self, registry: Registry, plugin: str, dist: str | None, version: str | None):
        self._registry, self._plugin, self._dist, self._version = registry, plugin, dist, version

    @property
    def plugin(self) -> str:
        """The name of the plugin whose hook is running."""
        return self._plugin

    @property
    def distribution(self) -> str | None:
        """The installed distribution that provides the plugin (None when registered by hand)."""
        return self._dist

    def _add(self, kind: str, name: str, factory: Callable[..., Any], summary: str) -> None:
        info = ComponentInfo(kind, name, factory, summary, self._plugin, self._dist, self._version)
        self._registry._add(info)

    def add_model(self, name: str, factory: Callable[..., Any], summary: str = "") -> None:
        """Register a prototype model (a `protoflow.protocols.PrototypeModel` factory)."""
        self._add("model", name, factory, summary)

    def add_encoder(self, name: str, factory: Callable[..., Any], summary: str = "") -> None:
        """Register an encoder (a `protoflow.protocols.Encoder` factory)."""
        self._add("encoder", name, factory, summary)

    def add_controller(self, name: str, factory: Callable[..., Any], summary: str = "") -> None:
        """Register a controller (a `protoflow.protocols.Controller` factory)."""
        self._add("controller", name, factory, summary)

    def add_dataset(self, name: str, factory: Callable[..., Any], summary: str = "") -> None:
        """Register a dataset loader: ``factory(**params)`` returns a `protoflow.data.Dataset`."""
        self._add("dataset", name, factory, summary)


class Registry:
    """Every component of every loaded plugin, by kind and name.

    Build one with `load_registry`; most code uses the cached default through
    `get_registry`, `available` and the `create_*` functions.
    """

    def __init__(self) -> None:
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._components: dict[str, dict[str, ComponentInfo]] = {k: {} for k in KINDS}
        self.failures: list[PluginLoadError] = []
        self._plugin_dists: dict[str, tuple[str | None, str | None]] = {}

    # -- reading ---------------------------------------------------------------------------

    def components(self, kind: str) -> Mapping[str, ComponentInfo]:
        """Read-only mapping name -> ComponentInfo for one kind."""
        self._check_kind(kind)
        return MappingProxyType(self._components[kind])

    @property
    def models(self) -> Mapping[str, ComponentInfo]:
        return self.components("model")

    @property
    def encoders(self) -> Mapping[str, ComponentInfo]:
        return self.components("encoder")

    @property
    def controllers(self) -> Mapping[str, ComponentInfo]:
        return self.components("controller")

    @property
    def datasets(self) -> Mapping[str, ComponentInfo]:
        return self.components("dataset")

    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component, or `UnknownPluginError` with close matches and an install hint."""
        self._check_kind(kind)
        try:
            return self._components[kind][name]
        except KeyError:
            dist = KNOWN_DISTRIBUTIONS.get((kind, name))
            hint = None
            if dist:
                hint = f"{kind} {name!r} is provided by the distribution {dist}: pip install {dist}."
            failed = [f for f in self.failures if f.distribution and f.distribution == dist]
            if failed:
                hint = f"{hint or ''} Its plugin failed to load: {failed[0]}".strip()
            raise UnknownPluginError(kind, name, self._components[kind], hint) from None

    def create(self, kind: str, name: str, /, **params: Any) -> Any:
        """Instantiate a component; a bad parameter name raises `ConfigError` naming it."""
        info = self.get(kind, name)
        try:
            obj = info.factory(**params)
        except TypeError as exc:
            msg = str(exc)
            if "unexpected keyword argument" in msg or "got an unexpected" in msg:
                raise ConfigError(f"{kind} {name!r}: {msg.split(': ', 1)[-1]}") from exc
            raise
        try:
            obj._protoflow_name_ = name
        except (AttributeError, TypeError):  # slotted or frozen objects
            pass
        return obj

    def find_by_class(self, cls: type) -> ComponentInfo | None:
        """The component whose factory is `cls` (used by `protoflow.save`)."""
        for kind in KINDS:
            for info in self._components[kind].values():
                if info.factory is cls:
                    return info
        return None

    def available(self) -> dict[str, list[dict[str, Any]]]:
        """{"model": [{"name", "distribution", "version", "plugin", "summary"}, ...], ...}."""
        return {
            kind: [
                {
                    "name": i.name,
                    "distribution": i.distribution,
                    "version": i.version,
                    "plugin": i.plugin,
                    "summary": i.summary,
                }
                for i in sorted(self._components[kind].values(), key=lambda i: i.name)
            ]
            for kind in KINDS
        }

    # -- writing ---------------------------------------------------------------------------

    def _check_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise PluginError(f"unknown component kind {kind!r}; expected one of {KINDS}")

    def _add(self, info: ComponentInfo) -> None:
        if not isinstance(info.name, str) or not _NAME_RE.match(info.name):
            raise PluginError(
                f"{info.origin} registered the {info.kind} name {info.name!r}: names are "
                "lower-case kebab-case (letters, digits, '-'), starting with a letter"
            )
        if not callable(info.factory):
            raise PluginError(f"{info.origin} registered {info.kind} {info.name!r} with a non-callable factory")
        existing = self._components[info.kind].get(info.name)
        if existing is not None:
            raise DuplicatePluginError(info.kind, info.name, existing.origin, info.origin)
        self._components[info.kind][info.name] = info

    def register(
        self,
        plugin: Any,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> str:
        """Register a plugin object or module (code that is not installed: notebooks, tests).

        Its hook implementations are called at once, attributed to `name`. Returns the name.
        """
        pm = self.plugin_manager
        plugin_name = pm.register(plugin, name=name)
        if plugin_name is None:  # blocked
            return name or ""
        try:
            self._check_pending_for(plugin_name, plugin)
            self._plugin_dists[plugin_name] = (distribution, version)
            self._call_register_hooks(plugin_name, distribution, version)
        except BaseException:
            self._forget(plugin_name)
            raise
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under `name` and every component it registered.

        Unknown names are ignored (so cleanup code may call it unconditionally).
        """
        self._forget(name)

    def _forget(self, plugin_name: str) -> None:
        pm = self.plugin_manager
        if pm.get_plugin(plugin_name) is not None:
            pm.unregister(name=plugin_name)
        for kind in KINDS:
            for n in [n for n, i in self._components[kind].items() if i.plugin == plugin_name]:
                del self._components[kind][n]
        self._plugin_dists.pop(plugin_name, None)

    def _check_pending_for(self, plugin_name: str, plugin: Any) -> None:
        """Like pluggy's check_pending, for one plugin: a hook implementation whose name
        matches no specification (a typo) is an error naming the plugin and the hook."""
        for hook_name in dir(self.plugin_manager.hook):
            if hook_name.startswith("_"):
                continue
            caller = getattr(self.plugin_manager.hook, hook_name)
            if getattr(caller, "spec", None) is not None:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin_name == plugin_name and not impl.opts.get("optionalhook"):
                    raise PluginError(
                        f"plugin {plugin_name!r} implements the unknown hook {hook_name!r}; "
                        f"known hooks: {', '.join(_spec_names())}. Check the spelling."
                    )

    def _call_register_hooks(self, plugin_name: str, dist: str | None, version: str | None) -> None:
        view = Registrar(self, plugin_name, dist, version)
        for spec_name in _spec_names():
            caller = getattr(self.plugin_manager.hook, spec_name)
            for impl in caller.get_hookimpls():
                if impl.plugin_name == plugin_name:
                    # Called one by one (not through the hook) so each add_* is attributed.
                    impl.function(**{a: view for a in impl.argnames})

    def load_entry_points(
        self,
        group: str = ENTRY_POINT_GROUP,
        *,
        strict: bool = False,
        disabled: Iterable[str] = (),
        only: Iterable[str] | None = None,
    ) -> None:
        """Load every entry point of `group`, isolating failures.

        A plugin that fails to import or register is recorded in `failures` (or raised when
        `strict`). `disabled` / `only` filter by entry-point or distribution name.
        Duplicate component names always raise `DuplicatePluginError`.
        """
        disabled = set(disabled)
        only_set = set(only) if only is not None else None
        for ep in sorted(md.entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            names = {ep.name, dist}
            if names & disabled or (only_set is not None and not names & only_set):
                continue
            if self.plugin_manager.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
                self.register(plugin, ep.name, distribution=dist, version=version)
            except DuplicatePluginError:
                raise
            except Exception as exc:
                failure = PluginLoadError(ep.name, dist, exc)
                if strict:
                    raise failure from exc
                self.failures.append(failure)


def _spec_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("protoflow_"))


def _env_list(var: str) -> list[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def load_registry(
    *,
    entry_points: bool = True,
    plugins: Iterable[Any] = (),
    strict: bool | None = None,
) -> Registry:
    """A fresh registry (tests, notebooks). With `entry_points`, loads installed plugins,
    honouring ``PROTOFLOW_DISABLE_PLUGINS``, ``PROTOFLOW_LOAD_PLUGINS`` (an allow-list) and
    ``PROTOFLOW_STRICT_PLUGINS=1``. `plugins` are extra plugin objects to register."""
    reg = Registry()
    if entry_points:
        if strict is None:
            strict = os.environ.get("PROTOFLOW_STRICT_PLUGINS", "") not in ("", "0")
        reg.load_entry_points(
            strict=strict,
            disabled=_env_list("PROTOFLOW_DISABLE_PLUGINS") or (),
            only=_env_list("PROTOFLOW_LOAD_PLUGINS"),
        )
    for p in plugins:
        reg.register(p)
    return reg


_default: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = load_registry()
        return _default


@contextlib.contextmanager
def using_registry(registry: Registry) -> Iterator[Registry]:
    """Make `registry` the process-wide default inside the ``with`` block, then restore the
    previous default (tests, notebooks). `create_model`, `protoflow.load`, the pipeline and
    the CLI all see `registry` meanwhile. Not meant for use from several threads at once."""
    global _default
    with _lock:
        previous, _default = _default, registry
    try:
        yield registry
    finally:
        with _lock:
            _default = previous


def reset_registry() -> None:
    """Forget the cached registry (the next use reloads the entry points)."""
    global _default
    with _lock:
        _default = None


def register(plugin: Any, name: str | None = None) -> str:
    """Register a plugin that is not installed (a class or module with hook implementations)
    in the default registry. Returns the plugin name."""
    return get_registry().register(plugin, name)


def unregister(name: str) -> None:
    """Remove a plugin registered with `register` (and its components)."""
    get_registry().unregister(name)


def available() -> dict[str, list[dict[str, Any]]]:
    """What is installed: {"model": [...], "encoder": [...], "controller": [...], "dataset": [...]}."""
    return get_registry().available()


def create_model(name: str, /, **params: Any) -> Any:
    """``create_model("som", rows=20, cols=20)``: an unfitted model."""
    return get_registry().create("model", name, **params)


def create_encoder(name: str, /, **params: Any) -> Any:
    """An unfitted encoder by name."""
    return get_registry().create("encoder", name, **params)


def create_controller(name: str, /, **params: Any) -> Any:
    """A controller by name."""
    return get_registry().create("controller", name, **params)
