"""protoflow-vq: a vector quantiser trained by Adam in PyTorch, as a protoflow prototype model.

Importing this package does not import torch; `VQSGD.fit` does (through
`protoflow.backend.require_torch`).
"""

from protoflow_vq.model import VQSGD, knn_topology

__all__ = ["VQSGD", "knn_topology"]
