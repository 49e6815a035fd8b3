"""Hook implementations only; the model module is imported when the hook runs."""

import protoflow


@protoflow.hookimpl
def protoflow_register_models(registry):
    from protoflow_som.model import SOM, ToroidalSOM

    registry.add_model(
        "som", SOM, summary="Kohonen self-organizing map (batch, minibatch or online; rect/hex lattice)."
    )
    registry.add_model(
        "toroidal-som", ToroidalSOM, summary="A self-organizing map on a torus (no border units)."
    )
