"""Self-organizing maps for protoflow: the "som" and "toroidal-som" models.

`protoflow_som.batch` holds the batch epoch as pure map/reduce functions for reuse by other
backends (chunked, distributed, GPU).
"""

from protoflow_som.model import SOM, ToroidalSOM

__all__ = ["SOM", "ToroidalSOM"]
