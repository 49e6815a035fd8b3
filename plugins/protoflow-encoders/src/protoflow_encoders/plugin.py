"""Hook implementations only; torch is imported when an autoencoder is fitted, never here."""

import protoflow


@protoflow.hookimpl
def protoflow_register_encoders(registry):
    from protoflow_encoders.autoencoder import AutoencoderEncoder
    from protoflow_encoders.identity import IdentityEncoder
    from protoflow_encoders.pca import PCAEncoder

    registry.add_encoder("identity", IdentityEncoder, summary="Latent space = data space.")
    registry.add_encoder(
        "pca", PCAEncoder, summary="PCA (optionally whitened); exact inverse at full dimension."
    )
    registry.add_encoder(
        "autoencoder",
        AutoencoderEncoder,
        summary="Dense or convolutional autoencoder (torch, optional extra).",
    )
