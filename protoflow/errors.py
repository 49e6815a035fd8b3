"""The exception tree: every error protoflow raises on purpose derives from `ProtoflowError`.

Each class also derives from the built-in exception a Python user would expect
(`ValueError` for bad values, `LookupError` for unknown names, ...), so existing
``except ValueError`` clauses keep working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProtoflowError(Exception):
    """Base class of every error that protoflow raises deliberately."""


class PluginWarning(UserWarning):
    """A plugin failed to load, or two plugins claim one name (issued once, on first use of
    the default registry; the CLI prints the same as ``protoflow: warning: ...`` lines)."""


class ValidationError(ProtoflowError, ValueError):
    """Input data is unusable: NaN/inf, wrong shape or width, empty, wrong dtype."""


class ConfigError(ProtoflowError, ValueError):
    """A parameter or configuration value is invalid. The message names the parameter."""


class MemoryLimitError(ProtoflowError, MemoryError):
    """An operation would allocate more memory than is available; the message gives the
    estimate, what needs it, and which setting to change. Raised before allocating."""


class DivergenceError(ProtoflowError, FloatingPointError):
    """Training produced a non-finite loss or non-finite prototypes; the message names the
    iteration and the setting to change (usually a smaller learning rate, or scaled data)."""


class NotFittedError(ProtoflowError, ValueError, AttributeError):
    """A model or encoder was used before `fit`."""


class NotInvertibleError(ProtoflowError, ValueError):
    """Prototypes do not affinely span the space, so activations do not determine the point."""


class TopologyError(ProtoflowError, ValueError):
    """A topology was built wrongly, or a question was asked that it cannot answer."""


class MetricNotApplicableError(ProtoflowError, ValueError):
    """A metric does not apply to this model (e.g. topographic error without a topology)."""


class PersistenceError(ProtoflowError, OSError):
    """A saved file is missing, malformed, from a newer format, or needs an absent plugin."""


class OutputExistsError(PersistenceError, FileExistsError):
    """A run's output folder already holds results (replace it whole with ``overwrite=True`` /
    ``--overwrite``), or the output path is a file."""


class DataNotFoundError(ProtoflowError, FileNotFoundError):
    """A dataset could not be found; the message says where protoflow looked."""


class TorchNotInstalledError(ProtoflowError, ImportError):
    """PyTorch is needed (``backend="torch"``, a torch-based plugin) but is not installed.

    The message carries the pinned install command; see `protoflow.backend.require_torch`.
    """


class DaskNotInstalledError(ProtoflowError, ImportError):
    """Chunked (out-of-core) work was asked for but dask is not installed.

    The message carries the install command; see `protoflow.backend.require_dask`.
    """


class PluginError(ProtoflowError):
    """Base class of plugin-system errors."""


class UnknownPluginError(PluginError, LookupError):
    """No plugin of this kind is registered under this name."""

    def __init__(
        self,
        kind: str,
        name: str,
        available: Iterable[str],
        install_hint: str | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        close = difflib.get_close_matches(name, self.available, n=3, cutoff=0.5)
        parts = [f"unknown {kind} {name!r}."]
        if close:
            parts.append(f"Did you mean {', '.join(repr(c) for c in close)}?")
        if install_hint:
            parts.append(install_hint)
        listed = ", ".join(self.available) if self.available else "(none installed)"
        parts.append(f"Installed {kind}s: {listed}.")
        super().__init__(" ".join(parts))


class DuplicatePluginError(PluginError, ValueError):
    """Two (or more) plugins registered the same name for the same kind of component.

    While loading installed plugins the name is disabled (every claimant is recorded in
    `protoflow.registry.Registry.conflicts`, every other component stays usable); asking for
    the disabled name, registering a duplicate by hand, or strict loading raises this error.

    Attributes: ``kind``, ``name``, ``claimants`` (one "plugin ... (distribution ...)" string
    each), and ``first``/``second`` (the first two claimants).
    """

    def __init__(self, kind: str, name: str, first: str, second: str, *more: str) -> None:
        self.kind, self.name = kind, name
        self.claimants = [first, second, *more]
        self.first, self.second = first, second
        listed = ", ".join(self.claimants[:-1]) + f" and by {self.claimants[-1]}"
        super().__init__(
            f"{kind} {name!r} is registered more than once: by {listed}, so it is disabled. "
            "Uninstall all but one of them, or disable the others with "
            "PROTOFLOW_DISABLE_PLUGINS=<plugin or distribution>."
        )


class InvalidPluginError(PluginError, ValueError):
    """A plugin is malformed: a component name that is not kebab-case, a factory that is not
    callable, or a hook implementation whose name matches no specification (a typo). The
    message names the plugin (and its distribution) and what to fix."""


class PluginAlreadyRegisteredError(PluginError, ValueError):
    """`protoflow.register` was given a plugin object, or a plugin name, that is already
    registered (typically: the plugin is installed, so its entry point registered it)."""


class PluginLoadError(PluginError, ImportError):
    """A plugin failed to import or to register; recorded, other plugins still load.

    Attributes: ``plugin`` (entry-point name), ``distribution`` (or None) and ``error``, the
    exception it raised (any `BaseException`, `SystemExit` included).
    """

    def __init__(self, plugin: str, distribution: str | None, error: BaseException) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.error = error
        origin = f" from distribution {distribution}" if distribution else ""
        super().__init__(
            f"plugin {plugin!r}{origin} failed to load: {type(error).__name__}: {error}"
        )
