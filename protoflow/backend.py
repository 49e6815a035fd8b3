"""The public array-backend API: choosing ``"numpy"`` or ``"torch"`` and the torch device,
moving arrays between numpy and torch, and checking optional dependencies (torch, dask).

Every component with a ``backend``/``device`` parameter uses these functions (the SOM,
`protoflow.Inverter`, MUSIC, the autoencoder, DESOM), and so can a third-party plugin: this
module is part of the stable plugin API (see docs/plugins.md). torch and dask are imported
only inside the functions, so ``import protoflow`` never imports either. Code that should run
on whichever array it is given (one body for numpy and torch) uses `protoflow.xp`.

Example::

    from protoflow.backend import as_tensor, resolve_device, to_numpy

    device = resolve_device("torch", "auto")   # torch.device("cuda") when a GPU is present
    t = as_tensor(X, device)                    # same dtype, on that device
    X_back = to_numpy(t)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from protoflow.errors import ConfigError, DaskNotInstalledError, TorchNotInstalledError

#: the accepted values of a ``backend`` parameter
BACKENDS = ("numpy", "torch")
#: the torch release protoflow is tested with (an unpinned torch pulls a multi-GB CUDA build)
TORCH_PIN = "torch==2.13.0"

__all__ = [
    "BACKENDS",
    "TORCH_PIN",
    "DaskNotInstalledError",
    "TorchNotInstalledError",
    "as_tensor",
    "check_backend",
    "check_device",
    "require_dask",
    "require_torch",
    "resolve_device",
    "to_numpy",
    "torch_dtype",
    "torch_threads",
]


def require_torch(needed_by: str = "backend='torch'", fallback: str = "use backend='numpy'") -> Any:
    """Import and return the ``torch`` module, or raise `TorchNotInstalledError`.

    Parameters
    ----------
    needed_by : what needs torch, for the message (e.g. ``"the autoencoder"``).
    fallback : what the user can do instead (``""`` for nothing).

    The error message carries the pinned install command. Plugins that need torch call this
    rather than ``import torch`` so that every such failure reads the same.
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


def check_device(device: Any) -> str:
    """`device` validated without importing torch: "cpu", "cuda", "cuda:N" or "auto" (None
    means "cpu"); anything else raises `ConfigError` naming the parameter. Whether CUDA is
    actually there is `resolve_device`'s question."""
    dev = "cpu" if device is None else device
    ok = isinstance(dev, str) and (
        dev in ("cpu", "auto", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())
    )
    if not ok:
        raise ConfigError(
            f"parameter 'device' must be 'cpu', 'cuda', 'cuda:N', 'auto' or None, got {device!r}."
        )
    return dev


def resolve_device(backend: Any, device: Any, *, fallback_to_cpu: bool = False) -> Any:
    """The torch device to compute on, or None for the numpy backend.

    Parameters
    ----------
    backend : "numpy" | "torch"
    device : "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else the CPU); None means
        "cpu". With backend="numpy" only None and "cpu" are accepted (numpy runs on the CPU).
    fallback_to_cpu : return the CPU instead of raising when CUDA is asked for but absent
        (for loading a saved object that was trained on a GPU).

    Returns a ``torch.device`` for backend="torch", None for backend="numpy".

    Raises `ConfigError` for an unknown backend/device or for CUDA where it is unavailable,
    and `TorchNotInstalledError` when backend="torch" and torch is missing.
    """
    backend = check_backend(backend)
    dev = check_device(device)
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
        if fallback_to_cpu:
            return torch.device("cpu")
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
    """The torch dtype of a numpy float dtype: float64 -> torch.float64, float32 -> torch.float32.

    Any other dtype raises `ConfigError`.
    """
    torch = require_torch()
    table = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
    try:
        return table[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ConfigError(f"dtype must be float64 or float32, got {dtype!r}.") from None


def as_tensor(array: Any, device: Any, *, dtype: Any = None) -> Any:
    """`array` (array-like, any shape) as a tensor on `device`, of its own dtype or of the numpy
    `dtype` given (e.g. ``np.float32`` for a network's input). No copy on the CPU unless a cast
    is needed or the array is read-only (torch tensors are always writable)."""
    torch = require_torch()
    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array, device=device)


def to_numpy(tensor: Any) -> np.ndarray:
    """A torch tensor (any shape) as a numpy array of the same shape and dtype, copied to the
    CPU when needed and detached from autograd (`protoflow.xp.to_numpy` takes any array)."""
    return tensor.detach().cpu().numpy()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to `n`, then restore it.

    Small networks gain nothing from threads, and on a busy machine OpenMP's spinning threads
    can slow them down many times over (tests typically use one). Without torch installed
    there is nothing to set and the block simply runs.
    """
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def require_dask(needed_by: str = "chunked (out-of-core) input") -> ModuleType:
    """Import and return ``dask.array``, or raise `DaskNotInstalledError` with the install line.

    needed_by : what needs dask, for the message.
    """
    try:
        import dask.array as da
    except ImportError as exc:
        raise DaskNotInstalledError(
            f"{needed_by} needs dask: pip install 'protoflow-core[dask]' "
            "(or: pip install 'dask[array]' distributed)."
        ) from exc
    return da
