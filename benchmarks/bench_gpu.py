"""protoflow's SOM on CUDA against torchsom on the same device: one command.

    .venv/bin/python benchmarks/bench_gpu.py [--cases published digits gmm blobs] [--repeats 3]
        [--torchsom-batch 256] [--allow-cpu] [--quick] [--out FILE.md] [--json FILE.json]
        [--peer-dirs /tmp/torchsom_pkgs ...]

Cases:

- "published": torchsom's published benchmark setup (its benchmark/configs/benchmark.yaml and
  benchmark.py, JMLR 2026): scikit-learn ``make_blobs(16_000, 300, random_state=42)`` (its
  largest configuration's training set: 80 % of 20,000), maps 25x15 and 90x70, 100 epochs.
  torchsom exactly as there: full batch (batch_size = n_samples), sigma 1.45, learning rate 0.95,
  ``asymptotic_decay`` for both, Gaussian, rectangular, PCA init, ``search_backend="torch"``,
  float32. protoflow: its `SOM` defaults (batch rule, T = max(rows, cols)/2 -> /20, PCA init)
  with ``backend="torch", device="cuda", dtype="float32"``, 100 epochs.
- "digits", "gmm", "blobs": the workloads of benchmarks/bench_som.py (digits 1,797 x 64 at
  20x20, GMM 25,000 x 10 at 20x20, make_blobs 100,000 x 50 at 30x30), 10 epochs, each library
  with the recipe of bench_som.py (torchsom's matched schedule, mini-batch `--torchsom-batch`,
  256 by default, 0 for full batch), both on the device, float32.

Timing: in this process (CUDA does not survive a fork); one untimed warm-up fit of each library
and case first (CUDA context, cuBLAS / cuSOLVER initialisation: torchsom's own benchmark does
the same), then the best of `--repeats` fits. Each timed fit starts from host NumPy data and
ends with the codebook back on the host (both include the transfers; torchsom's runner
synchronises the device before returning). Every codebook is scored on the CPU by
bench_som.py's `score` (QE: mean distance to the BMU; TE: first and second BMU not
4-neighbours). Ratios are to protoflow's in the same case of the same run.

Without CUDA this exits with code 3 (EXIT_NO_CUDA) and says so, unless ``--allow-cpu``: then
the same runs on the CPU as a smoke test (``--quick`` shrinks every case: n / 16, at least 500
rows, 30 features for "published", 3 epochs, 25x15 only). Code 4 (EXIT_NO_TORCH): torch does not
import. torchsom (``pip install --no-deps --target /tmp/torchsom_pkgs torchsom==1.3.1 tqdm
hdbscan``, benchmarks/README.md) is looked for in `--peer-dirs`; when it does not import its rows
say so and protoflow still runs. benchmarks/gpu_device_check.sh runs this on a fresh GPU machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_som import (  # the recipes and the one scoring of the CPU benchmark
    PEER_DIRS,
    TORCHSOM_BATCH,
    _fmt,
    add_peer_dirs,
    import_error,
    load_workload,
    run_torchsom,
    score,
)

from protoflow.io import atomic_write_text

EXIT_NO_CUDA = 3
EXIT_NO_TORCH = 4
CASES = ("published", "digits", "gmm", "blobs")
PROTOFLOW, TORCHSOM = "protoflow (torch)", "torchsom"


def published_data(quick: bool) -> np.ndarray:
    """torchsom's largest published training set, make_blobs 16,000 x 300 (seed 42)."""
    from sklearn.datasets import make_blobs

    n, dim = (1_000, 30) if quick else (16_000, 300)
    return make_blobs(n_samples=n, n_features=dim, random_state=42)[0].astype(np.float32)


def run_protoflow(X: np.ndarray, rows: int, cols: int, epochs: int, device: str) -> Callable[[], np.ndarray]:
    """protoflow's default batch SOM on the torch backend (float32) on `device`."""
    def fn() -> np.ndarray:
        from protoflow_som import SOM

        som = SOM(rows=rows, cols=cols, epochs=epochs, seed=0, backend="torch", device=device,
                  dtype="float32")
        return som.fit(X.astype(np.float32, copy=False)).prototypes_.astype(np.float64)
    return fn


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[list[float], np.ndarray]:
    """(seconds of each of `repeats` fits after one untimed warm-up, the last codebook)."""
    W = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        W = fn()
        times.append(time.perf_counter() - t0)
    return times, W


def plan(cases: list[str], quick: bool, torchsom_batch: int) -> list[dict[str, Any]]:
    """One entry per (case, map): the data, map, epochs and the torchsom runner's arguments."""
    out: list[dict[str, Any]] = []
    for case in cases:
        if case == "published":
            X = published_data(quick)
            for rows, cols in ((25, 15),) if quick else ((25, 15), (90, 70)):
                out.append({"case": case, "X": X, "rows": rows, "cols": cols,
                            "epochs": 3 if quick else 100,
                            "torchsom": {"batch_size": len(X), "sigma": 1.45,
                                         "sigma_decay": "asymptotic_decay"},
                            "torchsom_setup": "published: full batch, sigma 1.45, lr 0.95"})
        else:
            X, side = load_workload(case)
            if quick:
                X = X[: max(500, len(X) // 16)]
            batch = torchsom_batch or len(X)
            out.append({"case": case, "X": X.astype(np.float32), "rows": side, "cols": side,
                        "epochs": 2 if quick else 10, "torchsom": {"batch_size": batch},
                        "torchsom_setup": f"bench_som recipe, batch {batch}"})
    return out


def bench(cases: list[str], device: str, repeats: int, quick: bool, torchsom_batch: int) -> list[dict[str, Any]]:
    """Rows: one per (case, map, library) with times, QE, TE (or the reason it was skipped)."""
    why_not = import_error("torchsom")
    if why_not is not None:
        print(f"note: torchsom does not import, its rows are skipped ({why_not})", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    for job in plan(cases, quick, torchsom_batch):
        X, r, c, e = job["X"], job["rows"], job["cols"], job["epochs"]
        base = {"case": job["case"], "n": len(X), "dim": X.shape[1], "map": f"{r}x{c}", "epochs": e,
                "device": device}
        runners: list[tuple[str, Callable[[], np.ndarray] | None, str]] = [
            (PROTOFLOW, run_protoflow(X, r, c, e, device), "SOM defaults, float32"),
            (TORCHSOM, None if why_not else run_torchsom(X, c, e, device=device, rows=r, **job["torchsom"]),
             job["torchsom_setup"])]
        for lib, fn, setup in runners:
            row = {**base, "library": lib, "setup": setup}
            if fn is None:
                row["note"] = f"skipped: torchsom not importable ({why_not})"
            else:
                try:
                    times, W = timed(fn, repeats)
                    qe, te = score(W, X, r, c)
                    row.update(seconds=min(times), seconds_runs=times, qe=qe, te=te)
                except Exception as exc:  # one library failing must not end the run
                    row["note"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            print(json.dumps(row, default=float), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per row, ratios to protoflow's in the same case and map."""
    ours = {(r["case"], r["map"]): r for r in rows if r["library"] == PROTOFLOW and "seconds" in r}
    out = ["| case | map | epochs | library | setup | time (s) | time / protoflow | QE | TE | "
           "QE / protoflow | TE / protoflow | note |",
           "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        o = ours.get((r["case"], r["map"]), {})

        def ratio(key: str, row: dict[str, Any] = r, base: dict[str, Any] = o) -> float | None:
            a, b = row.get(key), base.get(key)
            return None if a is None or not b else a / b

        out.append(f"| {r['case']} {r['n']:,}x{r['dim']} | {r['map']} | {r['epochs']} | {r['library']} | "
                   f"{r['setup']} | {_fmt(r.get('seconds'), '.3f')} | {_fmt(ratio('seconds'), '.2f')} | "
                   f"{_fmt(r.get('qe'), '.4f')} | {_fmt(r.get('te'), '.4f')} | {_fmt(ratio('qe'), '.3f')} | "
                   f"{_fmt(ratio('te'), '.2f')} | {r.get('note', '')} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the cases; returns the exit code (0, EXIT_NO_CUDA or EXIT_NO_TORCH)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--repeats", type=int, default=3, help="time: best of this many (after a warm-up)")
    p.add_argument("--torchsom-batch", type=int, default=TORCHSOM_BATCH,
                   help="torchsom's mini-batch on digits/gmm/blobs (0: full batch)")
    p.add_argument("--allow-cpu", action="store_true", help="without CUDA, run on the CPU (smoke test)")
    p.add_argument("--quick", action="store_true", help="tiny cases (smoke test)")
    p.add_argument("--peer-dirs", nargs="*", default=list(PEER_DIRS))
    p.add_argument("--out", type=Path, default=None, help="write the markdown here")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    try:
        import torch
    except Exception as exc:
        print(f"bench_gpu: torch does not import ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_NO_TORCH
    if torch.cuda.is_available():
        device, where = "cuda", torch.cuda.get_device_name(0)
    elif a.allow_cpu:
        device, where = "cpu", "CPU (no CUDA device: --allow-cpu smoke run, not a GPU result)"
        print("bench_gpu: no CUDA device; running on the CPU because of --allow-cpu", file=sys.stderr)
    else:
        print(f"bench_gpu: no CUDA device (torch {torch.__version__}, "
              f"torch.cuda.is_available() is False); nothing measured. Run it on a GPU machine "
              f"(benchmarks/gpu_device_check.sh), or pass --allow-cpu for a CPU smoke run. "
              f"Exit code {EXIT_NO_CUDA}.", file=sys.stderr)
        return EXIT_NO_CUDA
    add_peer_dirs(a.peer_dirs)
    from _doc_sections import machine

    command = ".venv/bin/python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    header = machine()
    rows = bench(a.cases, device, a.repeats, a.quick, a.torchsom_batch)
    text = (f"Measured with `{command}` on {where}; torch {torch.__version__}; {header}. Best of "
            f"{a.repeats} fits after one warm-up each; settings in benchmarks/bench_gpu.py's "
            f"docstring.\n\n{table(rows)}\n")
    print(text)
    if a.out:
        atomic_write_text(a.out, text)
    if a.json:
        atomic_write_text(a.json, json.dumps({"command": command, "device": where, "torch": torch.__version__,
                                              "machine": header, "rows": rows}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
