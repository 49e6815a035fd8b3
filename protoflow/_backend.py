"""Choosing the array backend ("numpy" or "torch") and the torch device, shared by every
component with a ``backend``/``device`` parameter (the SOM, `Inverter`, MUSIC).

torch is imported only inside these functions: ``import protoflow`` never imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.errors import ConfigError, ProtoflowError

BACKENDS = ("numpy", "torch")
TORCH_PIN = "torch==2.13.0"


class TorchNotInstalledError(ProtoflowError, ImportError):
    """PyTorch is needed (backend="torch", the autoencoder, DESOM) but is not installed."""


def require_torch(needed_by: str = "backend='torch'", fallback: str = "use backend='numpy'") -> Any:
    """Import and return torch, or raise `TorchNotInstalledError` saying how to install it.

    `needed_by` names what needs torch in the message; `fallback` ("" for none) says what to
    do instead. Plugins that need torch (autoencoder, DESOM) call this too.
    """
    try:
        import torch
    except ImportError as exc:
        instead = f", or {fallback}" if fallback else ""
        raise TorchNotInstalledError(
            f"{needed_by} needs PyTorch, which is not installed. Install the CPU build with "
            f"`pip install {TORCH_PIN} --index-url https://download.pytorch.org/whl/cpu` "
            f"(or `pip install {TORCH_PIN}` for CUDA){instead}."
        ) from exc
    return torch


def check_backend(backend: Any) -> str:
    """`backend` validated: "numpy" or "torch" (a `ConfigError` naming the parameter otherwise)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ConfigError(f"parameter 'backend' must be one of {BACKENDS}, got {backend!r}.")
    return backend


def resolve_device(backend: Any, device: Any) -> Any:
    """The torch device to compute on, or None for the numpy backend.

    backend : "numpy" | "torch"
    device : "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else the CPU); None means
        "cpu". With backend="numpy" only None and "cpu" are accepted (numpy runs on the CPU).

    Raises `ConfigError` for an unknown backend/device or for CUDA where it is unavailable,
    and `TorchNotInstalledError` when backend="torch" and torch is missing.
    """
    backend = check_backend(backend)
    dev = "cpu" if device is None else device
    if not isinstance(dev, str) or not (dev in ("cpu", "auto") or dev.split(":")[0] == "cuda"):
        raise ConfigError(
            f"parameter 'device' must be 'cpu', 'cuda', 'cuda:N', 'auto' or None, got {device!r}."
        )
    if backend == "numpy":
        if dev != "cpu":
            raise ConfigError(
                f"parameter 'device' is {device!r}, but backend='numpy' runs on the CPU only; "
                "pass backend='torch' to use a GPU, or device='cpu'."
            )
        return None
    torch = require_torch()
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev != "cpu" and not torch.cuda.is_available():
        raise ConfigError(
            f"parameter 'device' is {device!r} but CUDA is not available here (no GPU, or a "
            "CPU-only torch build); use device='cpu' or device='auto'."
        )
    try:
        resolved = torch.device(dev)
    except RuntimeError as exc:  # e.g. "cuda:x"
        raise ConfigError(f"parameter 'device': {device!r} is not a device torch knows ({exc}).") from exc
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(
            f"parameter 'device' is {device!r} but this machine has {torch.cuda.device_count()} "
            "CUDA device(s); use 'cuda' (device 0) or a smaller index."
        )
    return resolved


def torch_dtype(dtype: Any) -> Any:
    """The torch dtype of a numpy float dtype (float64 or float32)."""
    torch = require_torch()
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]


def as_tensor(array: np.ndarray, device: Any) -> Any:
    """`array` (any shape) as a tensor of the same dtype on `device` (no copy on the CPU
    unless the array is read-only: torch tensors are always writable)."""
    torch = require_torch()
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array, device=device)


def to_numpy(tensor: Any) -> np.ndarray:
    """A torch tensor as a numpy array (copied to the CPU when needed)."""
    return tensor.detach().cpu().numpy()
