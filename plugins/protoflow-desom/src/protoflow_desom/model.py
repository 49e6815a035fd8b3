"""The Deep Embedded SOM: an autoencoder and a SOM layer trained jointly (Forest et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from protoflow_encoders import torch_training
from protoflow_encoders.autoencoder import AutoencoderEncoder

from protoflow.base import PrototypeModelBase
from protoflow.errors import ValidationError
from protoflow.neighborhood import exponential_temperature, gaussian_kernel
from protoflow.params import Float, Int, Schema
from protoflow.topology import Lattice
from protoflow.validation import check_array, check_is_fitted, check_magnitude, check_seed

_ENC = "encoder:"
#: encoder parameters that DESOM passes on (the rest of the encoder's are DESOM's own choice)
_SHARED = ("latent_dim", "variant", "layers", "image_shape", "batch_size", "lr", "device", "seed", "progress")


def som_loss(z: Any, prototypes: Any, kernel: Any) -> Any:
    """``mean_i sum_k w_ik ||z_i - m_k||^2`` with ``w_ik = kernel[bmu_i, k]`` held constant.

    z : tensor (n, latent_dim); prototypes : tensor (n_units, latent_dim); kernel : tensor
    (n_units, n_units) of neighbourhood weights at the current temperature. The squared
    distances use the expansion ||z||^2 - 2 z.m + ||m||^2 (an (n, n_units) matrix, never the
    (n, n_units, latent_dim) broadcast of the reference code), whose gradient is exact.
    """
    d = (z * z).sum(1, keepdim=True) - 2.0 * z @ prototypes.T + (prototypes * prototypes).sum(1)
    weights = kernel[d.detach().argmin(1)]  # BMUs fixed within the step: no gradient through them
    return (weights * d).sum(1).mean()


class DESOM(PrototypeModelBase):
    """Deep Embedded Self-Organizing Map.

    Minimises ``L = L_rec + gamma * L_SOM`` over minibatches with Adam, where L_rec is the
    mean squared reconstruction error averaged over samples *and features* (Keras 'mse', the
    scale gamma = 1e-3 was calibrated for) and L_SOM is `som_loss` with the Gaussian kernel
    ``exp(-d^2 / T^2)`` of the lattice's Manhattan distance at temperature
    ``T_i = t_max (t_min / t_max)^(i / iterations)``, i = 1..iterations. The encoder receives
    gradients from both terms, the decoder from L_rec, the prototypes from L_SOM. The defaults
    are the paper's Table 2.

    Parameters
    ----------
    rows, cols : map size (rectangular lattice, row-major units).
    latent_dim : code width L.
    iterations : minibatch steps (the paper: 10,000 on MNIST).
    gamma : weight of the SOM loss.
    batch_size, lr : minibatch size and Adam learning rate.
    t_max, t_min : temperature range; ``t_max=None`` means max(rows, cols) ("the map size").
    update_interval : the SOM loss is applied every this many steps only (1 = every step).
    variant, layers, image_shape : the autoencoder (see `AutoencoderEncoder`); "dense"
        500-500-2000-L or "conv" 32-64-128-256 filters.
    device : "cpu" or "cuda".
    seed : weights, prototype initialisation and batch order.
    progress : progress bar on a terminal's stderr.

    No pretraining: prototypes start as the (untrained) encodings of ``rows * cols`` randomly
    chosen samples. Batches are drawn from a fresh seeded permutation every epoch.

    Attributes
    ----------
    prototypes_ : (rows * cols, latent_dim) float64, in latent space
    topology_ : `Lattice(rows, cols)`
    encoder : the jointly trained `AutoencoderEncoder` (encode data, decode latent points)
    n_features_in_ : data width
    n_iter_ : steps taken
    loss_history_ : (iterations, 2) L_rec and L_SOM per step (NaN where the SOM term was off)
    """

    parameters = Schema(
        rows=Int(1),
        cols=Int(1),
        iterations=Int(0),
        gamma=Float(0.0),
        t_max=Float(0.0, strict_min=True, optional=True),
        t_min=Float(0.0, strict_min=True),
        update_interval=Int(1),
        **AutoencoderEncoder.parameters.subset(_SHARED),
    )
    needs_modules = ("torch",)

    def __init__(
        self,
        rows: int = 8,
        cols: int = 8,
        latent_dim: int = 10,
        iterations: int = 10000,
        gamma: float = 1e-3,
        batch_size: int = 256,
        lr: float = 1e-3,
        t_max: float | None = None,
        t_min: float = 0.1,
        update_interval: int = 1,
        variant: str = "dense",
        layers: Sequence[int] | None = None,
        image_shape: Sequence[int] | None = None,
        device: str = "cpu",
        seed: int | None = None,
        progress: bool = True,
    ) -> None:
        self.rows = rows
        self.cols = cols
        self.latent_dim = latent_dim
        self.iterations = iterations
        self.gamma = gamma
        self.batch_size = batch_size
        self.lr = lr
        self.t_max = t_max
        self.t_min = t_min
        self.update_interval = update_interval
        self.variant = variant
        self.layers = layers
        self.image_shape = image_shape
        self.device = device
        self.seed = seed
        self.progress = progress

    def _check_params(self) -> dict[str, Any]:
        """The declared checks (`parameters`, as `config validate` runs them), with t_max's
        default (the map's longer side) filled in."""
        p = self.validated_params()
        if p["t_max"] is None:
            p["t_max"] = float(max(p["rows"], p["cols"]))
        return p

    def _encoder_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SHARED} | {"epochs": 0}

    def fit(self, X: Any, y: Any = None) -> DESOM:
        """Train on raw data X : array-like of shape (n_samples, n_features). Returns self."""
        X = check_array(X, name="X")
        check_magnitude(X, "X", dtype=np.float32)  # the network computes in float32
        p = self._check_params()
        rng = check_seed(self.seed)
        torch = torch_training.require_torch()
        # the seeded, untrained autoencoder (validates latent_dim, variant, layers, ... too)
        ae = AutoencoderEncoder(**self._encoder_params())
        cfg = ae.build_network(X.shape[1], rng)
        enc, dec = ae.modules
        topology = Lattice(p["rows"], p["cols"])
        K = topology.n_units
        start = rng.choice(X.shape[0], size=K, replace=X.shape[0] < K)
        protos = torch.nn.Parameter(torch_training.as_tensor(ae.encode(X[start]), ae.device_))
        map_dist = topology.distances()
        iters, every, gamma = p["iterations"], p["update_interval"], p["gamma"]

        def loss_fn(xb: Any, i: int) -> tuple[Any, tuple[float, float]]:
            z = enc(xb)
            rec = torch.nn.functional.mse_loss(dec(z), xb)
            if i % every:
                return rec, (rec.item(), float("nan"))
            T = exponential_temperature(i + 1, iters, p["t_max"], p["t_min"])
            kernel = torch.as_tensor(gaussian_kernel(map_dist, T), dtype=z.dtype, device=z.device)
            som = som_loss(z, protos, kernel)
            return rec + gamma * som, (rec.item(), som.item())

        self.loss_history_ = torch_training.train(
            [*enc.parameters(), *dec.parameters(), protos], loss_fn, torch_training.as_tensor(X, ae.device_),
            iterations=iters, batch_size=cfg["batch_size"], lr=cfg["lr"], rng=rng,
            progress=bool(self.progress), desc="desom", n_parts=2,
        )
        self.prototypes_ = protos.detach().cpu().numpy().astype(np.float64)
        self.topology_ = topology
        self.n_features_in_ = int(X.shape[1])
        self.n_iter_ = iters
        self.encoder = ae
        return self

    def decoded_prototypes_(self) -> np.ndarray:
        """The prototypes in data space, shape (n_units, n_features_in_) (for plotting)."""
        check_is_fitted(self, ["prototypes_"])
        return self.encoder.decode(self.prototypes_)

    def encode(self, X: Any) -> np.ndarray:
        """Shortcut for ``self.encoder.encode``: X (n_samples, n_features_in_) -> (n_samples, latent_dim)."""
        check_is_fitted(self, ["prototypes_"])
        return self.encoder.encode(X)

    # -- persistence: the encoder's torch weights ride along as NumPy arrays ---------------

    def _protoflow_get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super()._protoflow_get_state()
        if self.encoder is not None:
            enc_meta, enc_arrays = self.encoder._protoflow_get_state()
            meta[_ENC + "state"] = enc_meta
            arrays.update({_ENC + k: v for k, v in enc_arrays.items()})
        return meta, arrays

    def _protoflow_set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        meta = dict(meta)
        enc_meta = meta.pop(_ENC + "state", None)
        own = {k: v for k, v in arrays.items() if not k.startswith(_ENC)}
        super()._protoflow_set_state(meta, own)
        if enc_meta is None and "prototypes_" in own:
            raise ValidationError(f"saved value {_ENC + 'state'!r} (the fitted encoder) is missing")
        if enc_meta is not None:
            if not isinstance(enc_meta, dict):
                raise ValidationError(
                    f"saved value {_ENC + 'state'!r} must be an object, got {type(enc_meta).__name__}"
                )
            if "prototypes_" in own and "n_features_in_" not in enc_meta:
                raise ValidationError(f"saved value {_ENC + 'state.n_features_in_'!r} is missing")
            ae = AutoencoderEncoder(**self._encoder_params())
            ae._protoflow_set_state(
                enc_meta, {k[len(_ENC):]: v for k, v in arrays.items() if k.startswith(_ENC)},
                label=_ENC, field_label=_ENC + "state.",
            )
            self.encoder = ae
