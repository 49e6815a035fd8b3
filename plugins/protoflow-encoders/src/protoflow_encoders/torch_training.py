"""Public torch training helpers of the encoders plugin, shared by the autoencoder and by
DESOM (another distribution, which imports only this public module): seeded initialisation,
the Adam minibatch training loop, batched inference and state dicts as NumPy arrays.

Device choice, array conversion and the torch requirement check are the core's
(`protoflow.backend`); progress bars are the core's (`protoflow.progress`). Nothing here
imports torch at module import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from protoflow import backend
from protoflow.backend import torch_threads
from protoflow.errors import DivergenceError
from protoflow.progress import Progress

__all__ = [
    "INFERENCE_BATCH",
    "apply_batched",
    "as_tensor",
    "batch_indices",
    "glorot_init",
    "load_state_arrays",
    "require_torch",
    "resolve_device",
    "state_arrays",
    "torch_generator",
    "torch_threads",
    "train",
]

INFERENCE_BATCH = 4096


def require_torch() -> Any:
    """Import and return torch, or raise the core's `protoflow.TorchNotInstalledError`
    saying how to install it (one error type for every component that needs torch)."""
    return backend.require_torch("this component", fallback="")


def resolve_device(device: Any, *, for_loading: bool = False) -> Any:
    """The torch device for the parameter `device` ("cpu", "cuda", "cuda:N" or "auto").

    The core's `protoflow.backend.resolve_device` with backend="torch"; when `for_loading`, a
    missing GPU falls back to the CPU (inference of an object trained on a GPU).
    """
    return backend.resolve_device("torch", device, fallback_to_cpu=for_loading)


def torch_generator(rng: np.random.Generator) -> Any:
    """A CPU torch.Generator seeded from a NumPy Generator (no global torch state is touched)."""
    torch = require_torch()
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


def glorot_init(module: Any, generator: Any) -> None:
    """Keras' defaults, as in the reference DESOM: Glorot-uniform weights, zero biases."""
    torch = require_torch()
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear | torch.nn.Conv2d):
            torch.nn.init.xavier_uniform_(layer.weight, generator=generator)
            torch.nn.init.zeros_(layer.bias)


def batch_indices(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless minibatches of row indices: a fresh seeded permutation every epoch, the last
    batch of an epoch possibly shorter."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def train(
    parameters: Sequence[Any],
    loss_fn: Callable[[Any, int], tuple[Any, Sequence[float]]],
    X: Any,
    *,
    iterations: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    progress: bool,
    desc: str,
    n_parts: int = 1,
) -> np.ndarray:
    """Adam on ``loss_fn(batch, iteration) -> (loss tensor, parts)`` for `iterations` steps.

    X : tensor (n_samples, ...) already on the training device. Returns the recorded parts,
    shape (iterations, n_parts). Adam's epsilon is Keras' 1e-7 (the reference's optimiser).

    A non-finite loss stops training at once with `protoflow.DivergenceError` naming the
    iteration and the learning rate (it would otherwise turn every weight into NaN).
    """
    torch = require_torch()
    opt = torch.optim.Adam(parameters, lr=lr, betas=(0.9, 0.999), eps=1e-7)
    batches = batch_indices(X.shape[0], batch_size, rng)
    history: list[Sequence[float]] = []
    with Progress(iterations, desc, enabled=progress) as bar:
        for i in range(iterations):
            idx = torch.from_numpy(next(batches)).to(X.device)
            opt.zero_grad(set_to_none=True)
            loss, parts = loss_fn(X[idx], i)
            if not bool(torch.isfinite(loss.detach())):
                raise DivergenceError(
                    f"{desc} training diverged at iteration {i + 1} of {iterations}: the loss is "
                    f"{float(loss.detach())}. Lower the learning rate (lr={lr:g}) or scale the "
                    "data (e.g. standardise each feature)."
                )
            loss.backward()
            opt.step()
            history.append(parts)
            bar.update()
    return np.asarray(history, dtype=np.float64).reshape(iterations, n_parts)


def as_tensor(X: np.ndarray, device: Any) -> Any:
    """float32 tensor of X (any shape) on `device`: the core's `protoflow.backend.as_tensor`
    with the networks' dtype."""
    return backend.as_tensor(X, device, dtype=np.float32)


def apply_batched(module: Any, X: np.ndarray, device: Any) -> np.ndarray:
    """``module(X)`` without gradients, in blocks of rows; returns float64 (n_samples, ...)."""
    torch = require_torch()
    out = []
    with torch.inference_mode():
        # max(n, 1): zero rows still go through once, so the output width is right
        for start in range(0, max(X.shape[0], 1), INFERENCE_BATCH):
            out.append(module(as_tensor(X[start : start + INFERENCE_BATCH], device)).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def state_arrays(module: Any, prefix: str) -> dict[str, np.ndarray]:
    """The module's state dict as NumPy arrays under ``prefix + name`` (no pickle, no torch.save)."""
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_state_arrays(module: Any, arrays: dict[str, np.ndarray], prefix: str) -> None:
    """Inverse of `state_arrays` (strict: every tensor must be present)."""
    torch = require_torch()
    state = {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
    module.load_state_dict(state, strict=True)
