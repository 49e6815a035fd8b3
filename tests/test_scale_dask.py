"""protoflow.scale on the local threaded scheduler: chunked inputs, map-reduce, chunked outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import protoflow  # noqa: E402
from protoflow.errors import ValidationError  # noqa: E402
from protoflow.scale import (  # noqa: E402
    as_dask_array,
    gmm_chunks,
    invert_chunked,
    is_chunked,
    map_reduce,
    moments,
    run_trajectories,
    store_npy,
)


def test_importing_protoflow_and_its_plugins_does_not_import_dask():
    code = (
        "import sys, protoflow, protoflow.scale, protoflow_som, protoflow_kmeans\n"
        "protoflow.available()\n"
        "assert 'dask' not in sys.modules, sorted(m for m in sys.modules if 'dask' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_is_chunked_recognises_dask_arrays_and_npy_lists_only(tmp_path):
    assert is_chunked(da.zeros((4, 2), chunks=2))
    assert is_chunked([tmp_path / "a.npy", str(tmp_path / "b.npy")])
    for other in (np.zeros((4, 2)), [], ["a.csv"], [[1.0, 2.0]], "a.npy"):
        assert not is_chunked(other)


def test_npy_files_are_read_in_row_ranges_and_concatenated(tmp_path):
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(n, 3)) for n in (5, 12)]
    paths = []
    for i, p in enumerate(parts):
        paths.append(tmp_path / f"x{i}.npy")
        np.save(paths[-1], p)
    X = as_dask_array(paths, chunk_rows=4)
    assert X.chunks == ((4, 1, 4, 4, 4), (3,))
    np.testing.assert_array_equal(X.compute(), np.vstack(parts))


def test_as_dask_array_errors_name_the_problem(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    np.save(tmp_path / "b.npy", np.zeros((3, 4)))
    with pytest.raises(ValidationError, match="same number of columns"):
        as_dask_array([tmp_path / "a.npy", tmp_path / "b.npy"])
    with pytest.raises(ValidationError, match="cannot read"):
        as_dask_array([tmp_path / "missing.npy"])
    with pytest.raises(ValidationError, match="2-D"):
        as_dask_array(da.zeros(5, chunks=2))
    with pytest.raises(ValidationError, match="expected 3"):
        as_dask_array(da.zeros((5, 2), chunks=2), n_features=3)
    with pytest.raises(ValidationError, match=r"dask array or a list of \.npy"):
        as_dask_array(np.zeros((5, 2)))


def test_as_dask_array_keeps_float32_casts_ints_and_joins_column_chunks():
    assert as_dask_array(da.zeros((6, 4), chunks=3, dtype=np.float32)).dtype == np.float32
    X = as_dask_array(da.ones((6, 4), chunks=(3, 2), dtype=np.int32))
    assert X.dtype == np.float64 and X.chunks == ((3, 3), (4,))


class Stats(NamedTuple):
    total: np.ndarray
    count: float


def _stats(block: np.ndarray, scale: np.ndarray) -> Stats:
    return Stats(block.sum(axis=0) * scale, float(len(block)))


def test_map_reduce_adds_named_tuples_over_many_chunks_in_a_tree():
    x = np.random.default_rng(1).normal(size=(1000, 3))
    scale = np.array([1.0, 2.0, 3.0])
    # 100 chunks: three levels of the tree with split_every=8
    out = map_reduce(da.from_array(x, chunks=(10, 3)), _stats, scale)
    np.testing.assert_allclose(out.total, x.sum(axis=0) * scale, rtol=1e-12)
    assert out.count == 1000


def test_map_reduce_finds_nan_in_any_chunk():
    x = np.zeros((30, 2))
    x[25, 1] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        map_reduce(da.from_array(x, chunks=(10, 2)), _stats, np.ones(2))


def test_streamed_moments_equal_numpy_even_far_from_the_origin():
    x = np.random.default_rng(2).normal(size=(5000, 4)) * [1, 2, 3, 4] + 1e6
    m = moments(da.from_array(x, chunks=(333, 4)))
    np.testing.assert_allclose(m.mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(m.covariance, np.cov(x.T), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(m.variance, x.var(axis=0), rtol=1e-9)


def test_gmm_chunks_depend_only_on_seed_and_chunking():
    a = gmm_chunks(1000, 4, chunk_rows=300, seed=5)
    np.testing.assert_array_equal(a.compute(), gmm_chunks(1000, 4, chunk_rows=300, seed=5).compute())
    # chunk 2 alone (computed out of order) equals its rows in the whole
    np.testing.assert_array_equal(a.blocks[2].compute(), a.compute()[600:900])
    assert not np.array_equal(a.compute(), gmm_chunks(1000, 4, chunk_rows=300, seed=6).compute())
    assert gmm_chunks(10, 3, dtype="float32").dtype == np.float32


@pytest.fixture(scope="module")
def fitted():
    Z = np.random.default_rng(3).normal(size=(600, 4))
    som = protoflow.create_model("som", rows=5, cols=4, epochs=4, seed=0).fit(Z)
    return som, Z


def test_invert_chunked_writes_npy_equal_to_the_in_memory_inversion(fitted, tmp_path):
    som, Z = fitted
    A = som.activations(Z)
    expected = protoflow.Inverter(som.prototypes_).invert(A)
    lazy = invert_chunked(som.prototypes_, da.from_array(A, chunks=(128, -1)))
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-12, atol=1e-12)
    out = invert_chunked(som.inverter(), da.from_array(A, chunks=(100, -1)), out=tmp_path / "z.npy")
    assert isinstance(out, np.memmap) and not out.flags.writeable
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.npy"]  # no partial file left
    sub = invert_chunked(som.prototypes_, da.from_array(A[:50], chunks=(20, -1)), n_nearest=8)
    np.testing.assert_allclose(sub.compute(), som.inverter().invert(A[:50], n_nearest=8), atol=1e-12)


def test_invert_chunked_checks_the_width(fitted):
    som, Z = fitted
    with pytest.raises(ValidationError, match="activations has 4 features, expected 20"):
        invert_chunked(som.prototypes_, da.from_array(Z, chunks=(100, -1)))


def test_store_npy_writes_chunk_by_chunk(tmp_path):
    x = da.arange(60, chunks=7).reshape(20, 3).astype(np.float32)
    out = store_npy(x, tmp_path / "sub" / "x.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "sub" / "x.npy"), x.compute())
    assert out.dtype == np.float32


def test_music_trajectories_over_chunks_equal_one_in_memory_batch(fitted, tmp_path):
    som, Z = fitted
    music = protoflow.create_controller("music", seed=0)
    Z0 = Z[:90]
    ref = music.run(som, Z0, 7, 6)
    files = run_trajectories(music, som, da.from_array(Z0, chunks=(40, -1)), 7, 6, out=tmp_path)
    assert files.points.shape == (90, 7, 4) and files.bmus.shape == (90, 7)
    np.testing.assert_allclose(files.points, ref.points, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(files.bmus, ref.bmus)
    meta = json.loads((tmp_path / "trajectories.json").read_text())
    assert meta == {"controller": "music", "target": 7, "steps": 6, "n_paths": 90,
                    "chunks": [40, 40, 10]}


def test_seeded_random_trajectories_are_reproducible_per_chunking(fitted, tmp_path):
    som, Z = fitted
    music = protoflow.create_controller("music", mode="free", seed=4)
    Z0 = da.from_array(Z[:30], chunks=(10, -1))
    a = run_trajectories(music, som, Z0, None, 3, out=tmp_path / "a")
    b = run_trajectories(music, som, Z0, None, 3, out=tmp_path / "b")
    np.testing.assert_array_equal(a.points, b.points)
    # each chunk has its own stream: the chunks do not repeat one another's steps
    steps = np.diff(np.asarray(a.points), axis=1)
    assert not np.allclose(steps[:10], steps[10:20])


def test_run_trajectories_validates_before_writing(fitted, tmp_path):
    som, _ = fitted
    music = protoflow.create_controller("music")
    with pytest.raises(ValidationError, match="Z0 has 3 features"):
        run_trajectories(music, som, da.zeros((5, 3), chunks=5), 0, 2, out=tmp_path / "t")
    with pytest.raises(protoflow.ConfigError, match="steps"):
        run_trajectories(music, som, da.zeros((5, 4), chunks=5), 0, -1, out=tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_the_scale_guide_example_runs_as_printed(capsys):
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "scale.md").read_text()
    block = re.search(r"## Example\s+```python\n(.*?)```", guide, re.S)
    assert block, "docs/scale.md lost its example"
    exec(compile(block.group(1), "docs/scale.md", "exec"), {})
    assert capsys.readouterr().out.split("\n")[:2] == ["True", "(1000, 21, 10) True"]


def test_missing_dask_is_a_clear_import_error(monkeypatch):
    from protoflow.scale import DaskNotInstalledError

    monkeypatch.setitem(sys.modules, "dask.array", None)  # makes `import dask.array` fail
    with pytest.raises(DaskNotInstalledError, match=r"pip install 'protoflow-core\[dask\]'") as info:
        protoflow.create_model("som", rows=2, cols=2).fit([Path("x.npy")])
    assert isinstance(info.value, ImportError) and isinstance(info.value, protoflow.ProtoflowError)
