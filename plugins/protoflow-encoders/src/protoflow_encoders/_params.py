"""Validation of the parameters the autoencoder and DESOM share (latent_dim, variant, layers,
image_shape, batch_size, lr); raises `ConfigError` naming the parameter."""

from __future__ import annotations

from typing import Any

from protoflow.errors import ConfigError
from protoflow.params import Any_, Bool, Choice, Device, Float, Int, Seed
from protoflow.validation import check_choice, check_float, check_int
from protoflow_encoders._nets import DEFAULT_LAYERS


def _image_shape(image_shape: Any, n_features: int) -> tuple[int, int, int]:
    """(channels, height, width) from (height, width), (channels, height, width) or None
    (None: a square single-channel image)."""
    if image_shape is None:
        side = round(n_features**0.5)
        if side * side != n_features:
            raise ConfigError(
                f"parameter 'image_shape' is needed for variant='conv': {n_features} features "
                "are not a square image; pass (height, width) or (channels, height, width)."
            )
        return 1, side, side
    try:
        dims = tuple(check_int("image_shape", s, minimum=1) for s in image_shape)
    except TypeError as exc:
        raise ConfigError(f"parameter 'image_shape' must be a tuple of ints, got {image_shape!r}.") from exc
    if len(dims) == 2:
        dims = (1, *dims)
    if len(dims) != 3 or dims[0] * dims[1] * dims[2] != n_features:
        raise ConfigError(
            f"parameter 'image_shape' {image_shape!r} does not match {n_features} features "
            "(need (height, width) or (channels, height, width) whose product is n_features)."
        )
    return dims  # type: ignore[return-value]


def _int_sequence(name: str, value: Any) -> Any:
    """A sequence of ints >= 1 (hidden widths, filter counts, an image shape)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ConfigError(f"parameter {name!r} must be a sequence of ints, got {value!r}.")
    for v in value:
        check_int(name, v, minimum=1)
    return value


#: the declarations the autoencoder and DESOM share (their `parameters` schemas include these)
NETWORK_PARAMETERS = {
    "latent_dim": Int(1, doc="width of the code layer"),
    "variant": Choice("dense", "conv"),
    "layers": Any_(_int_sequence, doc="hidden widths (dense) or filter counts (conv)"),
    "image_shape": Any_(_int_sequence, doc="(height, width) or (channels, height, width)"),
    "batch_size": Int(1),
    "lr": Float(0.0, strict_min=True),
    "device": Device(),
    "seed": Seed(),
    "progress": Bool(),
}


def check_network_params(obj: Any, n_features: int) -> dict[str, Any]:
    """Validated architecture and optimisation parameters of `obj` as a dict:
    latent_dim, variant, layers (tuple), image_shape ((C, H, W) or None), batch_size, lr."""
    latent_dim = check_int("latent_dim", obj.latent_dim, minimum=1)
    variant = check_choice("variant", obj.variant, ["dense", "conv"])
    layers = DEFAULT_LAYERS[variant] if obj.layers is None else obj.layers
    try:
        layers = tuple(check_int("layers", v, minimum=1) for v in layers)
    except TypeError as exc:
        raise ConfigError(f"parameter 'layers' must be a sequence of ints, got {obj.layers!r}.") from exc
    if variant == "conv" and not layers:
        raise ConfigError("parameter 'layers' must list at least one filter count for variant='conv'.")
    image_shape = _image_shape(obj.image_shape, n_features) if variant == "conv" else None
    return {
        "latent_dim": latent_dim,
        "variant": variant,
        "layers": layers,
        "image_shape": image_shape,
        "batch_size": check_int("batch_size", obj.batch_size, minimum=1),
        "lr": check_float("lr", obj.lr, minimum=0.0, strict_min=True),
    }
