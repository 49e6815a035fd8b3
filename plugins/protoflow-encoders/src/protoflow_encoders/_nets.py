"""Autoencoder architectures (torch): the DESOM paper's dense 500-500-2000-L network and the
ConvDESOM network (3x3 convolutions, 2x2 max pooling). Both map flat rows (n, n_features) to
latent codes (n, latent_dim) and back, so callers never reshape."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from protoflow_encoders.torch_training import require_torch

DEFAULT_LAYERS = {"dense": (500, 500, 2000), "conv": (32, 64, 128, 256)}


def pooled_sizes(height: int, width: int, n_stages: int) -> list[tuple[int, int]]:
    """Spatial size before each stage and after the last: 2x2 pooling rounds up (ceil mode),
    so odd sizes lose no pixels and the decoder can upsample back to each exact size."""
    sizes = [(height, width)]
    for _ in range(n_stages):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


def build_autoencoder(
    variant: str,
    n_features: int,
    latent_dim: int,
    layers: Sequence[int],
    image_shape: Sequence[int] | None,
) -> tuple[Any, Any]:
    """(encoder, decoder) torch modules. ReLU hidden layers, linear code and linear output.

    dense: n_features -> layers... -> latent_dim, mirrored back.
    conv: image_shape (channels, height, width); per stage a 3x3 'same' convolution with
    ``layers[i]`` filters, ReLU and 2x2 max pooling; then a linear map to latent_dim. The
    decoder mirrors it (linear, ReLU, then per stage nearest upsampling to the encoder's size
    and a 3x3 convolution), ending in a linear convolution to the input channels.
    """
    torch = require_torch()
    nn = torch.nn
    if variant == "dense":
        dims = [n_features, *layers, latent_dim]
        enc: list[Any] = []
        dec: list[Any] = []
        for i in range(len(dims) - 1):
            enc.append(nn.Linear(dims[i], dims[i + 1]))
            rev_in, rev_out = dims[-1 - i], dims[-2 - i]
            dec.append(nn.Linear(rev_in, rev_out))
            if i < len(dims) - 2:  # no ReLU on the code or on the output
                enc.append(nn.ReLU())
                dec.append(nn.ReLU())
        return nn.Sequential(*enc), nn.Sequential(*dec)

    channels, height, width = (int(s) for s in image_shape)  # type: ignore[union-attr]
    sizes = pooled_sizes(height, width, len(layers))
    h, w = sizes[-1]
    flat = layers[-1] * h * w
    enc = [nn.Unflatten(1, (channels, height, width))]
    c_in = channels
    for f in layers:
        enc += [nn.Conv2d(c_in, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
        c_in = f
    enc += [nn.Flatten(), nn.Linear(flat, latent_dim)]
    dec = [nn.Linear(latent_dim, flat), nn.ReLU(), nn.Unflatten(1, (layers[-1], h, w))]
    for i in reversed(range(len(layers))):
        c_out = layers[i - 1] if i > 0 else channels
        dec += [nn.Upsample(size=sizes[i], mode="nearest"), nn.Conv2d(layers[i], c_out, 3, padding=1)]
        if i > 0:
            dec.append(nn.ReLU())
    dec.append(nn.Flatten())
    return nn.Sequential(*enc), nn.Sequential(*dec)
