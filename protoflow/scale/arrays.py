"""What counts as chunked input, and its conversion to a row-chunked ``dask.array``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.backend import require_dask
from protoflow.errors import ValidationError

#: default size of one row chunk read from .npy files (and of generated chunks), in bytes
DEFAULT_CHUNK_BYTES = 64 << 20


def _is_npy_list(X: Any) -> bool:
    return (
        isinstance(X, list | tuple)
        and len(X) > 0
        and all(isinstance(p, str | os.PathLike) and str(p).endswith(".npy") for p in X)
    )


def is_chunked(X: Any) -> bool:
    """True for a ``dask.array.Array`` or a non-empty list of ``.npy`` paths.

    Decided from the type's module name, so it never imports dask. (A Zarr array enters as
    ``dask.array.from_zarr(z)``.)
    """
    cls = type(X)
    if cls.__name__ == "Array" and cls.__module__.startswith("dask.array"):
        return True
    return _is_npy_list(X)


def default_chunk_rows(n_features: int, itemsize: int = 8) -> int:
    """Rows per chunk so that one chunk takes about `DEFAULT_CHUNK_BYTES` (at least 1,024)."""
    return max(1024, DEFAULT_CHUNK_BYTES // max(1, n_features * itemsize))


def _load_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of a .npy file, read through a memory map (only those rows)."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def _npy_header(path: Path, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy file; only its header is read (memory map)."""
    try:
        mm = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{name}: cannot read the .npy file {str(path)!r}: {exc}") from exc
    shape, dtype = mm.shape, mm.dtype
    if mm.ndim > 1 and not mm.flags.c_contiguous:
        raise ValidationError(
            f"{name}: {str(path)!r} is stored in Fortran order; rows cannot be read one range at a "
            "time. Save it with np.save(path, np.ascontiguousarray(X))."
        )
    return shape, dtype


def _from_npy_files(paths: list[Any], chunk_rows: int | None, name: str) -> Any:
    import dask

    da = require_dask()
    blocks = []
    width = None
    for p in paths:
        shape, dtype = _npy_header(Path(p), name)
        if len(shape) != 2 or (width is not None and shape[1] != width):
            raise ValidationError(
                f"{name}: every .npy file must hold a 2-D array with the same number of columns; "
                f"{str(p)!r} has shape {shape}" + (f", expected (n, {width})." if width else ".")
            )
        width = shape[1]
        rows = chunk_rows or default_chunk_rows(width, dtype.itemsize)
        for start in range(0, shape[0], rows):
            stop = min(start + rows, shape[0])
            block = dask.delayed(_load_rows, pure=True)(str(p), start, stop)
            blocks.append(da.from_delayed(block, shape=(stop - start, width), dtype=dtype))
    if not blocks:
        raise ValidationError(f"{name}: the .npy files hold no rows.")
    return da.concatenate(blocks, axis=0)


def as_dask_array(
    X: Any,
    *,
    name: str = "X",
    n_features: int | None = None,
    chunk_rows: int | None = None,
) -> Any:
    """X as a 2-D floating dask array chunked along rows only (one chunk spans all columns).

    Parameters
    ----------
    X : dask array, or list of ``.npy`` paths (each (n_i, n_features), read by row ranges
        through memory maps). Integer input is cast to float64, float32 kept.
    n_features : expected number of columns, when known.
    chunk_rows : rows per chunk; None keeps a dask array's chunks and reads .npy files in
        chunks of about 64 MB.

    Returns a lazy ``dask.array.Array`` of shape (n_samples, n_features). Values are not read;
    NaN/inf are found when a chunk is used (`map_reduce` checks every chunk).
    """
    da = require_dask()
    from_files = _is_npy_list(X)
    if from_files:
        X = _from_npy_files(list(X), chunk_rows, name)
    elif not isinstance(X, da.Array):
        raise ValidationError(
            f"{name} must be a dask array or a list of .npy paths for chunked work (a Zarr "
            f"array: dask.array.from_zarr(z)), got {type(X).__name__}."
        )
    if X.ndim != 2:
        raise ValidationError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if any(np.isnan(s) for s in X.shape):
        raise ValidationError(
            f"{name} has unknown chunk sizes {X.shape}; call {name}.compute_chunk_sizes() first."
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValidationError(f"{name} is empty: shape {X.shape}.")
    if n_features is not None and X.shape[1] != n_features:
        raise ValidationError(
            f"{name} has {X.shape[1]} features, expected {n_features} (the width the model "
            "was fitted on)."
        )
    if X.dtype.kind not in "fiub":
        raise ValidationError(f"{name} must hold numbers, got dtype {X.dtype}.")
    if X.dtype != np.float32:
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1 or (chunk_rows is not None and not from_files):
        X = X.rechunk((chunk_rows or X.chunks[0], -1))
    return X
