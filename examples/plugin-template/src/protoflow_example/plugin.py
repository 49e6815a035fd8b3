"""Hook implementations only; the model module is imported when the hook runs."""

import protoflow


@protoflow.hookimpl
def protoflow_register_models(registry):
    from protoflow_example.model import RandomSamples

    registry.add_model("random-samples", RandomSamples, summary="Prototypes drawn from the data.")
