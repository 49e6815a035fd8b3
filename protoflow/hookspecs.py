"""The plugin API. Every hook is documented here; this module *is* the reference.

A plugin is a module (or object) with functions marked ``@protoflow.hookimpl`` whose names
match the specifications below, advertised in its distribution's ``pyproject.toml``::

    [project.entry-points.protoflow]
    my-plugin = "my_package.plugin"

Each ``protoflow_register_*`` hook receives a ``registry`` and calls its ``add_*`` method once
per component. Keep heavy imports inside the classes' modules: the factory passed to ``add_*``
may be a class or a zero-argument-safe callable returning an instance.

Hook implementations may accept fewer arguments than the specification (pluggy's opt-in
arguments), so new arguments can be added later without breaking any plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the registry imports this module; the annotation is only for readers
    from protoflow.registry import Registrar

PROJECT = "protoflow"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def protoflow_register_models(registry: Registrar) -> None:
    """Register prototype models.

    :param registry: call ``registry.add_model(name, factory, summary="...")`` for each model.
        ``factory(**params)`` must return an unfitted object satisfying
        `protoflow.protocols.PrototypeModel`.
    """


@hookspec
def protoflow_register_encoders(registry: Registrar) -> None:
    """Register encoders.

    :param registry: call ``registry.add_encoder(name, factory, summary="...")`` for each one.
        ``factory(**params)`` returns an unfitted `protoflow.protocols.Encoder`.
    """


@hookspec
def protoflow_register_controllers(registry: Registrar) -> None:
    """Register controllers.

    :param registry: call ``registry.add_controller(name, factory, summary="...")``.
        ``factory(**params)`` returns a `protoflow.protocols.Controller`.
    """


@hookspec
def protoflow_register_datasets(registry: Registrar) -> None:
    """Register dataset loaders (offline only).

    :param registry: call ``registry.add_dataset(name, loader, summary="...")``; ``loader(**params)``
        returns a `protoflow.data.Dataset`.
    """
