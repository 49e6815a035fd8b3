"""protoflow's SOM against MiniSom, somoclu and scikit-learn's KMeans, side by side in one run.

    .venv/bin/python benchmarks/bench_som.py [--workloads digits gmm clustered mnist]
        [--scaling] [--memory] [--epochs 10] [--budget 60] [--out docs/benchmarks.md] [--json PATH]

Every library trains on the same data with comparable settings (10 epochs; MiniSom's
`train_batch` runs 10 * n_samples iterations with sigma = side / 6, lr 0.5; somoclu planar,
rectangular, random initialisation; KMeans k = map size, max_iter = 10, n_init = 1) and every
codebook is scored by protoflow's own metrics (`quantization_error`, `topographic_error` through
``PrototypeSet(W, Lattice(rows, cols))``; k-means has no map, so no TE). Each library runs in
a forked child so its time and peak memory (the rise of VmHWM over the child's starting RSS)
are its own. "epoch/floor" is the time of one epoch (fit time / epochs, init included) over the
time of one bare (n_samples x n_units) product X @ W.T on the same data, computed in row blocks
into a reused buffer (the least work any exact epoch must do).

MiniSom (and somoclu) are skipped where a short timed run predicts more than `--budget` seconds,
and the table says so. somoclu is GPL-3: it is only imported here, never by protoflow, and
skipped when it is not installed (see benchmarks/README_som.md). Writes a "## SOM" section into
`--out`, replacing an earlier one and leaving other sections alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
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


# -- workloads ----------------------------------------------------------------------------------


def standardise(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def clustered(n: int, dim: int = 50, seed: int = 0) -> np.ndarray:
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n, n_features=dim, centers=20, random_state=seed)[0]


def load_workload(name: str) -> tuple[np.ndarray, int]:
    """(X, map side) of a named workload."""
    if name == "digits":
        from sklearn.datasets import load_digits

        return standardise(load_digits().data), 20
    if name == "gmm":
        return gaussian_mixture(25_000, 10), 20
    if name == "clustered":
        return clustered(60_000), 30
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


def _child(fn: Callable[[], np.ndarray], queue: Any) -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    start_rss = _status_kib("VmRSS")
    t0 = time.perf_counter()
    try:
        W = fn()
        queue.put((time.perf_counter() - t0, (_status_kib("VmHWM") - start_rss) / 1024, W, None))
    except Exception as exc:  # report and move on: one library failing must not end the run
        queue.put((0.0, 0.0, None, f"{type(exc).__name__}: {exc}"))


def measure(fn: Callable[[], np.ndarray]) -> tuple[float, float, np.ndarray | None, str | None]:
    """(seconds, peak extra MiB, codebook (n_units, n_features), error) of fn in a fork."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def matmul_floor(X: np.ndarray, n_units: int, dtype: Any = np.float64, repeats: int = 3) -> float:
    """Seconds for one X @ W.T with W (n_units, n_features), in 8192-row blocks, best of n."""
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
        som.random_weights_init(X)
        som.train_batch(X, iterations)
        return som.get_weights().reshape(-1, X.shape[1])  # (x, y, D): unit x * side + y
    return fn


def run_somoclu(X: np.ndarray, side: int, epochs: int) -> Callable[[], np.ndarray]:
    def fn() -> np.ndarray:
        import somoclu

        np.random.seed(0)  # noqa: NPY002  somoclu draws its random init from the global state
        som = somoclu.Somoclu(side, side, maptype="planar", gridtype="rectangular",
                              initialization="random")
        som.train(np.ascontiguousarray(X, dtype=np.float32), epochs=epochs)
        return som.codebook.reshape(-1, X.shape[1]).astype(np.float64)  # (rows, cols, D)
    return fn


def run_kmeans(X: np.ndarray, k: int, iterations: int) -> Callable[[], np.ndarray]:
    def fn() -> np.ndarray:
        from sklearn.cluster import KMeans

        return KMeans(k, n_init=1, max_iter=iterations, random_state=0).fit(X).cluster_centers_
    return fn


def have(module: str) -> bool:
    """Import `module` now (in the parent, so no child's time includes the import) if present."""
    try:
        __import__(module)
    except Exception:
        return False
    return True


def predicted_seconds(make: Callable[[int], Callable[[], np.ndarray]], full: int, probe: int) -> float:
    """Time a short run of `probe` units of work and scale it to `full` units."""
    seconds, _, _, err = measure(make(probe))
    return np.inf if err else seconds * full / probe


# -- one workload ---------------------------------------------------------------------------------


def bench_workload(name: str, X: np.ndarray, side: int, epochs: int, budget: float,
                   libraries: tuple[str, ...]) -> list[dict[str, Any]]:
    K = side * side
    floor = matmul_floor(X, K)
    rows: list[dict[str, Any]] = []
    n = len(X)

    def record(lib: str, fn: Callable[[], np.ndarray] | None, note: str = "", topo: bool = True) -> None:
        row: dict[str, Any] = {"workload": name, "n": n, "dim": X.shape[1], "map": f"{side}x{side}",
                               "library": lib, "floor_s": floor, "note": note}
        if fn is not None:
            seconds, mib, W, err = measure(fn)
            if err:
                row["note"] = err
            else:
                model = PrototypeSet(W, Lattice(side, side))
                row.update(seconds=seconds, peak_mib=mib, epoch_over_floor=seconds / epochs / floor,
                           qe=quantization_error(model, X),
                           te=topographic_error(model, X) if topo else None)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}),
              flush=True)

    record("protoflow batch", run_protoflow(X, side, epochs))
    if "float32" in libraries:
        record("protoflow batch float32", run_protoflow(X, side, epochs, dtype="float32"))
    if "desom-schedule" in libraries:
        record("protoflow batch, DESOM schedule (T side -> 0.1)",
               run_protoflow(X, side, epochs, t_max=float(side), t_min=0.1))
    if "minisom" in libraries:
        est = predicted_seconds(lambda it: run_minisom(X, side, it), epochs * n, min(2000, epochs * n))
        if est <= budget:
            record("MiniSom train_batch", run_minisom(X, side, epochs * n))
        else:
            record("MiniSom train_batch", None, f"skipped: predicted {est:.0f} s > {budget:.0f} s")
    if "somoclu" in libraries:
        if not have("somoclu"):
            record("somoclu", None, "skipped: somoclu not installed")
        else:
            est = predicted_seconds(lambda e: run_somoclu(X, side, e), epochs, 1) if n > 100_000 else 0
            if est <= budget:
                record("somoclu", run_somoclu(X, side, epochs))
            else:
                record("somoclu", None, f"skipped: predicted {est:.0f} s > {budget:.0f} s")
    if "kmeans" in libraries:
        record("scikit-learn KMeans", run_kmeans(X, K, epochs), topo=False)
    return rows


# -- report ---------------------------------------------------------------------------------------


def _fmt(v: Any, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| workload | library | time (s) | epoch / floor | peak extra MiB | QE | TE | note |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        out.append(
            f"| {r['workload']} {r['n']:,}x{r['dim']}, {r['map']} | {r['library']} | "
            f"{_fmt(r.get('seconds'), '.2f')} | {_fmt(r.get('epoch_over_floor'), '.2f')} | "
            f"{_fmt(r.get('peak_mib'), '.0f')} | {_fmt(r.get('qe'), '.4f')} | "
            f"{_fmt(r.get('te'), '.4f')} | {r.get('note', '')} |"
        )
    return "\n".join(out)


def targets(rows: list[dict[str, Any]]) -> str:
    """The issue's targets per workload, as ratios within this run."""
    lines = ["| workload | vs MiniSom (speed-up) | vs somoclu (speed-up) | QE / best other SOM | "
             "TE - best other SOM | epoch / floor | met |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for wl in dict.fromkeys(r["workload"] for r in rows):
        rs = {r["library"]: r for r in rows if r["workload"] == wl and "seconds" in r}
        ours = rs.get("protoflow batch")
        if ours is None:
            continue
        others = [rs[k] for k in ("MiniSom train_batch", "somoclu") if k in rs]
        sp = {k: rs[k]["seconds"] / ours["seconds"] for k in ("MiniSom train_batch", "somoclu") if k in rs}
        qe_ratio = ours["qe"] / min(o["qe"] for o in others) if others else None
        te_diff = ours["te"] - min(o["te"] for o in others) if others else None
        checks = [
            sp.get("MiniSom train_batch", np.inf) >= 20,
            sp.get("somoclu", np.inf) > 1,
            qe_ratio is None or qe_ratio <= 1.05,
            te_diff is None or te_diff <= 0.02,
            ours["epoch_over_floor"] <= 2,
        ]
        failed = [n for n, ok in zip(["MiniSom 20x", "somoclu", "QE", "TE", "floor"], checks, strict=True)
                  if not ok]
        lines.append(
            f"| {wl} | {_fmt(sp.get('MiniSom train_batch'), '.1f')} | {_fmt(sp.get('somoclu'), '.1f')} | "
            f"{_fmt(qe_ratio, '.3f')} | {_fmt(te_diff, '+.3f')} | {ours['epoch_over_floor']:.2f} | "
            f"{'yes' if not failed else 'no: ' + ', '.join(failed)} |"
        )
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Put `section` (starting "## SOM") into the file, replacing an earlier "## SOM" section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## SOM"), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "\n".join(lines[:start] + section.rstrip("\n").splitlines() + [""] + lines[end:])
    atomic_write_text(path, new.rstrip("\n") + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", nargs="*", default=["digits", "gmm", "clustered", "mnist"])
    p.add_argument("--scaling", action="store_true", help="n_samples and map-size series")
    p.add_argument("--memory", action="store_true", help="1,000,000 x 50 on a 40x40 map")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--budget", type=float, default=60.0, help="skip a competitor predicted slower")
    p.add_argument("--out", type=Path, default=None, help="markdown file for the ## SOM section")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--render", type=Path, default=None,
                   help="no measuring: write the section from a --json file of an earlier run")
    a = p.parse_args()
    if a.render:
        rows = json.loads(a.render.read_text())
        report(rows, a, "python benchmarks/bench_som.py --scaling --memory (rendered with --render)")
        return
    full = ("float32", "desom-schedule", "minisom", "somoclu", "kmeans")
    for module in ("protoflow_som", "minisom", "somoclu", "sklearn.cluster"):
        have(module)
    rows: list[dict[str, Any]] = []
    for name in a.workloads:
        X, side = load_workload(name)
        rows += bench_workload(name, X, side, a.epochs, a.budget, full)
    if a.scaling:
        for n in (1_000, 10_000, 100_000, 1_000_000):
            rows += bench_workload("scaling n", clustered(n), 20, a.epochs, a.budget,
                                   ("minisom", "somoclu"))
        X = clustered(20_000)
        for side in (10, 20, 30, 40, 50):
            rows += bench_workload("scaling map", X, side, a.epochs, a.budget, ("minisom", "somoclu"))
    if a.memory:
        rows += bench_workload("memory", clustered(1_000_000), 40, a.epochs, a.budget, ())
    report(rows, a, "python benchmarks/bench_som.py " + " ".join(sys.argv[1:]))
    if a.json:
        atomic_write_text(a.json, json.dumps(rows, indent=1, default=float))


def report(rows: list[dict[str, Any]], a: argparse.Namespace, command: str) -> None:
    env = (f"{platform.node() or 'machine'}: {platform.processor() or platform.machine()}, "
           f"{os.cpu_count()} CPUs, Python {platform.python_version()}, NumPy {np.__version__}; "
           f"{date.today().isoformat()}")
    section = (f"## SOM\n\nMeasured with `{command}` on {env}. {a.epochs} epochs everywhere; "
               "see the script's docstring for the settings of each library.\n\n"
               f"{table(rows)}\n\n### Targets (ratios within this run)\n\n{targets(rows)}\n")
    print(section)
    if a.out:
        write_section(a.out, section)


if __name__ == "__main__":
    main()
