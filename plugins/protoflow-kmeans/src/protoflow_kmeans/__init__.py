"""k-means prototypes for protoflow, so SOMs can be compared with plain k-means centres."""

from protoflow_kmeans.model import KMeansPrototypes, knn_graph

__all__ = ["KMeansPrototypes", "knn_graph"]
