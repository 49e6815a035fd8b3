"""protoflow's SOM against MiniSom, somoclu, xpysom, intrasom, torchsom and scikit-learn's
KMeans, side by side in one run.

    .venv/bin/python benchmarks/bench_som.py [--workloads digits gmm blobs clustered mnist]
        [--scaling] [--scaling-n 1000 ...] [--scaling-sides 10 ...] [--memory] [--epochs 10]
        [--repeats 3] [--budget 60] [--libraries minisom somoclu xpysom intrasom torchsom ...]
        [--peer-dirs DIR ...] [--out docs/benchmarks.md] [--json PATH]
        [--figure docs/img/bench_som_peers_scaling.png] [--render PATH ...] [--check-peers]

Every library trains on the same data with comparable settings: 10 epochs, the same rectangular
planar map, a Gaussian neighbourhood. protoflow's kernel is ``exp(-d^2 / T^2)`` with
T = side/2 -> max(0.5, side/20), exponential in the epoch (its `SOM` defaults, batch rule, PCA
initialisation). A library whose Gaussian is written ``exp(-d^2 / (2 sigma^2))`` gets
sigma = T / sqrt(2), so that its first (and, where it takes one, its last) kernel is exactly
protoflow's; each decays the way that library allows:

- MiniSom 2.3.6: `train_batch` runs 10 * n_samples iterations (one sample each, in order: an
  online rule), sigma = side / 6, learning rate 0.5, its default asymptotic decay, PCA init.
- somoclu 1.7.6: planar, rectangular, its defaults otherwise (batch rule, radius
  min(side)/2 -> 1, Gaussian), PCA init.
- xpysom 1.0.7 (batch SOM on NumPy, CuPy when asked; here ``xp=numpy``): sigma = T_max with
  ``std_coeff = 1/sqrt(2)`` (its kernel is ``exp(-d^2 / (2 std_coeff^2 sigma^2))``, so this is
  protoflow's kernel), sigmaN = T_min, ``decay_function="exponential"`` (protoflow's schedule),
  Gaussian, rectangular, ``random_weights_init`` (data samples, seed 0): its
  ``pca_weights_init`` spans [-1, 1] x the eigenvectors around the origin, without the data's
  mean or scale (its docstring asks for normalised data), so on raw data it starts far away.
  The batch rule's learning rate cancels (numerator and denominator); ``n_parallel`` default.
- intrasom 1.1.3 (batch SOM): ``lattice="rect"``, ``mapshape="planar"``, no normalisation,
  ``initialization="pca"``, Gaussian, ``faster=True`` (its exact-BMU profile for complete
  data), default ``n_job``. Training is always a rough and a fine-tuning phase, each with a
  linear radius ramp: 5 + 5 epochs with radius T_max/sqrt2 -> sqrt(T_max T_min)/sqrt2 ->
  T_min/sqrt2 (two linear pieces through the geometric midpoint of protoflow's schedule).
- torchsom 1.3.1 (PyTorch, CPU here): its mini-batch rule ``w += lr/B sum h (x - w)`` with
  B = 256 (an under-relaxed batch step per mini-batch: 1 epoch = n/256 updates; full batch
  would be one update per epoch, too few for 10 epochs; benchmarks/bench_gpu.py runs torchsom's
  own full-batch setup), learning rate 0.95 with ``asymptotic_decay`` (its published benchmark
  setting), sigma = T_max/sqrt2 with ``sig_inverse_decay_to_one`` (it offers no other end
  point), Gaussian, rectangular, PCA init, float32, ``search_backend="torch"``, seed 0. Its
  `fit` also computes QE and TE of every mini-batch (it always does); that is in its time.
- scikit-learn KMeans: k = map size, max_iter = 10, n_init = 1, k-means++.

Every codebook is scored by the same code, `score` (protoflow's `quantization_error` and
`topographic_error` through ``PrototypeSet(W, Lattice(rows, cols))``: QE = mean distance to the
BMU, TE = fraction of samples whose two nearest prototypes are not 4-neighbours; k-means has no
map, so no TE). Each library runs in a forked child so its time and memory are its own (numpy's
BLAS threads, which a fork does not carry over, are restarted before the clock: a fresh
process has them from import); the
time is the best of `--repeats` runs (fewer when one run takes over half the budget: the row
says how many), the QE / TE those of the first run (every recipe is seeded). The runs go in
rounds, every library once per round, so that this VM's state at a fork (some forked
children run everything about 2x slower) falls on all libraries alike. "peak extra MiB"
is the rise of VmHWM over the child's starting RSS (the data are already there), "peak RSS
MiB" the child's VmHWM including the data. "epoch/floor" is the time of one epoch (fit time /
epochs, init included) over the time of one bare (n_samples x n_units) float64 product X @ W.T
on the same data, computed in row blocks into a reused buffer (the least work any exact epoch
must do); float32 rows are divided by the same float64 floor. "warm (s)" is the best time
of a second fit in the same child, right after the timed one (what a notebook or a parameter
sweep pays; the first fit also pays for first-touch memory, and, in a forked child, for
copying the parent's pages it writes to and faulting in again the library code it runs;
`bench_fresh.py` times the same recipes in fresh processes instead); main workloads only. "time / pf", "warm / pf",
"QE / pf" and "TE / pf" are ratios to "protoflow batch" in the same workload of the same run, and the peers
table says whether protoflow is on the QE/TE Pareto front of all the SOM peers (no peer at
least as good on both and better on one).

Competitors are skipped where short timed runs predict more than `--budget` seconds (MiniSom:
always probed; somoclu, xpysom, intrasom, torchsom: probed when n_samples x n_units > 5e6, on
at most 20,000 rows, extrapolated linearly in n), and the table says so. Peers that do not
import are skipped with a printed note. xpysom, intrasom and torchsom are installed with
``pip install --no-deps --target /tmp/<name>_pkgs`` (benchmarks/README.md) and found in
`--peer-dirs`, appended to sys.path so they never shadow this environment's packages. somoclu
is GPL-3: it is only imported here, never by protoflow. Writes the "## SOM" section of `--out`
between ``<!-- som:begin -->`` and ``<!-- som:end -->`` (other sections are left alone) and,
with --scaling, the figure `--figure` (fit time and time / protoflow against n_samples and map
size). ``--check-peers`` trains every peer on a tiny problem in-process and prints JSON
(codebook, shape, QE, TE or the reason it was skipped), for tests/test_bench_peers.py.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.io import atomic_write_text
from protoflow.metrics.map_quality import quantization_error, topographic_error
from protoflow.prototypes import PrototypeSet
from protoflow.topology import Lattice

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gng import gaussian_mixture  # the same mixture as the GNG benchmark

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
#: a child that has not answered by then is killed and its row says so
CHILD_TIMEOUT_S = 900
#: where ``pip install --no-deps --target`` put each peer (benchmarks/README.md)
PEER_DIRS = ("/tmp/xpysom_pkgs", "/tmp/isom_pkgs", "/tmp/torchsom_pkgs")
#: above this n_samples x n_units a peer's time is predicted (and checked against the budget)
PROBE_ABOVE = 5 * 10**6
#: the most rows a prediction probe trains on
PROBE_ROWS = 20_000
#: torchsom's mini-batch on CPU
TORCHSOM_BATCH = 256


# -- workloads ----------------------------------------------------------------------------------


def standardise(X: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit variance (constant columns only centred)."""
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def clustered(n: int, dim: int = 50, seed: int = 0) -> np.ndarray:
    """scikit-learn's make_blobs: n x dim around 20 centres."""
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n, n_features=dim, centers=20, random_state=seed)[0]


def load_workload(name: str) -> tuple[np.ndarray, int]:
    """(X, map side) of a named workload: digits (standardised, 20x20), gmm (25,000 x 10, 20x20),
    clustered (make_blobs 60,000 x 50, 30x30), blobs (make_blobs 100,000 x 50, 30x30), mnist
    (PCA 50 of the 60,000 training images, 30x30)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        return standardise(load_digits().data), 20
    if name == "gmm":
        return gaussian_mixture(25_000, 10), 20
    if name == "clustered":
        return clustered(60_000), 30
    if name == "blobs":
        return clustered(100_000), 30
    if name == "mnist":
        from sklearn.decomposition import PCA

        from protoflow.data import load_mnist

        X = load_mnist(path=MNIST, split="train").X
        return PCA(50, random_state=0).fit_transform(X), 30
    raise SystemExit(f"unknown workload {name!r}")


# -- measurement --------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(fn: Callable[[], np.ndarray], queue: Any, warm: bool = False) -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    start_rss = _status_kib("VmRSS")
    # a fork leaves numpy's BLAS threads behind and the first product large enough to use them
    # restarts them (3-30 ms here); a fresh process starts them at import, so start them
    # before the clock
    warm_up = np.ones((512, 512))
    warm_up @ warm_up
    t0 = time.perf_counter()
    try:
        W = fn()
        seconds = time.perf_counter() - t0
        peak = _status_kib("VmHWM")
        again = None
        if warm:  # a second fit in the same process: what a notebook or a sweep pays
            t1 = time.perf_counter()
            fn()
            again = time.perf_counter() - t1
        queue.put((seconds, (peak - start_rss) / 1024, peak / 1024, W, None, again))
    except Exception as exc:  # report and move on: one library failing must not end the run
        queue.put((0.0, 0.0, 0.0, None, f"{type(exc).__name__}: {exc}", None))


def measure(fn: Callable[[], np.ndarray], warm: bool = False
            ) -> tuple[float, float, float, np.ndarray | None, str | None, float | None]:
    """(seconds, peak extra MiB, peak RSS MiB, codebook (n_units, n_features), error, warm
    seconds) of fn, run in a forked child; with `warm` the child then runs fn a second time
    and times that too (else warm seconds is None)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue, warm))
    proc.start()
    try:
        out = queue.get(timeout=CHILD_TIMEOUT_S)
    except Exception:  # queue.Empty: a hung child (e.g. an OpenMP pool after fork) ends the row
        proc.kill()
        out = (0.0, 0.0, 0.0, None, f"no result within {CHILD_TIMEOUT_S} s", None)
    proc.join()
    return out


def matmul_floor(X: np.ndarray, n_units: int, dtype: Any = np.float64, repeats: int = 3) -> float:
    """Seconds for one X @ W.T with W (n_units, n_features), in 8192-row blocks, best of
    `repeats` (X : (n_samples, n_features))."""
    W = np.random.default_rng(0).normal(size=(n_units, X.shape[1])).astype(dtype)
    Xd = X.astype(dtype, copy=False)
    rows = 8192
    buf = np.empty((rows, n_units), dtype=dtype)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in range(0, len(Xd), rows):
            block = Xd[s : s + rows]
            np.matmul(block, W.T, out=buf[: len(block)])
        best = min(best, time.perf_counter() - t0)
    return best


# -- libraries ----------------------------------------------------------------------------------


def run_protoflow(X: np.ndarray, side: int, epochs: int, **params: Any) -> Callable[[], np.ndarray]:
    def fn() -> np.ndarray:
        from protoflow_som import SOM

        dtype = params.get("dtype", "float64")
        return SOM(rows=side, cols=side, epochs=epochs, seed=0, **params).fit(
            X.astype(dtype, copy=False)).prototypes_.astype(np.float64)
    return fn


def run_minisom(X: np.ndarray, side: int, iterations: int) -> Callable[[], np.ndarray]:
    def fn() -> np.ndarray:
        from minisom import MiniSom

        som = MiniSom(side, side, X.shape[1], sigma=side / 6, learning_rate=0.5, random_seed=0)
        som.pca_weights_init(X)
        som.train_batch(X, iterations)
        return som.get_weights().reshape(-1, X.shape[1])  # (x, y, D): unit x * side + y
    return fn


def run_somoclu(X: np.ndarray, side: int, epochs: int) -> Callable[[], np.ndarray]:
    def fn() -> np.ndarray:
        import somoclu

        np.random.seed(0)  # noqa: NPY002  somoclu draws its random init from the global state
        som = somoclu.Somoclu(side, side, maptype="planar", gridtype="rectangular",
                              initialization="pca")
        som.train(np.ascontiguousarray(X, dtype=np.float32), epochs=epochs)
        return som.codebook.reshape(-1, X.shape[1]).astype(np.float64)  # (rows, cols, D)
    return fn


def run_kmeans(X: np.ndarray, k: int, iterations: int) -> Callable[[], np.ndarray]:
    def fn() -> np.ndarray:
        from sklearn.cluster import KMeans

        return KMeans(k, n_init=1, max_iter=iterations, random_state=0).fit(X).cluster_centers_
    return fn


def temperatures(side: int) -> tuple[float, float]:
    """protoflow's default (T_max, T_min) on a side x side map: the schedule the peers match."""
    from protoflow_som.model import T_MAX_FRACTION, T_MIN_FRACTION

    return T_MAX_FRACTION * side, max(0.5, T_MIN_FRACTION * side)


def run_xpysom(X: np.ndarray, side: int, epochs: int) -> Callable[[], np.ndarray]:
    """xpysom's batch SOM on NumPy (recipe in the module docstring)."""
    def fn() -> np.ndarray:
        with contextlib.redirect_stdout(io.StringIO()):  # "CuPy could not be imported"
            from xpysom import XPySom
        t_max, t_min = temperatures(side)
        som = XPySom(side, side, X.shape[1], sigma=t_max, sigmaN=t_min, decay_function="exponential",
                     neighborhood_function="gaussian", std_coeff=math.sqrt(0.5),
                     topology="rectangular", random_seed=0, xp=np)
        som.random_weights_init(X)
        som.train(X, epochs)
        return np.asarray(som.get_weights(), dtype=np.float64).reshape(-1, X.shape[1])  # (x, y, D)
    return fn


def run_intrasom(X: np.ndarray, side: int, epochs: int) -> Callable[[], np.ndarray]:
    """intrasom's batch SOM, rough + fine-tuning (recipe in the module docstring; epochs >= 2).
    It writes result files and prints progress, so it runs in a temporary folder, silenced."""
    def fn() -> np.ndarray:
        t_max, t_min = (t / math.sqrt(2) for t in temperatures(side))
        t_mid = math.sqrt(t_max * t_min)
        rough = epochs // 2
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            os.chdir(tmp)
            try:
                from intrasom import SOMFactory

                som = SOMFactory.build(X, mapsize=(side, side), mapshape="planar", lattice="rect",
                                       normalization=None, initialization="pca",
                                       neighborhood="gaussian", training="batch", name="bench",
                                       faster=True)
                som.train(save=False, summary=False, train_rough_len=rough,
                          train_rough_radiusin=t_max, train_rough_radiusfin=t_mid,
                          train_finetune_len=epochs - rough, train_finetune_radiusin=t_mid,
                          train_finetune_radiusfin=t_min)
            finally:
                os.chdir(cwd)
        return np.asarray(som.codebook.matrix, dtype=np.float64)  # row-major (rows, cols)
    return fn


def run_torchsom(X: np.ndarray, side: int, epochs: int, batch_size: int = TORCHSOM_BATCH,
                 device: str = "cpu", rows: int | None = None, sigma: float | None = None,
                 sigma_decay: str = "sig_inverse_decay_to_one") -> Callable[[], np.ndarray]:
    """torchsom's SOM (recipe in the module docstring); `rows` x `side` when rows is given, and
    `sigma` / `sigma_decay` override the matched schedule (bench_gpu.py's published setup)."""
    def fn() -> np.ndarray:
        import torch
        from torchsom import SOM as TorchSOM

        x = side if rows is None else rows
        som = TorchSOM(x=x, y=side, num_features=X.shape[1], epochs=epochs,
                       batch_size=min(batch_size, len(X)),
                       sigma=temperatures(max(x, side))[0] / math.sqrt(2) if sigma is None else sigma,
                       learning_rate=0.95, lr_decay_function="asymptotic_decay",
                       sigma_decay_function=sigma_decay, neighborhood_function="gaussian",
                       topology="rectangular", initialization_mode="pca", search_backend="torch",
                       device=device, random_seed=0)
        data = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=device)
        som.initialize_weights(data, mode="pca")
        som.fit(data, verbose=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return som.weights.detach().cpu().numpy().reshape(-1, X.shape[1]).astype(np.float64)
    return fn


#: peer name -> (module to import, runner(X, side, epochs), the fewest epochs it can train)
PEERS: dict[str, tuple[str, Callable[[np.ndarray, int, int], Callable[[], np.ndarray]], int]] = {
    "xpysom": ("xpysom", run_xpysom, 1),
    "intrasom": ("intrasom", run_intrasom, 2),
    "torchsom": ("torchsom", run_torchsom, 1),
}

#: what --libraries may name (all by default); the scaling series run the SOM peers only
ALL_LIBRARIES = ("float32", "desom-schedule", "hex", "torus", "minisom", "somoclu", *PEERS, "kmeans")
#: protoflow's other lattices, each scored on its own lattice (TE: its own neighbours)
LATTICE_VARIANTS = {"hex": ("protoflow batch, hex lattice", {"kind": "hex"}),
                    "torus": ("protoflow batch, toroidal", {"toroidal": True})}
SCALING_LIBRARIES = ("minisom", "somoclu", *PEERS)



def add_peer_dirs(dirs: tuple[str, ...] | list[str] = PEER_DIRS) -> None:
    """Append the existing ``pip install --target`` folders to sys.path (appended: this
    environment's numpy, scipy, torch stay first)."""
    for d in dirs:
        if Path(d).is_dir() and d not in sys.path:
            sys.path.append(d)


@functools.cache
def import_error(module: str) -> str | None:
    """None when `module` imports (now, in the parent, so no child's time includes the import;
    its prints silenced), else the reason."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            __import__(module)
    except Exception as exc:  # not installed, or a broken dependency
        return f"{type(exc).__name__}: {exc}"
    return None


def have(module: str) -> bool:
    """Import `module` now (in the parent, so no child's time includes the import) if present."""
    return import_error(module) is None


def score(W: np.ndarray, X: np.ndarray, rows: int, cols: int, topo: bool = True,
          **lattice: Any) -> tuple[float, float | None]:
    """(QE, TE) of the codebook W (rows * cols, n_features), unit r * cols + c, on X: the one
    scoring every library gets (protoflow's metrics on a rectangular planar Lattice; `lattice`
    keywords such as ``kind="hex"`` for protoflow's other lattices)."""
    model = PrototypeSet(W, Lattice(rows, cols, **lattice))
    return quantization_error(model, X), (topographic_error(model, X) if topo else None)


def predicted_seconds(make: Callable[[int], Callable[[], np.ndarray]], full: int, probe: int) -> float:
    """Predicted seconds of `full` units of work (iterations, epochs) from two short runs of
    `probe` and 2 * `probe` units: their difference is the cost per unit, the rest fixed cost
    (initialisation, fork). When the difference is lost in noise (under a quarter of the
    average cost per unit of the longer probe, e.g. a probe slowed by other load), every
    second of the longer probe is counted as per-unit cost: an overestimate, so the budget
    skips a library rather than start a run of unbounded length (MiniSom at 1e6 samples once
    got a per-unit cost of 0 and ran for over 10 minutes)."""
    t1, _, _, _, err1, _ = measure(make(probe))
    t2, _, _, _, err2, _ = measure(make(2 * probe))
    if err1 or err2:
        return np.inf
    per_unit = (t2 - t1) / probe
    if per_unit < 0.25 * t2 / (2 * probe):
        return t2 / (2 * probe) * max(full, 2 * probe)
    return t1 + per_unit * max(full - probe, 0)


def predicted_epochs(make: Callable[[np.ndarray, int], Callable[[], np.ndarray]], X: np.ndarray,
                     n_units: int, epochs: int, probe: int) -> float:
    """Predicted seconds of `epochs` epochs of make(X, epochs): 0 (not probed) at most
    PROBE_ABOVE sample-units, else probes of `probe` and 2 * `probe` epochs on at most
    PROBE_ROWS rows, extrapolated linearly in n_samples."""
    n = len(X)
    if n * n_units <= PROBE_ABOVE:
        return 0.0
    m = min(n, PROBE_ROWS)
    return predicted_seconds(lambda e: make(X[:m], e), epochs, probe) * n / m


# -- one workload ---------------------------------------------------------------------------------


def bench_workload(name: str, X: np.ndarray, side: int, epochs: int, budget: float,
                   libraries: tuple[str, ...], repeats: int = 1) -> list[dict[str, Any]]:
    """Every library of `libraries` (plus protoflow's default batch SOM) on X with a side x side
    map: one row each (time best of `repeats`, memory, QE, TE, or why it was skipped)."""
    K = side * side
    floor = matmul_floor(X, K, repeats=3 if len(X) * K < 10**9 else 1)
    rows: list[dict[str, Any]] = []
    n = len(X)

    jobs: list[dict[str, Any]] = []
    # the second, warm fit only where it is cheap (main workloads, not the series)
    warm = not name.startswith("scaling")

    def record(lib: str, fn: Callable[[], np.ndarray] | None, note: str = "", topo: bool = True,
               predicted: float | None = None, lattice: dict[str, Any] | None = None) -> None:
        """A row for `lib`: measured later, in rounds (`run_rounds`), or now skipped (fn None)."""
        row: dict[str, Any] = {"workload": name, "n": n, "dim": X.shape[1], "map": f"{side}x{side}",
                               "library": lib, "floor_s": floor, "note": note}
        if predicted is not None and np.isfinite(predicted):
            row["predicted_s"] = predicted
        rows.append(row)
        if fn is None:
            print(f"note: {lib} on {name}: {note}", file=sys.stderr, flush=True)
            report(row)
        else:
            jobs.append({"row": row, "fn": fn, "topo": topo, "lattice": lattice or {}, "times": [],
                         "warm": [], "mib": 0.0, "rss": 0.0, "W": None, "err": None, "done": False})

    def report(row: dict[str, Any]) -> None:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
                         default=float), flush=True)

    def run_rounds() -> None:
        """Round r measures every library once, in order, then round r + 1 again: the state of
        this VM at a fork (some forked children run everything about 2x slower) then falls on
        all libraries alike, not on one library's repeats back to back. A library stops after
        its first run when that took over half the budget, or at its first error."""
        for rnd in range(max(1, repeats)):
            for job in jobs:
                if job["done"] or (rnd and job["times"][0] > budget / 2):
                    continue
                seconds, mib, rss, W, err, again = measure(job["fn"], warm)
                if err:  # a first run's error is the row's note; a later one only ends it
                    if rnd == 0:
                        job["err"] = err
                    job["done"] = True
                    continue
                if rnd == 0:
                    job["W"] = W
                job["times"].append(seconds)
                job["warm"].append(again)
                job["mib"], job["rss"] = max(job["mib"], mib), max(job["rss"], rss)
        for job in jobs:
            row, times = job["row"], job["times"]
            if job["err"]:
                row["note"] = job["err"]
            else:
                qe, te = score(job["W"], X, side, side, job["topo"], **job["lattice"])
                row.update(seconds=min(times), seconds_runs=times, runs=len(times),
                           peak_mib=job["mib"], peak_rss_mib=job["rss"],
                           epoch_over_floor=min(times) / epochs / floor, qe=qe, te=te)
                if warm:
                    row.update(warm_s=min(w for w in job["warm"] if w is not None))
            report(row)

    def budgeted(lib: str, make: Callable[[int], Callable[[], np.ndarray]], est: float) -> None:
        if est <= budget:
            record(lib, make(epochs))
        else:
            record(lib, None, f"skipped: predicted {est:.0f} s > {budget:.0f} s", predicted=est)

    record(OURS, run_protoflow(X, side, epochs))
    if "float32" in libraries:
        record("protoflow batch float32", run_protoflow(X, side, epochs, dtype="float32"))
    if "desom-schedule" in libraries:
        record("protoflow batch, DESOM schedule (T side -> 0.1)",
               run_protoflow(X, side, epochs, t_max=float(side), t_min=0.1))
    for variant, (label, lattice) in LATTICE_VARIANTS.items():
        if variant in libraries:
            record(label, run_protoflow(X, side, epochs, **lattice), lattice=lattice)
    if "minisom" in libraries:
        est = predicted_seconds(lambda it: run_minisom(X, side, it), epochs * n, min(2000, n))
        budgeted(MINISOM, lambda _: run_minisom(X, side, epochs * n), est)
    if "somoclu" in libraries:
        if not have("somoclu"):
            record(SOMOCLU, None, "skipped: somoclu not installed")
        else:
            est = predicted_epochs(lambda Xs, e: run_somoclu(Xs, side, e), X, K, epochs, 1)
            budgeted(SOMOCLU, lambda e: run_somoclu(X, side, e), est)
    for peer, (module, runner, fewest) in PEERS.items():
        if peer not in libraries:
            continue
        why = import_error(module)
        if why is not None:
            record(peer, None, f"skipped: {peer} not importable ({why[:120]})")
            continue
        est = predicted_epochs(lambda Xs, e, r=runner: r(Xs, side, e), X, K, epochs, fewest)
        budgeted(peer, lambda e, r=runner: r(X, side, e), est)
    if "kmeans" in libraries:
        record("scikit-learn KMeans", run_kmeans(X, K, epochs), topo=False)
    run_rounds()
    return rows


# -- report ---------------------------------------------------------------------------------------

OURS, MINISOM, SOMOCLU = "protoflow batch", "MiniSom train_batch", "somoclu"
MAIN_WORKLOADS = ("digits", "gmm", "blobs", "clustered", "mnist")
MEMORY_LIMIT_MIB = 24 * 1024


def _fmt(v: Any, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def _label(r: dict[str, Any]) -> str:
    """The workload's row label; "(run N)" where `--render` met the same workload again in a
    later run (its ratios stay within that run)."""
    again = f" (run {r['rerun']})" if r.get("rerun") else ""
    return f"{r['workload']} {r['n']:,}x{r['dim']}, {r['map']}{again}"


def merge_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of several runs in order; a workload already measured by an earlier run is
    marked with its run's number (1-based) so that ratios, Pareto fronts and targets compare
    rows of one run only."""
    seen: set[str] = set()
    out = []
    for i, run in enumerate(runs, 1):
        labels = set()
        for r in run["rows"]:
            label = _label(r)
            out.append({**r, "rerun": i} if label in seen else r)
            labels.add(label)
        seen |= labels
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the rows with time_ratio, qe_ratio, te_ratio: each over "protoflow batch"'s in
    the same workload (label) of the same list (None where either is missing or ours is 0)."""
    ours = {_label(r): r for r in rows if r["library"] == OURS and "seconds" in r}
    out = []
    for r in rows:
        o = ours.get(_label(r), {})
        out.append({**r, "time_ratio": _ratio(r.get("seconds"), o.get("seconds")),
                    "warm_ratio": _ratio(r.get("warm_s"), o.get("warm_s")),
                    "qe_ratio": _ratio(r.get("qe"), o.get("qe")),
                    "te_ratio": _ratio(r.get("te"), o.get("te"))})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of every row, with the ratios to protoflow's ("pf")."""
    out = ["| workload | library | time (s) | runs | epoch / floor | warm (s) | peak extra MiB | peak RSS MiB "
           "| QE | TE | time / pf | warm / pf | QE / pf | TE / pf | note |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
           "| --- |"]
    for r in with_ratios(rows):
        out.append(
            f"| {_label(r)} | {r['library']} | "
            f"{_fmt(r.get('seconds'), '.2f')} | {_fmt(r.get('runs'), 'd')} | "
            f"{_fmt(r.get('epoch_over_floor'), '.2f')} | {_fmt(r.get('warm_s'), '.3f')} | "
            f"{_fmt(r.get('peak_mib'), '.0f')} | {_fmt(r.get('peak_rss_mib'), '.0f')} | "
            f"{_fmt(r.get('qe'), '.4f')} | {_fmt(r.get('te'), '.4f')} | "
            f"{_fmt(r['time_ratio'], '.2f')} | {_fmt(r['warm_ratio'], '.2f')} | {_fmt(r['qe_ratio'], '.3f')} | "
            f"{_fmt(r['te_ratio'], '.2f')} | {r.get('note', '')} |"
        )
    return "\n".join(out)


def _groups(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{workload label: {library: row}} in the order of the run (measured rows, and skipped
    competitors that carry a predicted time)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        group = out.setdefault(_label(r), {})
        if "seconds" in r or "predicted_s" in r:
            group[r["library"]] = r
    return out


def som_peers(group: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The measured rows of the other SOM libraries in a workload (not protoflow's variants,
    not k-means, which has no TE)."""
    return [r for lib, r in group.items()
            if not lib.startswith("protoflow") and "seconds" in r and r.get("te") is not None]


def dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a is at least as good as b on QE and TE and better on one (lower is better)."""
    return a["qe"] <= b["qe"] and a["te"] <= b["te"] and (a["qe"] < b["qe"] or a["te"] < b["te"])


def pareto(rows: list[dict[str, Any]]) -> str:
    """Per workload: is protoflow on the QE/TE Pareto front of itself and every measured SOM
    peer, which peers dominate it, which peers are on the front, and how far from the best peer
    QE (ratio) and TE (difference: a collapsed map can have TE 0) it is."""
    lines = ["| workload | SOM peers measured | protoflow on the QE/TE front | dominated by | "
             "peers on the front | QE / best peer QE | TE - best peer TE | fastest peer time / pf |",
             "| --- | --- | --- | --- | --- | ---: | ---: | ---: |"]
    for label, group in _groups(rows).items():
        ours = group.get(OURS)
        peers = som_peers(group)
        if ours is None or "seconds" not in ours or ours.get("te") is None or not peers:
            continue
        over = [p["library"] for p in peers if dominates(p, ours)]
        everyone = [*peers, ours]
        front = [p["library"] for p in peers if not any(dominates(q, p) for q in everyone)]
        lines.append(
            f"| {label} | {', '.join(p['library'] for p in peers)} | {'no' if over else 'yes'} | "
            f"{', '.join(over) or '—'} | {', '.join(front) or '—'} | "
            f"{_fmt(_ratio(ours['qe'], min(p['qe'] for p in peers)), '.3f')} | "
            f"{ours['te'] - min(p['te'] for p in peers):+.4f} | "
            f"{_fmt(_ratio(min(p['seconds'] for p in peers), ours['seconds']), '.1f')} |")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> tuple[str, int, int]:
    """The issue's targets as ratios within this run: (markdown table, passed, checked).

    A speed-up against a competitor skipped for the budget uses its predicted time (two short
    timed runs, linear extrapolation; MiniSom's cost per iteration does not depend on the
    data) and says "predicted"; those rows are not counted in passed/checked. A target whose
    competitor was neither run nor predicted is "not measured", never PASS."""
    lines = ["| workload | target | measured | result |", "| --- | --- | ---: | --- |"]
    passed = checked = 0

    def add(label: str, target: str, value: float | None, spec: str, ok: bool | None, why: str = "",
            predicted: bool = False) -> None:
        nonlocal passed, checked
        if value is None:
            lines.append(f"| {label} | {target} | — | not measured{': ' + why if why else ''} |")
            return
        verdict = "PASS" if ok else "MISS"
        if predicted:
            verdict += " (predicted: competitor skipped for the budget, not counted)"
        else:
            checked += 1
            passed += bool(ok)
        lines.append(f"| {label} | {target} | {format(value, spec)} | {verdict} |")

    for label, rs in _groups(rows).items():
        ours = rs.get(OURS)
        if ours is None:
            continue
        if ours["workload"] == "memory":
            add(label, "peak RSS of training <= 24 GiB (MiB)", ours["peak_rss_mib"], ".0f",
                ours["peak_rss_mib"] <= MEMORY_LIMIT_MIB)
            add(label, "batch epoch <= 2x the matmul floor", ours["epoch_over_floor"], ".2f",
                ours["epoch_over_floor"] <= 2)
            continue
        soms = som_peers(rs)
        missing = "competitor skipped or not installed"
        for lib, need, text in ((MINISOM, 20.0, ">= 20x faster than MiniSom train_batch"),
                                (SOMOCLU, 1.0, "faster than somoclu")):
            other = rs.get(lib, {})
            theirs = other.get("seconds", other.get("predicted_s"))
            sp = theirs / ours["seconds"] if theirs is not None else None
            add(label, text + " (speed-up)", sp, ".1f", sp is not None and sp >= need and sp > 1, missing,
                predicted="seconds" not in other)
        xpy = rs.get("xpysom", {})
        for key, when in (("seconds", "first fit in the process"), ("warm_s", "a second fit, warm")):
            if key in xpy and key in ours:
                sp = xpy[key] / ours[key]
                add(label, f">= 2.5x faster than xpysom, {when} (speed-up)", sp, ".2f", sp >= 2.5)
        if soms:
            q = ours["qe"] / min(o["qe"] for o in soms)
            add(label, "QE <= 1.05x best other SOM (ratio)", q, ".3f", q <= 1.05)
            t = ours["te"] - min(o["te"] for o in soms)
            add(label, "TE <= best other SOM + 0.02 (difference)", t, "+.4f", t <= 0.02)
        add(label, "batch epoch <= 2x the matmul floor", ours["epoch_over_floor"], ".2f",
            ours["epoch_over_floor"] <= 2)
        if "warm_s" in ours:
            warm = ours["epoch_over_floor"] * ours["warm_s"] / ours["seconds"]  # same floor
            add(label, "batch epoch <= 2x the matmul floor, warm fit", warm, ".2f", warm <= 2)
        for variant, _ in LATTICE_VARIANTS.values():
            if "seconds" in rs.get(variant, {}):
                # "the same speed": within the run's noise of a few per cent
                r = rs[variant]["seconds"] / ours["seconds"]
                add(label, f"{variant.split(', ')[1]}: time <= 1.10x the rectangular map's (ratio)",
                    r, ".2f", r <= 1.10)
        if ours["workload"] in MAIN_WORKLOADS and "seconds" in rs.get(MINISOM, {}):
            ms = rs[MINISOM]
            add(label, "defaults: QE <= MiniSom's (difference)", ours["qe"] - ms["qe"], "+.4f",
                ours["qe"] <= ms["qe"])
            add(label, "defaults: TE <= MiniSom's (difference)", ours["te"] - ms["te"], "+.4f",
                ours["te"] <= ms["te"])
    return "\n".join(lines), passed, checked


def figure(rows: list[dict[str, Any]], path: Path, epochs: int) -> bool:
    """Scaling curves as a PNG: fit time (top) and time / protoflow's (bottom) against n_samples
    (left) and map units (right), log-log, one line per library."""
    series = [r for r in with_ratios(rows) if r["workload"].startswith("scaling") and "seconds" in r]
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex="col")
    libs = list(dict.fromkeys(r["library"] for r in series))
    colours = {lib: f"C{i}" for i, lib in enumerate(libs)}
    for col, (wl, xkey, xlabel) in enumerate((("scaling n", "n", "n_samples (50 dims, 20x20 map)"),
                                              ("scaling map", "units", "map units (20,000 x 50)"))):
        pts = [{**r, "units": int(r["map"].split("x")[0]) ** 2} for r in series if r["workload"] == wl]
        # one point per library and x, in order of x: where several runs measured the same
        # point (a separate run for one peer's largest case), the first run's
        first: dict[tuple[str, int], dict[str, Any]] = {}
        for r in pts:
            first.setdefault((r["library"], r[xkey]), r)
        pts = sorted(first.values(), key=lambda r: r[xkey])
        top, bottom = axes[0][col], axes[1][col]
        for lib in dict.fromkeys(r["library"] for r in pts):
            mine = [r for r in pts if r["library"] == lib]
            top.plot([r[xkey] for r in mine], [r["seconds"] for r in mine], marker="o", label=lib,
                     color=colours[lib])
            ratio = [(r[xkey], r["time_ratio"]) for r in mine if r["time_ratio"] is not None]
            if ratio and lib != OURS:
                bottom.plot(*zip(*ratio, strict=True), marker="o", label=lib, color=colours[lib])
        floor = sorted({r[xkey]: epochs * r["floor_s"] for r in reversed(pts)}.items())
        if floor:
            top.plot(*zip(*floor, strict=True), "k--", label=f"{epochs} x matmul floor")
        top.set(xscale="log", yscale="log", ylabel=f"fit time, {epochs} epochs (s)")
        bottom.axhline(1.0, color=colours.get(OURS, "k"), lw=1)
        bottom.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="time / protoflow batch")
        for ax in (top, bottom):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def report(rows: list[dict[str, Any]], a: argparse.Namespace, command: str, where: str,
           partial: bool = False) -> None:
    """Print the SOM section and write it (and the figure) where --out / --figure say.
    where : the machine line of the run (`_doc_sections.machine`, taken when it started)."""
    from _doc_sections import write_section

    tgt, passed, checked = targets(rows)
    fig = ""
    if a.figure and figure(rows, a.figure, a.epochs):
        rel = os.path.relpath(a.figure, a.out.parent) if a.out else a.figure
        fig = (f"\n![SOM scaling: fit time, and time over protoflow's, against n_samples and map "
               f"size]({rel})\n")
    front = pareto(rows)
    body = (f"Measured with `{command}` (under `flock /tmp/protoflow-heavy.lock`) on {where}; "
            f"{a.epochs} epochs everywhere; the settings of each library are in the script's "
            "docstring. Times are wall-clock seconds of the whole fit (initialisation included) "
            "in a forked child, the best of \"runs\" runs; \"/ pf\" columns are ratios to "
            "\"protoflow batch\" in the same workload of the same run; every codebook is scored by "
            "the same code (QE: mean distance to the BMU; TE: first and second BMU not "
            "4-neighbours). The machine is shared, so expect a few per cent of noise.\n\n"
            + ("**Partial run**: it was stopped before every workload was measured.\n\n" if partial else "")
            + f"{table(rows)}\n{fig}\n"
            + (f"### SOM peers: protoflow on the QE/TE Pareto front (same run)\n\n{front}\n\n"
               if front.count("\n") > 1 else "")
            + f"### SOM targets (ratios within this run): {passed} of {checked} "
            f"checks pass\n\n{tgt}\n")
    print(body)
    if a.out:
        write_section(a.out, "som", "## SOM", body)


def check_peers(epochs: int = 2) -> dict[str, Any]:
    """Every SOM (protoflow and the peers) on a tiny problem (300 x 5 blobs, 6x6 map), in this
    process: {name: {"shape", "qe", "te", "codebook"} or {"skipped": why}}."""
    from sklearn.datasets import make_blobs

    X = make_blobs(n_samples=300, n_features=5, centers=4, random_state=0)[0]
    side = 6
    runners: dict[str, tuple[str | None, Callable[[], np.ndarray]]] = {
        "protoflow": ("protoflow_som", run_protoflow(X, side, epochs)),
        "minisom": ("minisom", run_minisom(X, side, epochs * len(X))),
        "somoclu": ("somoclu", run_somoclu(X, side, epochs)),
        **{peer: (module, runner(X, side, max(epochs, fewest)))
           for peer, (module, runner, fewest) in PEERS.items()},
    }
    out: dict[str, Any] = {"X": X.tolist(), "side": side}
    for name, (module, fn) in runners.items():
        why = import_error(module) if module else None
        if why is not None:
            out[name] = {"skipped": why}
            continue
        try:
            W = fn()
        except Exception as exc:  # reported, so the test says which peer broke
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        qe, te = score(W, X, side, side)
        out[name] = {"shape": list(W.shape), "qe": qe, "te": te, "codebook": W.tolist()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", nargs="*", default=list(MAIN_WORKLOADS))
    p.add_argument("--scaling", action="store_true", help="n_samples and map-size series")
    p.add_argument("--scaling-n", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000],
                   help="n_samples of the n series (50 dims, 20x20 map)")
    p.add_argument("--scaling-sides", type=int, nargs="+", default=[10, 20, 30, 40, 50],
                   help="map sides of the map-size series (20,000 x 50)")
    p.add_argument("--memory", action="store_true", help="1,000,000 x 50 on a 40x40 map")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3, help="time: best of this many runs")
    p.add_argument("--budget", type=float, default=60.0, help="skip a competitor predicted slower")
    p.add_argument("--libraries", nargs="+", default=list(ALL_LIBRARIES), choices=ALL_LIBRARIES,
                   help="what runs beside protoflow's default batch SOM")
    p.add_argument("--peer-dirs", nargs="*", default=list(PEER_DIRS),
                   help="pip --target folders of the peers (appended to sys.path)")
    p.add_argument("--out", type=Path, default=None, help="markdown file for the ## SOM section")
    p.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "bench_som_peers_scaling.png",
                   help="scaling figure (written when --scaling ran)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--render", type=Path, nargs="+", default=None,
                   help="no measuring: write the section from --json files of earlier runs "
                        "(several: their rows in order; each workload's ratios stay within its run)")
    p.add_argument("--check-peers", action="store_true",
                   help="train each SOM on a tiny problem in-process and print JSON (for the tests)")
    a = p.parse_args()
    add_peer_dirs(a.peer_dirs)
    have("protoflow_som")  # imported here like every peer, so no child's time includes it
    if a.check_peers:
        print(json.dumps(check_peers()))
        return
    if a.render:
        runs = [json.loads(path.read_text()) for path in a.render]
        a.epochs = runs[0]["epochs"]
        report(merge_runs(runs), a, "` and `".join(run["command"] for run in runs),
               " / ".join(dict.fromkeys(run["machine"] for run in runs)),
               partial=any(run.get("partial", False) for run in runs))
        return
    command = ".venv/bin/python benchmarks/bench_som.py " + " ".join(sys.argv[1:])
    from _doc_sections import machine

    where = machine()
    chosen = tuple(a.libraries)
    for module in ("protoflow_som", "minisom", "somoclu", "sklearn.cluster",
                   *(m for peer, (m, _, _) in PEERS.items() if peer in chosen)):
        why = import_error(module)
        if why is not None:
            print(f"note: {module} does not import, its rows are skipped ({why})", file=sys.stderr)
    rows: list[dict[str, Any]] = []

    def save(partial: bool) -> None:
        """The JSON after every workload, so an interrupted run keeps what it measured
        (`--render` marks such a file's section as partial)."""
        if a.json:
            atomic_write_text(a.json, json.dumps({"command": command, "machine": where, "epochs": a.epochs,
                                                  "rows": rows, "partial": partial}, indent=1, default=float))

    soms = tuple(lib for lib in chosen if lib in SCALING_LIBRARIES)
    plan: list[tuple[str, Callable[[], tuple[np.ndarray, int]], tuple[str, ...]]] = [
        (name, functools.partial(load_workload, name), chosen) for name in a.workloads]
    if a.memory:
        plan.append(("memory", lambda: (clustered(1_000_000), 40), ()))
    if a.scaling:
        plan += [("scaling n", functools.partial(lambda n: (clustered(n), 20), n), soms)
                 for n in a.scaling_n]
        plan += [("scaling map", functools.partial(lambda side: (clustered(20_000), side), side), soms)
                 for side in a.scaling_sides]
    for name, load, libraries in plan:
        X, side = load()
        rows += bench_workload(name, X, side, a.epochs, a.budget, libraries, a.repeats)
        save(partial=True)
    save(partial=False)
    report(rows, a, command, where)


if __name__ == "__main__":
    main()
