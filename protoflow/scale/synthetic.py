"""Data generated chunk by chunk from a seed, for out-of-core tests and benchmarks."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow.data.synthetic import triangle_means
from protoflow.scale.arrays import default_chunk_rows, require_dask
from protoflow.validation import check_choice, check_float, check_int


def _gmm_block(
    *, means: np.ndarray, scale: np.ndarray, seed: int, dtype_name: str, block_info: Any = None
) -> np.ndarray:
    (start, stop), _ = block_info[None]["array-location"]
    index = block_info[None]["chunk-location"][0]
    rng = np.random.default_rng([seed, index])  # one stream per chunk: any order, any worker
    y = rng.integers(0, len(means), size=stop - start)
    return (means[y] + rng.standard_normal((stop - start, len(scale))) * scale).astype(dtype_name)


def gmm_chunks(
    n_samples: int,
    n_features: int = 10,
    *,
    chunk_rows: int | None = None,
    separation: float = 3.0,
    spread: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
    dtype: str = "float64",
) -> Any:
    """The MUSIC paper's 3-component Gaussian mixture (as `protoflow.data.load_gmm`) as a lazy
    dask array of shape (n_samples, n_features), generated chunk by chunk.

    Chunk i draws from ``default_rng([seed, i])``, so the values depend only on the seed and
    `chunk_rows` (about 64 MB per chunk by default), not on the scheduler or the order in which
    chunks are computed. Never materialised: each use regenerates the chunks it reads.
    """
    da = require_dask()
    n = check_int("n_samples", n_samples, minimum=1)
    d = check_int("n_features", n_features, minimum=2)
    sep = check_float("separation", separation, minimum=0.0)
    spread = check_float("spread", spread, minimum=0.0, strict_min=True)
    noise = check_float("noise", noise, minimum=0.0)
    dtype = check_choice("dtype", dtype, ("float64", "float32"))
    seed = check_int("seed", seed, minimum=0)
    rows = check_int("chunk_rows", chunk_rows, minimum=1) if chunk_rows else default_chunk_rows(d)
    scale = np.full(d, noise)
    scale[:2] = spread
    return da.map_blocks(
        _gmm_block,
        chunks=(da.core.normalize_chunks(rows, (n,))[0], (d,)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
        means=triangle_means(d, sep),
        scale=scale,
        seed=seed,
        dtype_name=dtype,
    )
