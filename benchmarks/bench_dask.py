"""Chunked (Dask) batch-SOM epochs against the in-memory epoch, 1e5 to 1e7 samples.

    flock /tmp/protoflow-heavy.lock .venv/bin/python benchmarks/bench_dask.py [--sizes 1e5 1e6 1e7]
        [--features 16] [--rows 30] [--cols 30] [--write-docs]

Data: `protoflow.scale.gmm_chunks` (the MUSIC paper's Gaussian mixture), generated chunk by
chunk from a seed (100,000 rows a chunk) and never whole in memory in the Dask modes. Each
(mode, size) runs in a fresh subprocess so its peak memory is its own:

- in-memory: the array is materialised first (not timed), then ``SOM.fit(ndarray)``;
- dask-threads: ``SOM.fit(dask_array)`` on Dask's default local threaded scheduler;
- dask-cluster: the same with a ``distributed.LocalCluster`` (2 worker processes x 1 thread).

Every fit starts from the same given prototypes (no init pass), so fit time / epochs is the
time per epoch. The Dask modes regenerate the data inside every epoch (that is what out-of-core
costs when the data come from a generator); the "generate" column is one such pass alone.
Peak memory is the peak RSS of the process (in-memory, threads) or of each worker (cluster,
the larger of the two). With --write-docs the table replaces the Dask section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNK_ROWS = 100_000
ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one(mode: str, n: int, d: int, rows: int, cols: int, epochs: int) -> dict:
    """Run one configuration in this process; returns its measurements."""
    import dask

    import protoflow
    from protoflow.scale import gmm_chunks

    X = gmm_chunks(n, d, chunk_rows=CHUNK_ROWS, seed=0)
    W0 = np.random.default_rng(1).normal(size=(rows * cols, d))

    def som():
        return protoflow.create_model("som", rows=rows, cols=cols, epochs=epochs, init=W0)

    out: dict = {"mode": mode, "n": n, "epochs": epochs}
    if mode == "in-memory":
        Xn = X.compute(scheduler="threads")
        t = time.perf_counter()
        model = som().fit(Xn)
        out["epoch_s"] = (time.perf_counter() - t) / epochs
        out["peak_mb"] = _peak_rss_mb()
    elif mode == "dask-threads":
        t = time.perf_counter()
        model = som().fit(X)
        out["epoch_s"] = (time.perf_counter() - t) / epochs
        out["peak_mb"] = _peak_rss_mb()
        t = time.perf_counter()
        X.sum().compute()  # one pass of the generator alone (after the fit: warm)
        out["generate_s"] = time.perf_counter() - t
    else:
        import distributed

        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GiB",
            host="127.0.0.1", dashboard_address=None, silence_logs=50,
        ) as cluster, distributed.Client(cluster) as client:
            t = time.perf_counter()
            model = som().fit(X)
            out["epoch_s"] = (time.perf_counter() - t) / epochs
            peaks = client.run(_peak_rss_mb)
            out["peak_mb"] = max(peaks.values())
            out["client_peak_mb"] = _peak_rss_mb()
    out["final_qe"] = float(model.quantization_error_history_[-1])
    out["dask"] = dask.__version__
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--rows", type=int, default=30)
    ap.add_argument("--cols", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=3, help="epochs below 1e7 samples (1e7: 1)")
    ap.add_argument("--modes", nargs="+", default=["in-memory", "dask-threads", "dask-cluster"])
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--one", nargs=6, metavar=("MODE", "N", "D", "ROWS", "COLS", "EPOCHS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        mode, *nums = args.one
        print(json.dumps(one(mode, *map(int, nums))))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _doc_sections import machine, write_section

    results = []
    for n in map(int, args.sizes):
        epochs = 1 if n >= 10_000_000 else args.epochs
        for mode in args.modes:
            cmd = [sys.executable, __file__, "--one", mode, str(n), str(args.features),
                   str(args.rows), str(args.cols), str(epochs)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{mode} n={n} failed")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["wall_s"] = time.perf_counter() - t
            results.append(r)
            print(json.dumps(r), flush=True)

    base = {r["n"]: r["epoch_s"] for r in results if r["mode"] == "in-memory"}
    lines = [
        f"Batch SOM epochs on a {args.rows}x{args.cols} map, D = {args.features}, float64, data "
        f"generated chunk by chunk ({CHUNK_ROWS:,} rows a chunk) by `protoflow.scale.gmm_chunks`.",
        f"Machine: {machine()}; dask {results[0]['dask']}.",
        "",
        f"Command: `flock /tmp/protoflow-heavy.lock .venv/bin/python benchmarks/bench_dask.py "
        f"{' '.join(sys.argv[1:])}`. Time per epoch = fit time / "
        f"epochs, from given prototypes ({args.epochs} epochs below 1e7 samples; 1e7: one epoch only, "
        "as a full 50-epoch run would take a long while on 2 cores). The Dask modes regenerate the "
        "data inside every epoch; the in-memory mode does not (its data are made before timing), "
        "so the generate column (one threaded pass over the generator) is part of the Dask "
        "epochs' cost. Peak memory: peak RSS of the process, or of the larger cluster worker.",
        "",
        "| n_samples | mode | s / epoch | vs in-memory | generate (s) | peak memory (MB) | final QE |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ratio = f"{r['epoch_s'] / base[r['n']]:.2f}x" if r["n"] in base else "n/a"
        gen = f"{r['generate_s']:.2f}" if "generate_s" in r else ""
        lines.append(
            f"| {r['n']:,} | {r['mode']} | {r['epoch_s']:.2f} | {ratio} | {gen} | "
            f"{r['peak_mb']:.0f} | {r['final_qe']:.4f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.write_docs:
        write_section(ROOT / "docs" / "benchmarks.md", "dask", "## Dask", table)


if __name__ == "__main__":
    main()
