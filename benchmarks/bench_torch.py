"""numpy against torch (CPU, and CUDA when present) for the three batched kernels (issue 6).

1. One batch SOM epoch (`SOM._epoch`: BMUs of every row, per-unit sums, the kernel update),
   float64 and float32, with the data already where the epoch computes (as `fit` does).
2. One batch inversion (`Inverter.invert`) of 100,000 activation vectors: numpy in/numpy out,
   and, for torch, also a tensor already on the device in and out (no host copies).
3. One batched MUSIC step (`MUSIC.step` on a (n_points, D) batch): the D x D Cholesky route
   (all non-targets preserved) and the r x r push-through route (k nearest preserved).

Each time is the median of repeated runs in this one process (after one warm-up run); ratios
against numpy on the same machine are what to compare. Every torch result is checked against
numpy before it is timed. Writes its table into docs/benchmarks.md between the torch markers
(keeping the rest of the file):

    flock /tmp/protoflow-heavy.lock .venv/bin/python benchmarks/bench_torch.py
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from protoflow_music import MUSIC
from protoflow_som import SOM

from protoflow.inversion import Inverter, activations
from protoflow.io import atomic_write_text
from protoflow.prototypes import PrototypeSet
from protoflow.topology import Lattice

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- torch:begin -->", "<!-- torch:end -->"


def median_time(fn: Callable[[], object], sync: Callable[[], None], budget_s: float) -> float:
    """Median wall time of fn() (at least 3 runs, more while within budget_s), after a warm-up."""
    fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget_s and len(times) < 30):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def backends() -> list[tuple[str, str, Any]]:
    """(label, backend, device) for numpy, torch-CPU and torch-CUDA when available."""
    out: list[tuple[str, str, Any]] = [("numpy", "numpy", None), ("torch cpu", "torch", "cpu")]
    if torch.cuda.is_available():
        out.append((f"torch cuda ({torch.cuda.get_device_name(0)})", "torch", "cuda"))
    return out


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench_som(rng: np.random.Generator, budget: float, quick: bool) -> list[list[str]]:
    rows = []
    n = 5_000 if quick else 50_000
    for D, side in [(64, 20), (784, 20)]:
        X = rng.normal(size=(n, D))
        for dtype in ("float64", "float32"):
            ref = None
            for label, backend, device in backends():
                m = SOM(rows=side, cols=side, epochs=10, dtype=dtype, seed=0, backend=backend, device=device)
                cfg = m._config()
                Xd = m._on_device(m._start(X, cfg), cfg)
                W0 = m.prototypes_.copy()

                def epoch(m: SOM = m, Xd: Any = Xd, W0: np.ndarray = W0, cfg: dict = cfg) -> None:
                    m.prototypes_, m.n_iter_ = W0, 0  # always the first epoch, same work
                    m._epoch(Xd, cfg)

                epoch()
                if ref is None:
                    ref = m.prototypes_.copy()
                err = float(np.abs(m.prototypes_ - ref).max())
                t = median_time(epoch, _sync, budget)
                base = t if backend == "numpy" else base  # noqa: F821 (numpy runs first)
                rows.append([f"SOM batch epoch, {n:,} x {D}, {side}x{side} units, {dtype}", label,
                             f"{1e3 * t:.1f}", f"{base / t:.2f}", f"{err:.1e}"])
    return rows


def bench_inversion(rng: np.random.Generator, budget: float, quick: bool) -> list[list[str]]:
    n, K, D = (10_000 if quick else 100_000), 1024, 64
    W = rng.normal(size=(K, D))
    A = activations(rng.normal(size=(n, D)), W)
    ref = Inverter(W).invert(A)
    rows = []
    what = f"inversion, {n:,} points, {K} units, D = {D}"
    for label, backend, device in backends():
        inv = Inverter(W, backend=backend, device=device)
        err = float(np.abs(inv.invert(A) - ref).max())
        t = median_time(lambda inv=inv: inv.invert(A), _sync, budget)
        base = t if backend == "numpy" else base  # noqa: F821
        rows.append([what, label + " (numpy in/out)" * (backend != "numpy"), f"{1e3 * t:.1f}",
                     f"{base / t:.2f}", f"{err:.1e}"])
        if backend == "torch":
            At = torch.as_tensor(A, device=device)
            t = median_time(lambda inv=inv, At=At: inv.invert(At), _sync, budget)
            rows.append([what, label + " (tensor on device in/out)", f"{1e3 * t:.1f}", f"{base / t:.2f}",
                         f"{err:.1e}"])
    return rows


def bench_music(rng: np.random.Generator, budget: float, quick: bool) -> list[list[str]]:
    rows = []
    n = 200 if quick else 2_000
    topo = Lattice(16, 16)
    for D, params in [(32, {"preserve": "all"}), (256, {"preserve": "knn", "k": 16})]:
        model = PrototypeSet(rng.normal(size=(topo.n_units, D)), topo)
        Z = rng.normal(size=(n, D))
        ref = None
        for label, backend, device in backends():
            ctrl = MUSIC(mode="cluster", backend=backend, device=device, seed=0, **params)
            target = [5, 6, 21]
            out = ctrl.step(model, Z, target)
            ref = out if ref is None else ref
            err = float(np.abs(out - ref).max())
            route = ctrl.run(model, Z[:2], target, 1).info[0]["solver"]
            t = median_time(lambda c=ctrl, m=model, Z=Z, t=target: c.step(m, Z, t), _sync, budget)
            base = t if backend == "numpy" else base  # noqa: F821
            rows.append([f"MUSIC step, {n:,} points, {topo.n_units} units, D = {D}, "
                         f"preserve={params['preserve']} ({route})", label, f"{1e3 * t:.1f}",
                         f"{base / t:.2f}", f"{err:.1e}"])
    return rows


def write_section(path: Path, lines: list[str]) -> None:
    """Replace what lies between the torch markers of `path` (or append the section)."""
    block = "\n".join([BEGIN, *lines, END])
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, count=1, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Torch backend\n\n" + block + "\n"
    atomic_write_text(path, text.rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run; nothing written)")
    ap.add_argument("--budget", type=float, default=3.0, help="seconds of repeats per timing")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    table = [*bench_som(rng, args.budget, args.quick), *bench_inversion(rng, args.budget, args.quick),
             *bench_music(rng, args.budget, args.quick)]
    cpu = f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    lines = [
        "",
        f"Measured by `benchmarks/bench_torch.py` on {cpu}; numpy {np.__version__}, torch "
        f"{torch.__version__}; CUDA: "
        f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available on this machine'}.",
        "Median time per call; speed-up = numpy time / this time (higher is better); "
        "max |diff| = largest absolute difference from the numpy result.",
        "",
        "| workload | backend | time (ms) | speed-up vs numpy | max abs diff |",
        "| --- | --- | --- | --- | --- |",
        *("| " + " | ".join(row) + " |" for row in table),
        "",
    ]
    print("\n".join(lines))
    if not (args.no_write or args.quick):
        write_section(args.out, lines)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
