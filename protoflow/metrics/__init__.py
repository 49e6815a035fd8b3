"""Metrics: map quality (`protoflow.metrics.map_quality`), trajectories
(`protoflow.metrics.trajectory`), semantics (`protoflow.metrics.semantic`) and whether a path
stays on the data and arrives (`protoflow.metrics.manifold`).

Every public function is also importable from here, e.g.
``from protoflow.metrics import quantization_error, continuity, classifier_confidence``.
"""

from protoflow.metrics.manifold import (
    arrival_step,
    latent_consistency,
    nearest_sample_distance,
    out_of_range_fraction,
    stall_steps,
)
from protoflow.metrics.map_quality import (
    class_scatter_index,
    combined_error,
    distortion,
    kruskal_shepard_error,
    neighborhood_preservation,
    nmi,
    prototype_sharpness_ratio,
    purity,
    quantization_error,
    topographic_error,
    topographic_product,
    trustworthiness,
    unsupervised_accuracy,
)
from protoflow.metrics.semantic import (
    classifier_confidence,
    distance_to_cluster,
    manifold_distance,
    sharpness,
)
from protoflow.metrics.trajectory import (
    continuity,
    cosine_to_first,
    curvature,
    dwell_lengths,
    dwell_stats,
    geodesic_efficiency,
    segmented_continuity,
    split_paths,
    trajectory_summary,
    transition_rate,
)

__all__ = [
    "arrival_step",
    "class_scatter_index",
    "classifier_confidence",
    "combined_error",
    "continuity",
    "cosine_to_first",
    "curvature",
    "distance_to_cluster",
    "distortion",
    "dwell_lengths",
    "dwell_stats",
    "geodesic_efficiency",
    "kruskal_shepard_error",
    "latent_consistency",
    "manifold_distance",
    "nearest_sample_distance",
    "neighborhood_preservation",
    "nmi",
    "out_of_range_fraction",
    "prototype_sharpness_ratio",
    "purity",
    "quantization_error",
    "segmented_continuity",
    "sharpness",
    "split_paths",
    "stall_steps",
    "topographic_error",
    "topographic_product",
    "trajectory_summary",
    "transition_rate",
    "trustworthiness",
    "unsupervised_accuracy",
]
