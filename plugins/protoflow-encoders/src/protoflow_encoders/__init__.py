"""protoflow encoders: ``identity``, ``pca`` and ``autoencoder`` (torch, optional).

Importing this package never imports torch; the autoencoder does so when it is fitted or loaded.
"""

from protoflow_encoders.autoencoder import AutoencoderEncoder
from protoflow_encoders.identity import IdentityEncoder
from protoflow_encoders.pca import WHITEN_FLOOR, PCAEncoder

__all__ = ["WHITEN_FLOOR", "AutoencoderEncoder", "IdentityEncoder", "PCAEncoder"]
__version__ = "0.1.0"
