"""Hook implementations only; torch is imported when a DESOM is fitted or loaded."""

import protoflow


@protoflow.hookimpl
def protoflow_register_models(registry):
    from protoflow_desom.model import DESOM

    registry.add_model(
        "desom",
        DESOM,
        summary="Deep Embedded SOM: autoencoder + SOM layer trained jointly (torch).",
    )
