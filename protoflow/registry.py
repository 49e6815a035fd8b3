"""Plugin discovery and the `create_*` factories.

Plugins are found through the entry-point group ``protoflow`` and loaded one by one, so that a
plugin that fails to import is recorded (`PluginLoadError`) while every other plugin still
loads; that includes `SystemExit` and other `BaseException`s raised at import. Hook
implementations with unknown names (typos) are caught like pluggy's ``check_pending``. Each
registration is attributed to its plugin and distribution. Two installed plugins claiming one
name disable that name only (both are recorded in `Registry.conflicts`); every other component
stays usable. Strict loading (``PROTOFLOW_STRICT_PLUGINS=1``) raises instead.

The core names no concrete component: what is installed is whatever the plugins register.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata as md
import inspect
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import pluggy

from protoflow import hookspecs
from protoflow.errors import (
    ConfigError,
    DuplicatePluginError,
    InvalidPluginError,
    PluginAlreadyRegisteredError,
    PluginError,
    PluginLoadError,
    PluginWarning,
    UnknownPluginError,
)

KINDS = ("model", "encoder", "controller", "dataset")
ENTRY_POINT_GROUP = "protoflow"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")

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

    def __init__(self, registry: Registry, plugin: str, dist: str | None, version: str | None,
                 duplicates: str = "raise") -> None:
        self._registry, self._plugin, self._dist, self._version = registry, plugin, dist, version
        self._duplicates = duplicates

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
        self._registry._add(info, self._duplicates)

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
        #: plugins that failed to import or register, in load order
        self.failures: list[PluginLoadError] = []
        self._conflicts: dict[tuple[str, str], list[ComponentInfo]] = {}
        self._plugin_dists: dict[str, tuple[str | None, str | None]] = {}

    # -- reading ---------------------------------------------------------------------------

    def components(self, kind: str) -> Mapping[str, ComponentInfo]:
        """Read-only mapping name -> ComponentInfo for one kind."""
        self._check_kind(kind)
        return MappingProxyType(self._components[kind])

    @property
    def models(self) -> Mapping[str, ComponentInfo]:
        """Registered prototype models, by name (read-only)."""
        return self.components("model")

    @property
    def encoders(self) -> Mapping[str, ComponentInfo]:
        """Registered encoders, by name (read-only)."""
        return self.components("encoder")

    @property
    def controllers(self) -> Mapping[str, ComponentInfo]:
        """Registered controllers, by name (read-only)."""
        return self.components("controller")

    @property
    def datasets(self) -> Mapping[str, ComponentInfo]:
        """Registered dataset loaders, by name (read-only)."""
        return self.components("dataset")

    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component registered as `name`.

        Raises `DuplicatePluginError` when several plugins claim the name (it is disabled),
        and `UnknownPluginError` otherwise, with close matches and, when plugins failed to
        load, each failure and its cause (one of them may be the provider).
        """
        self._check_kind(kind)
        try:
            return self._components[kind][name]
        except KeyError:
            pass
        claimants = self._conflicts.get((kind, name))
        if claimants:
            raise self._conflict_error(kind, name, claimants)
        hint = None
        if self.failures:
            ranked = sorted(self.failures, key=lambda f: name not in f"{f.plugin} {f.distribution}")
            hint = ("These plugins failed to load; one of them may provide it: "
                    + "; ".join(str(f) for f in ranked) + ".")
        raise UnknownPluginError(kind, name, self._components[kind], hint)

    @staticmethod
    def _conflict_error(kind: str, name: str, claimants: list[ComponentInfo]) -> DuplicatePluginError:
        return DuplicatePluginError(kind, name, *(c.origin for c in claimants))

    @property
    def conflicts(self) -> list[DuplicatePluginError]:
        """One `DuplicatePluginError` per disabled name (several plugins claimed it)."""
        return [self._conflict_error(k, n, c) for (k, n), c in sorted(self._conflicts.items())]

    @property
    def problems(self) -> list[PluginError]:
        """Every load failure and every name conflict, for reports (`protoflow plugins`)."""
        return [*self.failures, *self.conflicts]

    def create(self, kind: str, name: str, /, **params: Any) -> Any:
        """Instantiate a component. A parameter its factory does not take raises `ConfigError`
        naming it, with close matches and the accepted parameters (checked against the
        factory's signature before calling it)."""
        info = self.get(kind, name)
        accepted = _keyword_parameters(info.factory)
        unknown = sorted(set(params) - set(accepted)) if accepted is not None else []
        if unknown:
            close = {u: difflib.get_close_matches(u, accepted, n=1, cutoff=0.6) for u in unknown}
            hints = "; ".join(f"{u!r}" + (f" (did you mean {c[0]!r}?)" if c else "") for u, c in close.items())
            listed = ", ".join(accepted) if accepted else "none"
            raise ConfigError(f"{kind} {name!r} has no parameter {hints}. Its parameters: {listed}.")
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
        """What is usable, by kind.

        Returns ``{"model": [...], "encoder": [...], "controller": [...], "dataset": [...]}``;
        each list is sorted by name and holds one dict per component with the keys
        ``"name"``, ``"distribution"`` (None for a plugin registered by hand), ``"version"``,
        ``"plugin"`` (the entry-point or registration name) and ``"summary"``. Disabled names
        (`conflicts`) and failed plugins (`failures`) are not listed here.
        """
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

    def _add(self, info: ComponentInfo, duplicates: str = "raise") -> None:
        if not isinstance(info.name, str) or not _NAME_RE.match(info.name):
            raise InvalidPluginError(
                f"{info.origin} registered the {info.kind} name {info.name!r}: names are "
                "lower-case kebab-case (letters, digits, '-'), starting with a letter"
            )
        if not callable(info.factory):
            raise InvalidPluginError(f"{info.origin} registered {info.kind} {info.name!r} with a non-callable factory")
        key = (info.kind, info.name)
        existing = self._components[info.kind].get(info.name)
        claimants = self._conflicts.get(key)
        if existing is None and not claimants:
            self._components[info.kind][info.name] = info
            return
        others = [existing] if existing is not None else list(claimants or [])
        if duplicates == "raise":
            raise self._conflict_error(info.kind, info.name, [*others, info])
        # disable the name for everyone: no claimant wins by load order
        self._components[info.kind].pop(info.name, None)
        self._conflicts[key] = [*others, info]

    def register(
        self,
        plugin: Any,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
        duplicates: str = "raise",
    ) -> str:
        """Register a plugin object or module (code that is not installed: notebooks, tests).

        Its hook implementations are called at once, attributed to `name` (default: pluggy's
        name for the object). Returns the name. If a hook raises, everything the plugin
        registered is removed again and the exception propagates.

        duplicates : "raise" (default) raises `DuplicatePluginError` when a component name is
            already taken and registers nothing; "disable" disables the contested name for
            every claimant and keeps the rest (how installed plugins are loaded).

        Raises `PluginAlreadyRegisteredError` when this object or this name is registered
        already (e.g. the plugin is installed: use `protoflow.testing.isolated_registry`).
        """
        if duplicates not in ("raise", "disable"):
            raise ConfigError(f"duplicates must be 'raise' or 'disable', got {duplicates!r}")
        pm = self.plugin_manager
        if pm.is_registered(plugin):
            raise PluginAlreadyRegisteredError(
                f"this plugin object is already registered as {pm.get_name(plugin)!r}"
                f"{self._dist_note(pm.get_name(plugin))}; it is probably installed, so its entry "
                "point registered it. In tests, build an isolated registry with "
                "protoflow.testing.isolated_registry(plugin) instead of registering it again."
            )
        if name is not None and pm.has_plugin(name):
            raise PluginAlreadyRegisteredError(
                f"a plugin named {name!r} is already registered{self._dist_note(name)}; "
                "choose another name or unregister it first."
            )
        plugin_name = pm.register(plugin, name=name)
        if plugin_name is None:  # blocked
            return name or ""
        try:
            self._check_pending_for(plugin_name, plugin)
            self._plugin_dists[plugin_name] = (distribution, version)
            self._call_register_hooks(plugin_name, distribution, version, duplicates)
        except BaseException:
            self._forget(plugin_name)
            raise
        return plugin_name

    def _dist_note(self, plugin_name: str | None) -> str:
        dist = self._plugin_dists.get(plugin_name or "", (None, None))[0]
        return f" (from the installed distribution {dist})" if dist else ""

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under `name` and every component it registered.

        A name it contested with other plugins goes back to the remaining claimant when only
        one is left. Unknown names are ignored (cleanup code may call it unconditionally).
        """
        self._forget(name)

    def _forget(self, plugin_name: str) -> None:
        pm = self.plugin_manager
        if pm.get_plugin(plugin_name) is not None:
            pm.unregister(name=plugin_name)
        for kind in KINDS:
            for n in [n for n, i in self._components[kind].items() if i.plugin == plugin_name]:
                del self._components[kind][n]
        for (kind, n), claimants in list(self._conflicts.items()):
            left = [c for c in claimants if c.plugin != plugin_name]
            if len(left) == len(claimants):
                continue
            del self._conflicts[(kind, n)]
            if len(left) == 1:  # the contest is over: the remaining claimant gets the name
                self._components[kind][n] = left[0]
            elif left:
                self._conflicts[(kind, n)] = left
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
                    raise InvalidPluginError(
                        f"plugin {plugin_name!r} implements the unknown hook {hook_name!r}; "
                        f"known hooks: {', '.join(_spec_names())}. Check the spelling."
                    )

    def _call_register_hooks(
        self, plugin_name: str, dist: str | None, version: str | None, duplicates: str
    ) -> None:
        view = Registrar(self, plugin_name, dist, version, duplicates)
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

        A plugin that fails to import or register, with any exception (`SystemExit` and
        `KeyboardInterrupt` included: a plugin must never end the host program), is recorded
        in `failures` and skipped. A name claimed by several plugins is disabled and recorded
        in `conflicts`. With `strict`, the first failure or conflict raises instead.
        `disabled` / `only` filter by entry-point or distribution name.
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
                self.register(plugin, ep.name, distribution=dist, version=version,
                              duplicates="raise" if strict else "disable")
            except DuplicatePluginError:
                raise  # only in strict mode: otherwise duplicates are disabled, not raised
            except BaseException as exc:
                failure = PluginLoadError(ep.name, dist, exc)
                if strict:
                    raise failure from exc
                self.failures.append(failure)


def _keyword_parameters(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword parameters `factory` accepts, or None when it takes ``**kwargs`` (or has no
    signature to read)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    names = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(p.name)
    return names


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
    """The process-wide registry, loaded from entry points on first use.

    On that first load every plugin problem (a failure, a name conflict) is issued once as a
    `protoflow.PluginWarning`.
    """
    global _default
    with _lock:
        fresh = _default is None
        if _default is None:
            _default = load_registry()
        reg = _default
    if fresh:
        for problem in reg.problems:
            warnings.warn(str(problem), PluginWarning, stacklevel=2)
    return reg


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
    """What is installed and usable, in the default registry (see `Registry.available`)."""
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
