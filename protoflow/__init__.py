"""protoflow: prototype models as interchangeable backbones for exact inversion and MUSIC.

The five-line path::

    import protoflow
    som = protoflow.create_model("som", rows=20, cols=20, seed=0).fit(Z)
    A = som.activations(Z)                      # (n_samples, n_units) squared distances
    Z_back = protoflow.Inverter(som.prototypes_).invert(A)   # exact, up to rounding
"""

from __future__ import annotations

from protoflow.base import ControllerBase, EncoderBase, ParamsMixin, PrototypeModelBase
from protoflow.errors import (
    ConfigError,
    DaskNotInstalledError,
    DataNotFoundError,
    DivergenceError,
    DuplicatePluginError,
    InvalidPluginError,
    MemoryLimitError,
    MetricNotApplicableError,
    NotFittedError,
    NotInvertibleError,
    OutputExistsError,
    PersistenceError,
    PluginAlreadyRegisteredError,
    PluginError,
    PluginLoadError,
    PluginWarning,
    ProtoflowError,
    TopologyError,
    TorchNotInstalledError,
    UnknownPluginError,
    ValidationError,
)
from protoflow.hookspecs import hookimpl
from protoflow.inversion import Inverter, activations, bmu, invert
from protoflow.io import load, read_metadata, save
from protoflow.pipeline import run
from protoflow.protocols import Controller, Encoder, PrototypeModel, Trajectory
from protoflow.prototypes import PrototypeSet
from protoflow.registry import (
    Registrar,
    available,
    create_controller,
    create_encoder,
    create_model,
    get_registry,
    load_registry,
    register,
    unregister,
)
from protoflow.topology import Graph, Lattice, NoTopology, Topology

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Controller",
    "ControllerBase",
    "DaskNotInstalledError",
    "DataNotFoundError",
    "DivergenceError",
    "DuplicatePluginError",
    "Encoder",
    "EncoderBase",
    "Graph",
    "InvalidPluginError",
    "Inverter",
    "Lattice",
    "MemoryLimitError",
    "MetricNotApplicableError",
    "NoTopology",
    "NotFittedError",
    "NotInvertibleError",
    "OutputExistsError",
    "ParamsMixin",
    "PersistenceError",
    "PluginAlreadyRegisteredError",
    "PluginError",
    "PluginLoadError",
    "PluginWarning",
    "ProtoflowError",
    "PrototypeModel",
    "PrototypeModelBase",
    "PrototypeSet",
    "Registrar",
    "Topology",
    "TopologyError",
    "TorchNotInstalledError",
    "Trajectory",
    "UnknownPluginError",
    "ValidationError",
    "__version__",
    "activations",
    "available",
    "bmu",
    "create_controller",
    "create_encoder",
    "create_model",
    "get_registry",
    "hookimpl",
    "invert",
    "load",
    "load_registry",
    "read_metadata",
    "register",
    "run",
    "save",
    "unregister",
]

#: submodules reachable as attributes without an explicit import (``protoflow.plot.umatrix``),
#: imported on first use so ``import protoflow`` stays light
_LAZY_SUBMODULES = frozenset({
    "backend", "interop", "metrics", "params", "plot", "progress", "runs", "scale", "testing",
    "validation",
})


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"protoflow.{name}")
    raise AttributeError(f"module 'protoflow' has no attribute {name!r}")
