"""Hook implementations only; the model module is imported when the hook runs."""

import protoflow


@protoflow.hookimpl
def protoflow_register_models(registry):
    from protoflow_gng.model import GrowingNeuralGas

    registry.add_model(
        "gng",
        GrowingNeuralGas,
        summary="Growing Neural Gas (Fritzke 1995): units and edges grow; topology is the graph.",
    )
