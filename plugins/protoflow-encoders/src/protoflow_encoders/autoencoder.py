"""A torch autoencoder (dense or convolutional) as a protoflow encoder. torch is imported lazily."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from protoflow.base import EncoderBase
from protoflow.errors import ValidationError
from protoflow.params import Int, Schema
from protoflow.validation import (
    check_array,
    check_is_fitted,
    check_magnitude,
    check_seed,
)
from protoflow_encoders import torch_training
from protoflow_encoders._nets import build_autoencoder
from protoflow_encoders._params import NETWORK_PARAMETERS, check_network_params

_ENC, _DEC = "encoder.", "decoder."


class AutoencoderEncoder(EncoderBase):
    """An autoencoder trained on the mean squared reconstruction error (Keras 'mse': mean over
    samples and features) with Adam.

    Parameters
    ----------
    latent_dim : width of the linear code layer.
    variant : "dense" (hidden ``layers`` default 500-500-2000, ReLU, the DEC/DESOM network) or
        "conv" (``layers`` = filters per stage, default 32-64-128-256, 3x3 convolutions and
        2x2 max pooling as in ConvDESOM; needs ``image_shape``).
    layers : hidden widths (dense) or filter counts (conv); None = the variant's default.
    image_shape : (height, width) or (channels, height, width) of the flattened rows, conv
        only; None = square single-channel images.
    epochs : passes over the data (0 leaves the network at its seeded initialisation).
    batch_size, lr : minibatch size and Adam learning rate.
    device : "cpu" (default) or "cuda"/"cuda:N" (a `ConfigError` when CUDA is unavailable).
    seed : seeds the weight initialisation and the per-epoch shuffling; with a seed, training
        on the CPU is deterministic.
    progress : draw a progress bar on a terminal's stderr.

    Fitted attributes: ``n_features_in_``, ``n_components_`` (= latent_dim), ``layers_``,
    ``image_shape_``, ``loss_history_`` (epochs,) mean loss per epoch, ``exact_inverse_``
    (False). Encoded and decoded arrays are float64; the network computes in float32.
    """

    parameters = Schema(**{**NETWORK_PARAMETERS, "epochs": Int(0)})
    needs_modules = ("torch",)

    def __init__(
        self,
        latent_dim: int = 10,
        variant: str = "dense",
        layers: Sequence[int] | None = None,
        image_shape: Sequence[int] | None = None,
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        device: str = "cpu",
        seed: int | None = None,
        progress: bool = True,
    ) -> None:
        self.latent_dim = latent_dim
        self.variant = variant
        self.layers = layers
        self.image_shape = image_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.seed = seed
        self.progress = progress

    # -- building ------------------------------------------------------------------------

    def _build(self, n_features: int, layers: Sequence[int], image_shape: Sequence[int] | None,
               device: Any, generator: Any = None) -> None:
        self._encoder, self._decoder = build_autoencoder(
            self.variant, n_features, int(self.latent_dim), layers, image_shape
        )
        if generator is not None:
            torch_training.glorot_init(self._encoder, generator)
            torch_training.glorot_init(self._decoder, generator)
        self._encoder.to(device)
        self._decoder.to(device)
        self._device = device
        self.n_features_in_ = int(n_features)
        self.n_components_ = int(self.latent_dim)
        self.layers_ = [int(v) for v in layers]
        self.image_shape_ = None if image_shape is None else [int(v) for v in image_shape]
        self.exact_inverse_ = False
        self.loss_history_ = np.zeros(0)  # training fills it; empty when trained elsewhere (DESOM)

    def build_network(self, n_features: int, rng: np.random.Generator) -> dict[str, Any]:
        """Validate the parameters and build the seeded, untrained network on `device_`.

        Public for models that train the autoencoder jointly with something else (DESOM
        builds it with this, then trains `modules` with its SOM layer). Returns the checked
        settings: ``{"layers", "image_shape", "batch_size", "lr"}``.

        n_features : width of the rows the network will encode.
        rng : the generator that seeds the weights.
        """
        self.validated_params()  # the declared checks, the same as `config validate`
        cfg = check_network_params(self, n_features)  # the ones that need the data's width
        device = torch_training.resolve_device(self.device)
        self._build(n_features, cfg["layers"], cfg["image_shape"], device, torch_training.torch_generator(rng))
        return cfg

    # -- training ------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> AutoencoderEncoder:
        """X : array-like of shape (n_samples, n_features). Returns self."""
        X = check_array(X, name="X")
        epochs = self.validated_params()["epochs"]
        # the network computes in float32: refuse what its squared errors would overflow
        check_magnitude(X, "X", dtype=np.float32)
        rng = check_seed(self.seed)
        torch = torch_training.require_torch()
        cfg = self.build_network(X.shape[1], rng)
        per_epoch = math.ceil(X.shape[0] / cfg["batch_size"])
        enc, dec = self._encoder, self._decoder

        def loss_fn(xb: Any, i: int) -> tuple[Any, tuple[float]]:
            loss = torch.nn.functional.mse_loss(dec(enc(xb)), xb)
            return loss, (loss.item(),)

        hist = torch_training.train(
            [*enc.parameters(), *dec.parameters()], loss_fn, torch_training.as_tensor(X, self._device),
            iterations=epochs * per_epoch, batch_size=cfg["batch_size"], lr=cfg["lr"], rng=rng,
            progress=bool(self.progress), desc="autoencoder",
        )
        self.loss_history_ = hist[:, 0].reshape(epochs, per_epoch).mean(axis=1)
        return self

    # -- use -----------------------------------------------------------------------------

    def encode(self, X: Any) -> np.ndarray:
        """X : array-like (n_samples, n_features) -> ndarray (n_samples, latent_dim)."""
        check_is_fitted(self, ["n_features_in_"])
        X = check_array(X, name="X", n_features=self.n_features_in_, allow_float32=True)
        return torch_training.apply_batched(self._encoder, X, self._device)

    def decode(self, Z: Any) -> np.ndarray:
        """Z : array-like (n_samples, latent_dim) -> ndarray (n_samples, n_features)."""
        check_is_fitted(self, ["n_features_in_"])
        Z = check_array(Z, name="Z", n_features=self.n_components_, allow_float32=True)
        return torch_training.apply_batched(self._decoder, Z, self._device)

    @property
    def device_(self) -> Any:
        """The ``torch.device`` the network lives on (after `fit`, `build_network` or load)."""
        check_is_fitted(self, ["n_features_in_"])
        return self._device

    @property
    def modules(self) -> tuple[Any, Any]:
        """The (encoder, decoder) torch modules, for fine-tuning or export."""
        check_is_fitted(self, ["n_features_in_"])
        return self._encoder, self._decoder

    # -- persistence: state dicts as NumPy arrays, never pickle ----------------------------

    def _protoflow_get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if not hasattr(self, "_encoder"):
            return {}, {}
        meta = {k: getattr(self, k) for k in
                ("n_features_in_", "n_components_", "layers_", "image_shape_", "exact_inverse_")}
        arrays = {"loss_history_": np.asarray(self.loss_history_)}
        arrays.update(torch_training.state_arrays(self._encoder, _ENC))
        arrays.update(torch_training.state_arrays(self._decoder, _DEC))
        return meta, arrays

    def _protoflow_set_state(
        self, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, label: str = "",
        field_label: str = "",
    ) -> None:
        """Rebuild the network from the saved settings and load its weights.

        Raises `ValidationError` naming the saved value or array (prefixed by `field_label` /
        `label`, as the enclosing file names them) when one is missing or does not fit.
        """
        if "n_features_in_" not in meta:  # saved unfitted
            return

        def bad(name: str, problem: str) -> ValidationError:
            return ValidationError(f"saved value {field_label + name!r} {problem}")

        n_features = meta["n_features_in_"]
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise bad("n_features_in_", f"must be a positive integer, got {n_features!r}")
        layers = meta.get("layers_")
        if not isinstance(layers, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in layers
        ):
            raise bad("layers_", f"must be a list of positive integers, got {layers!r}")
        image_shape = meta.get("image_shape_")
        if image_shape is not None and not (
            isinstance(image_shape, list)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in image_shape)
        ):
            raise bad("image_shape_", f"must be null or a list of positive integers, got {image_shape!r}")
        check_network_params(self, n_features)  # ConfigError naming a bad parameter
        torch = torch_training.require_torch()
        described = (
            f"the network that parameter 'latent_dim' ({self.latent_dim!r}), 'variant' "
            f"({self.variant!r}), saved value {field_label + 'layers_'!r} ({layers}) and "
            f"{field_label + 'n_features_in_'!r} ({n_features}) describe"
        )
        try:
            with torch.device("meta"):  # the shapes the saved settings imply, allocating nothing
                shapes = build_autoencoder(self.variant, n_features, int(self.latent_dim), layers, image_shape)
        except (RuntimeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"{described} cannot be built ({exc})") from exc
        for prefix, module in zip((_ENC, _DEC), shapes, strict=True):
            for key, tensor in module.state_dict().items():
                name = prefix + key
                if name not in arrays:
                    raise ValidationError(f"saved weight {label + name!r} is missing")
                if tuple(arrays[name].shape) != tuple(tensor.shape):
                    raise ValidationError(
                        f"saved weight {label + name!r} has shape {tuple(arrays[name].shape)}, but "
                        f"{described} needs {tuple(tensor.shape)}"
                    )
        device = torch_training.resolve_device(self.device, for_loading=True)
        self._build(n_features, layers, image_shape, device)
        torch_training.load_state_arrays(self._encoder, arrays, _ENC)
        torch_training.load_state_arrays(self._decoder, arrays, _DEC)
        self._encoder.to(device)
        self._decoder.to(device)
        if "loss_history_" not in arrays:
            raise ValidationError(f"saved array {label + 'loss_history_'!r} is missing")
        self.loss_history_ = arrays["loss_history_"]
