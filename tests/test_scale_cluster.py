"""Chunked training and outputs on a real dask.distributed LocalCluster (2 worker processes).

One cluster for the module (starting worker processes takes seconds). Workers have a small
memory limit, and the SOM trains on a chunked array larger than that limit.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import protoflow  # noqa: E402
from protoflow.scale import gmm_chunks, invert_chunked, run_trajectories  # noqa: E402

MEMORY_LIMIT = 200 * 2**20  # bytes per worker; an idle worker process takes about 110 MB

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit=MEMORY_LIMIT,
        host="127.0.0.1", dashboard_address=None, silence_logs=50,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _local(X):
    """The whole array in this process, computed without the cluster (the in-memory reference)."""
    return X.compute(scheduler="threads")


def test_som_on_the_cluster_trains_on_more_data_than_a_worker_holds(client):
    X = gmm_chunks(700_000, 40, chunk_rows=25_000, seed=0)  # 224 MB in 28 chunks of 8 MB
    assert X.nbytes > MEMORY_LIMIT
    # a given init saves a pass over the data (the chunked inits have their own tests)
    W0 = np.random.default_rng(0).normal(size=(20, 40))
    som = protoflow.create_model("som", rows=4, cols=5, epochs=2, init=W0).fit(X)
    ref = protoflow.create_model("som", rows=4, cols=5, epochs=2, init=W0).fit(_local(X))
    np.testing.assert_allclose(som.prototypes_, ref.prototypes_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        som.quantization_error_history_, ref.quantization_error_history_, rtol=1e-9
    )
    # both workers took part, and neither came near its limit
    rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
    assert len(rss) == 2 and max(rss.values()) < MEMORY_LIMIT


def _kill_a_worker_mid_epoch(client, report):
    """Wait until map tasks of an epoch run, then SIGKILL the process of a worker running one."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for addr, keys in client.processing().items():
            if any(str(k).startswith("_checked_call") for k in keys):
                time.sleep(0.05)  # let it get going
                os.kill(pids[addr], signal.SIGKILL)
                report["killed"] = pids[addr]
                return
        time.sleep(0.01)


def test_killing_a_worker_during_an_epoch_gives_the_same_answer(client):
    X = gmm_chunks(300_000, 10, chunk_rows=10_000, seed=1)
    ref = protoflow.create_model("som", rows=6, cols=6, epochs=3, init="random", seed=2).fit(_local(X))
    report: dict[str, int] = {}
    killer = threading.Thread(target=_kill_a_worker_mid_epoch, args=(client, report))
    killer.start()
    som = protoflow.create_model("som", rows=6, cols=6, epochs=3, init="random", seed=2).fit(X)
    killer.join()
    assert "killed" in report, "no epoch task was seen running: the worker was not killed"
    np.testing.assert_allclose(som.prototypes_, ref.prototypes_, rtol=1e-9, atol=1e-9)
    # the nanny restarted the killed worker: a new process took its place
    client.wait_for_workers(2, timeout=30)
    assert report["killed"] not in client.run(os.getpid).values()


def test_kmeans_on_the_cluster_equals_the_threaded_run(client):
    X = gmm_chunks(40_000, 8, chunk_rows=10_000, seed=3)
    a = protoflow.create_model("kmeans", n_units=10, max_iter=20, seed=0).fit(X)
    with protoflow_scheduler("threads"):
        b = protoflow.create_model("kmeans", n_units=10, max_iter=20, seed=0).fit(X)
    np.testing.assert_allclose(a.prototypes_, b.prototypes_, rtol=1e-10, atol=1e-12)
    assert a.n_iter_ == b.n_iter_ and a.inertia_ == pytest.approx(b.inertia_, rel=1e-10)


def protoflow_scheduler(name):
    import dask

    return dask.config.set(scheduler=name)


def test_inversion_and_trajectories_on_the_cluster_write_the_in_memory_result(client, tmp_path):
    Z = gmm_chunks(4_000, 5, chunk_rows=1_000, seed=4)
    Zn = _local(Z)
    som = protoflow.create_model("som", rows=5, cols=5, epochs=5, seed=0).fit(Zn)
    A = Z.map_blocks(som.activations, chunks=(Z.chunks[0], (25,)), dtype=np.float64, meta=np.empty((0, 0)))
    out = invert_chunked(som.prototypes_, A, out=tmp_path / "z.npy")
    np.testing.assert_allclose(out, Zn, rtol=1e-8, atol=1e-8)
    music = protoflow.create_controller("music")
    files = run_trajectories(music, som, Z[:600].rechunk(250), 12, 4, out=tmp_path / "t")
    ref = music.run(som, Zn[:600], 12, 4)
    np.testing.assert_allclose(files.points, ref.points, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(files.bmus, ref.bmus)
