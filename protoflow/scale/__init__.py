"""Out-of-core and distributed work with Dask: chunked inputs, map-reduce epochs, chunked outputs.

Nothing here imports dask at module level (``import protoflow`` never does); the functions that
need it import it when called, and raise `DaskNotInstalledError` (an ImportError) naming the
``dask`` extra when it is missing. Everything runs on the active Dask scheduler: local threads
by default, a ``dask.distributed`` cluster when a ``Client`` exists.

- `is_chunked` / `as_dask_array`: what counts as chunked input (a ``dask.array``, or a list of
  ``.npy`` files read by row ranges) and its conversion to a row-chunked dask array.
- `map_reduce`: apply a function to every row chunk and add the results in a tree; the shape of a
  batch SOM or Lloyd epoch. `moments` streams the mean and scatter matrix (for PCA init).
- `invert_chunked`, `run_trajectories`, `store_npy`: batch inversion and batch controller
  trajectories chunk by chunk, written into ``.npy`` files so nothing needs to fit in memory.
- `gmm_chunks`: the MUSIC paper's Gaussian mixture generated block by block from a seed.

See ``docs/scale.md``.
"""

from __future__ import annotations

from protoflow.backend import require_dask
from protoflow.errors import DaskNotInstalledError
from protoflow.scale.arrays import as_dask_array, is_chunked
from protoflow.scale.outputs import TrajectoryFiles, invert_chunked, run_trajectories, store_npy
from protoflow.scale.reduce import Moments, map_reduce, moments, tree_add
from protoflow.scale.synthetic import gmm_chunks

__all__ = [
    "DaskNotInstalledError",
    "Moments",
    "TrajectoryFiles",
    "as_dask_array",
    "gmm_chunks",
    "invert_chunked",
    "is_chunked",
    "map_reduce",
    "moments",
    "require_dask",
    "run_trajectories",
    "store_npy",
    "tree_add",
]
