"""Chunked outputs: batch inversion and batch controller trajectories written chunk by chunk.

Results go into ``.npy`` files that are allocated first and then filled, each task writing the
rows of its chunk through a memory map, so neither the client nor a worker ever holds more than
one chunk. Files are written under a temporary name and renamed when complete. The output folder
must be visible to every worker (always true for a ``LocalCluster``; on several machines use a
shared filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from protoflow.backend import require_dask
from protoflow.inversion import Inverter
from protoflow.io import atomic_write_text
from protoflow.scale.arrays import as_dask_array
from protoflow.validation import check_int, check_is_fitted, check_seed


class NpyRows:
    """A ``da.store`` target: ``target[rows, ...] = block`` writes into an existing .npy file.

    Small and picklable (a path), so it travels to workers; each write opens the file's memory
    map, writes the block and flushes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def __setitem__(self, index: Any, value: np.ndarray) -> None:
        mm = np.lib.format.open_memmap(self.path, mode="r+")
        mm[index] = value
        mm.flush()
        del mm


def _allocate(path: Path, shape: tuple[int, ...], dtype: Any) -> Path:
    """Create the .npy file (header + zero-filled sparse data) under a temporary name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
    del mm
    return tmp


def _publish(tmp: Path, path: Path) -> np.memmap:
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


def store_npy(x: Any, path: str | os.PathLike[str]) -> np.memmap:
    """Compute dask array `x` chunk by chunk into the .npy file `path`; returns it memory-mapped
    read-only. Nothing larger than one chunk is held anywhere."""
    da = require_dask()
    path = Path(path)
    tmp = _allocate(path, tuple(int(s) for s in x.shape), x.dtype)
    try:
        da.store(x, NpyRows(tmp), lock=False)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return _publish(tmp, path)


def _invert_block(block: np.ndarray, inverter: Inverter, n_nearest: int | None) -> np.ndarray:
    return inverter.invert(block, n_nearest=n_nearest)


def invert_chunked(
    W: Any,
    A: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    n_nearest: int | None = None,
    **inverter_kwargs: Any,
) -> Any:
    """Batch inversion over chunked activations: ``Inverter(W).invert`` applied to each chunk.

    Parameters
    ----------
    W : prototypes (n_units, n_features), or an `Inverter` (then no keyword arguments).
    A : chunked activations (n_samples, n_units) (see `as_dask_array`).
    out : a .npy path: the result is written there chunk by chunk and returned memory-mapped.
        None: returns the lazy dask array (n_samples, n_features).
    n_nearest, inverter_kwargs : as `Inverter` and `Inverter.invert`.
    """
    require_dask()
    import dask

    inv = W if isinstance(W, Inverter) else Inverter(W, **inverter_kwargs)
    A = as_dask_array(A, name="activations", n_features=inv.n_units)
    Z = A.map_blocks(
        _invert_block,
        dask.delayed(inv, pure=True),
        n_nearest,
        chunks=(A.chunks[0], (inv.n_features,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),  # do not call the inverter on a dummy block to guess it
    )
    return Z if out is None else store_npy(Z, out)


class TrajectoryFiles(NamedTuple):
    """Trajectories written by `run_trajectories`, memory-mapped read-only.

    Attributes
    ----------
    points : (n_paths, steps + 1, n_features) float64; ``points[:, 0]`` are the starting points
    bmus : (n_paths, steps + 1) int64
    directory : the folder holding points.npy, bmus.npy and trajectories.json
    """

    points: np.memmap
    bmus: np.memmap
    directory: Path


def _block_controllers(controller: Any, n_blocks: int) -> list[Any]:
    """One controller per chunk. A seeded controller gets per-chunk seeds drawn from its seed
    (reproducible for the same chunking); an unseeded or seedless one is shared."""
    params = controller.get_params() if hasattr(controller, "get_params") else {}
    if params.get("seed") is None:
        return [controller] * n_blocks
    seeds = check_seed(params["seed"]).integers(0, 2**63 - 1, size=n_blocks)
    return [type(controller)(**{**params, "seed": int(s)}) for s in seeds]


def _run_block(
    controller: Any, model: Any, z0: np.ndarray, target: Any, steps: int,
    start: int, points_path: str, bmus_path: str,
) -> int:
    traj = controller.run(model, z0, target, steps)
    NpyRows(points_path)[start : start + len(z0)] = traj.points
    NpyRows(bmus_path)[start : start + len(z0)] = traj.bmus
    return len(z0)


def run_trajectories(
    controller: Any,
    model: Any,
    Z0: Any,
    target: Any,
    steps: int,
    *,
    out: str | os.PathLike[str],
) -> TrajectoryFiles:
    """``controller.run(model, Z0, target, steps)`` for a chunked batch of starting points.

    Parameters
    ----------
    controller : e.g. ``protoflow.create_controller("music", ...)``; it and `model` are sent to
        the workers (they must pickle; protoflow's do).
    model : fitted model (``prototypes_`` (n_units, n_features), ``topology_``).
    Z0 : chunked starting points (n_paths, n_features) (see `as_dask_array`).
    target, steps : as ``Controller.run``.
    out : folder for points.npy (n_paths, steps + 1, n_features), bmus.npy (n_paths, steps + 1)
        and trajectories.json (controller, target, steps, n_paths, chunks).

    Each chunk runs as one batch, exactly as in memory. A controller whose steps are random
    (free mode, noise, sub-sampling) and that has a seed draws one seed per chunk from it:
    reproducible for the same chunks, but not equal to one in-memory batch. Per-step ``info``
    dicts are not kept. Returns `TrajectoryFiles`.
    """
    require_dask()
    import dask

    check_is_fitted(model, ["prototypes_"])
    steps = check_int("steps", steps, minimum=0)
    n_features = int(np.shape(model.prototypes_)[1])
    Z0 = as_dask_array(Z0, name="Z0", n_features=n_features)
    n = int(Z0.shape[0])
    folder = Path(out)
    points_tmp = _allocate(folder / "points.npy", (n, steps + 1, n_features), np.float64)
    bmus_tmp = _allocate(folder / "bmus.npy", (n, steps + 1), np.int64)
    blocks = Z0.to_delayed().ravel()
    starts = np.concatenate([[0], np.cumsum(Z0.chunks[0])[:-1]])
    model_d = dask.delayed(model, pure=True)
    tasks = [
        dask.delayed(_run_block, pure=True)(
            c, model_d, b, target, steps, int(s), str(points_tmp), str(bmus_tmp)
        )
        for c, b, s in zip(_block_controllers(controller, len(blocks)), blocks, starts)
    ]
    try:
        dask.compute(*tasks)
    except BaseException:
        for tmp in (points_tmp, bmus_tmp):
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    meta = {
        "controller": getattr(controller, "name", type(controller).__name__),
        "target": None if target is None else np.asarray(target).tolist(),
        "steps": steps,
        "n_paths": n,
        "chunks": list(map(int, Z0.chunks[0])),
    }
    atomic_write_text(folder / "trajectories.json", json.dumps(meta, indent=2))
    return TrajectoryFiles(
        _publish(points_tmp, folder / "points.npy"), _publish(bmus_tmp, folder / "bmus.npy"), folder
    )
