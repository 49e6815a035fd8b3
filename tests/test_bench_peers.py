"""The SOM benchmark's peers: each installed peer's adapter returns a (rows * cols, n_features)
codebook that the shared scoring (benchmarks/bench_som.py `score`) measures like an independent
computation; bench_gpu.py without CUDA exits as its docstring says.

The peers (MiniSom, somoclu, xpysom, intrasom, torchsom) are benchmark-only installs, most in
``pip install --target`` folders (benchmarks/README.md): each runs in a subprocess, so their
folders never join this test session's sys.path, and a peer that does not import is skipped
with the reason.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PEERS = ("protoflow", "minisom", "somoclu", "xpysom", "intrasom", "torchsom")


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, **(env or {})})


@functools.cache
def _checked() -> dict[str, Any]:
    """bench_som.py --check-peers, once: every SOM trained on 300 x 5 blobs, 6x6 map."""
    proc = _run("bench_som.py", "--check-peers")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _independent(W: np.ndarray, X: np.ndarray, side: int) -> tuple[float, float]:
    """QE (mean distance to the BMU) and TE (first and second BMU not 4-neighbours), by hand."""
    d = np.sqrt(((X[:, None, :] - W[None, :, :]) ** 2).sum(-1))
    order = np.argsort(d, axis=1)
    first, second = order[:, 0], order[:, 1]
    qe = float(d[np.arange(len(X)), first].mean())
    r1, c1 = np.divmod(first, side)
    r2, c2 = np.divmod(second, side)
    te = float(np.mean(np.abs(r1 - r2) + np.abs(c1 - c2) != 1))
    return qe, te


@pytest.mark.parametrize("peer", PEERS)
def test_peer_codebook_and_shared_scoring(peer: str) -> None:
    out = _checked()
    got = out[peer]
    if "skipped" in got:
        pytest.skip(f"{peer} not importable: {got['skipped']}")
    assert "error" not in got, got.get("error")
    X, side = np.asarray(out["X"]), out["side"]
    W = np.asarray(got["codebook"])
    assert got["shape"] == [side * side, X.shape[1]] == list(W.shape)
    assert np.isfinite(W).all()
    qe, te = _independent(W, X, side)
    assert got["qe"] == pytest.approx(qe, rel=1e-9)
    assert got["te"] == pytest.approx(te, abs=1e-12)
    assert 0.0 <= got["te"] <= 1.0


def test_bench_gpu_without_cuda_exits_as_documented() -> None:
    pytest.importorskip("torch")
    sys.path.insert(0, str(BENCH))
    try:
        import bench_gpu
    finally:
        sys.path.remove(str(BENCH))
    env = {"CUDA_VISIBLE_DEVICES": ""}  # no device, even on a GPU machine
    proc = _run("bench_gpu.py", "--cases", "digits", env=env)
    assert proc.returncode == bench_gpu.EXIT_NO_CUDA == 3
    assert "no CUDA device" in proc.stderr and "--allow-cpu" in proc.stderr
    proc = _run("bench_gpu.py", "--allow-cpu", "--quick", "--cases", "digits", "--repeats", "1", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| digits 500x64 | 20x20 | 2 | protoflow (torch) |" in proc.stdout


def test_the_budget_prediction_never_reads_noise_as_free_work(monkeypatch):
    """`predicted_seconds`: a longer probe that measured no slower (noise) must not predict
    the full run at the probe's cost; a clean pair extrapolates linearly."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_som
    finally:
        sys.path.remove(str(BENCH))
    clock = {"times": []}
    monkeypatch.setattr(bench_som, "measure", lambda fn: (clock["times"].pop(0), 0, 0, None, None, None))
    make = lambda units: None  # noqa: E731  (measure is replaced: nothing runs)
    clock["times"] = [1.0, 3.0]  # 1 s fixed + 2 s per 1,000 units
    assert bench_som.predicted_seconds(make, 10_000, 1_000) == pytest.approx(1.0 + 2e-3 * 9_000)
    clock["times"] = [1.2, 1.1]  # the longer probe came out faster: noise
    assert bench_som.predicted_seconds(make, 10_000_000, 1_000) >= 1.1 / 2_000 * 10_000_000


def test_lattice_variants_are_scored_on_their_own_lattice_and_checked_for_speed():
    """protoflow's hex and toroidal rows: TE counts misses on their own lattice (a toroidal
    map's wrapped neighbours are neighbours), and the targets compare their time with the
    rectangular map's in the same workload."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_som
    finally:
        sys.path.remove(str(BENCH))
    side = 4
    W = np.zeros((side * side, 1))
    W[0, 0], W[side - 1, 0] = 0.0, 1.0  # unit (0, 0) and unit (0, 3): neighbours on a torus only
    W[1:side - 1, 0] = W[side:, 0] = 100.0
    X = np.array([[0.4], [0.6]])  # first and second BMU: units 0 and 3
    assert bench_som.score(W, X, side, side)[1] == 1.0
    assert bench_som.score(W, X, side, side, toroidal=True)[1] == 0.0
    rows = [{"workload": "digits", "n": 10, "dim": 1, "map": "4x4", "library": lib, "seconds": t,
             "qe": 1.0, "te": 0.1, "epoch_over_floor": 1.0, "floor_s": 1.0}
            for lib, t in (("protoflow batch", 1.0), ("protoflow batch, hex lattice", 1.05),
                           ("protoflow batch, toroidal", 1.3))]
    table, _, _ = bench_som.targets(rows)
    assert "| hex lattice: time <= 1.10x the rectangular map's (ratio) | 1.05 | PASS |" in table
    assert "| toroidal: time <= 1.10x the rectangular map's (ratio) | 1.30 | MISS |" in table


def test_the_libraries_runs_alternate_in_rounds(monkeypatch):
    """`bench_workload` measures every library once per round (A, B, A, B, ...), so that a
    stretch of slow forked children falls on all of them; a library whose first run took over
    half the budget runs once, and one whose first run failed reports the error."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_som
    finally:
        sys.path.remove(str(BENCH))
    order: list[str] = []
    seconds = {"pf": [0.3, 0.1, 0.2], "f32": [0.05, 0.04, 0.06], "kmeans": [9.0]}

    def fake_measure(fn, warm=False):
        tag = fn()
        order.append(tag)
        if tag == "bad":
            return 0.0, 0.0, 0.0, None, "RuntimeError: boom", None
        return seconds[tag].pop(0), 1.0, 2.0, np.zeros((4, 2)), None, 0.5

    monkeypatch.setattr(bench_som, "measure", fake_measure)
    monkeypatch.setattr(bench_som, "matmul_floor", lambda *a, **k: 1.0)
    monkeypatch.setattr(bench_som, "score", lambda *a, **k: (1.0, 0.1))
    monkeypatch.setattr(bench_som, "run_protoflow", lambda X, side, epochs, **p:
                        (lambda: "f32") if p.get("dtype") == "float32" else (lambda: "pf"))
    monkeypatch.setattr(bench_som, "run_kmeans", lambda X, K, epochs: (lambda: "kmeans"))
    rows = bench_som.bench_workload("digits", np.zeros((10, 2)), 2, 10, budget=10.0,
                                    libraries=("float32", "kmeans"), repeats=3)
    assert order == ["pf", "f32", "kmeans", "pf", "f32", "pf", "f32"]
    by = {r["library"]: r for r in rows}
    assert by["protoflow batch"]["seconds"] == 0.1 and by["protoflow batch"]["runs"] == 3
    assert by["protoflow batch float32"]["seconds_runs"] == [0.05, 0.04, 0.06]
    assert by["scikit-learn KMeans"]["runs"] == 1  # 9 s > half the 10 s budget: once
    assert by["protoflow batch"]["warm_s"] == 0.5
    # a failing library: its error as the note, no time; the others still measured
    order.clear()
    seconds.update(pf=[0.3, 0.2])
    monkeypatch.setattr(bench_som, "run_kmeans", lambda X, K, epochs: (lambda: "bad"))
    rows = bench_som.bench_workload("digits", np.zeros((10, 2)), 2, 10, budget=10.0,
                                    libraries=("kmeans",), repeats=2)
    assert order == ["pf", "bad", "pf"]
    by = {r["library"]: r for r in rows}
    assert by["scikit-learn KMeans"]["note"] == "RuntimeError: boom" and "seconds" not in by["scikit-learn KMeans"]
    assert by["protoflow batch"]["runs"] == 2


def test_bench_fresh_times_each_fit_in_its_own_process(tmp_path, monkeypatch):
    """bench_fresh.py: one fresh process per measurement (first and warm fit timed there),
    libraries alternating in rounds, a library that fails reported as such (and not retried),
    the table written between its markers."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_fresh
    finally:
        sys.path.remove(str(BENCH))
    # a library whose module does not import: its row says why, the others still run
    monkeypatch.setitem(bench_fresh.RECIPES, "minisom", (("no_such_module_here",), "None"))
    out = tmp_path / "b.md"
    bench_fresh.main(["--workloads", "digits", "--libraries", "minisom", "--repeats", "2",
                      "--out", str(out), "--json", str(tmp_path / "b.json")])
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    ours, bad = rows
    assert ours["library"] == "protoflow" and len(ours["runs"]) == 2
    assert 0 < ours["first"] < 60 and 0 < ours["warm"] < 60
    assert bad["library"] == "minisom" and len(bad["runs"]) == 1
    assert "ModuleNotFoundError" in bad["error"]
    text = out.read_text()
    assert "<!-- fresh:begin -->" in text and "| digits | protoflow |" in text


def test_rendered_runs_keep_their_ratios_within_each_run():
    """`--render` of several runs: a workload measured again by a later run is labelled with
    that run's number, so each row's ratio is to protoflow's in its own run."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_som
    finally:
        sys.path.remove(str(BENCH))

    def row(lib, seconds):
        return {"workload": "scaling map", "n": 100, "dim": 5, "map": "10x10", "library": lib,
                "seconds": seconds, "qe": 1.0, "te": 0.1}

    runs = [{"rows": [row("protoflow batch", 1.0), row("xpysom", 2.0)]},
            {"rows": [row("protoflow batch", 4.0), row("xpysom", 6.0)]}]
    rows = bench_som.with_ratios(bench_som.merge_runs(runs))
    assert [bench_som._label(r) for r in rows] == ["scaling map 100x5, 10x10"] * 2 + [
        "scaling map 100x5, 10x10 (run 2)"] * 2
    assert [r["time_ratio"] for r in rows] == [1.0, 2.0, 1.0, 1.5]
