"""A fresh, isolated plugin registry for tests: `isolated_registry` and `registry_fixture`."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from protoflow.registry import Registry, load_registry, using_registry


def _resolve(plugin: Any) -> Any:
    return importlib.import_module(plugin) if isinstance(plugin, str) else plugin


@contextlib.contextmanager
def isolated_registry(*plugins: Any, entry_points: bool = False) -> Iterator[Registry]:
    """A fresh `Registry` holding `plugins`, made the process-wide default inside the block.

    `protoflow.create_model` and the other ``create_*`` functions, `protoflow.save`,
    `protoflow.load`, the pipeline and the CLI all see it; the previous default is restored
    afterwards. Works whether or not the plugin under test is installed: with
    ``entry_points=False`` (the default) the registry holds only `plugins`; with
    ``entry_points=True`` it also loads the installed plugins, and a plugin in `plugins` that an
    entry point already registered is not registered twice.

    Parameters
    ----------
    *plugins : module, object or str
        Plugin modules or objects with hook implementations; a string is imported as a module
        name (``"my_plugin.plugin"``).
    entry_points : bool, default False
        Also load the installed plugins (entry-point group ``protoflow``).

    Returns
    -------
    iterator of Registry
        A context manager yielding the registry.
    """
    reg = load_registry(entry_points=entry_points)
    for plugin in plugins:
        plugin = _resolve(plugin)
        if not reg.plugin_manager.is_registered(plugin):
            reg.register(plugin)
    with using_registry(reg):
        yield reg


def registry_fixture(
    *plugins: Any, entry_points: bool = False, autouse: bool = False, scope: str = "function"
) -> Callable[..., Any]:
    """A pytest fixture wrapping `isolated_registry`; assign it to a name in ``conftest.py``::

        from protoflow.testing import registry_fixture
        my_registry = registry_fixture("my_plugin.plugin")

    Tests that take the argument ``my_registry`` then run with a registry holding only that
    plugin (``my_registry`` is the `Registry`); ``autouse=True`` applies it to every test.

    Parameters
    ----------
    *plugins : module, object or str
        As in `isolated_registry`.
    entry_points : bool, default False
        As in `isolated_registry`.
    autouse : bool, default False
        Use the fixture in every test that can see it.
    scope : str, default "function"
        The pytest fixture scope.

    Returns
    -------
    callable
        The fixture (imports pytest, which the rest of `protoflow.testing` does not need).
    """
    import pytest

    def _isolated_registry() -> Iterator[Registry]:
        with isolated_registry(*plugins, entry_points=entry_points) as reg:
            yield reg

    return pytest.fixture(autouse=autouse, scope=scope)(_isolated_registry)  # type: ignore[call-overload]
