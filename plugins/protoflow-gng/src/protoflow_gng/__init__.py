"""Growing Neural Gas for protoflow: prototypes whose topology is the graph they learn."""

from protoflow_gng.model import GrowingNeuralGas

__all__ = ["GrowingNeuralGas"]
