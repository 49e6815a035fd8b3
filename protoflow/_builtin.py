"""The core's own plugin: registers `PrototypeSet` as the model "prototypes", through the same
entry-point group third parties use."""

from __future__ import annotations

from protoflow.hookspecs import hookimpl


@hookimpl
def protoflow_register_models(registry):
    from protoflow.prototypes import PrototypeSet

    registry.add_model(
        "prototypes", PrototypeSet, summary="A fixed codebook from elsewhere (no training)."
    )
