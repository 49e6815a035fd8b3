"""Hook implementations only; scikit-learn is imported when a model is fitted."""

import protoflow


@protoflow.hookimpl
def protoflow_register_models(registry):
    from protoflow_kmeans.model import KMeansPrototypes

    registry.add_model(
        "kmeans",
        KMeansPrototypes,
        summary="scikit-learn k-means centres; no topology, or a k-nearest-prototype graph.",
    )
