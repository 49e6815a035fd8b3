"""Inversion cost: a batch of activation vectors against one bare matrix product.

    .venv/bin/python benchmarks/bench_inversion.py [--repeats 20] [--out docs/benchmarks.md]

Prints (and with --out writes into the "## Inversion" section of that file) a markdown table: factorisation time, batch inversion time, the floor (one
(n, n_units) @ (n_units, D) product), their ratio, and the max relative error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from protoflow import Inverter, activations


def _best(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None, help="markdown file for the section")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _doc_sections import machine, write_section

    rng = np.random.default_rng(0)
    lines = [
        f"Machine: {machine()}. Command: `.venv/bin/python benchmarks/bench_inversion.py "
        f"--repeats {args.repeats}`. Best of the repeats; the floor is the bare (n, n_units) @ "
        "(n_units, D) product with the same operator; error is max |Z_hat - Z| / max |Z|.",
        "",
        "| n_points | n_units | D | factorise (ms) | invert batch (ms) | floor matmul (ms) | ratio | max rel. error |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    for n, K, D in [(10_000, 400, 50), (10_000, 1024, 64), (100_000, 400, 50)]:
        W = rng.normal(size=(K, D))
        Z = rng.normal(size=(n, D))
        A = activations(Z, W)
        t_fact = _best(lambda W=W: Inverter(W), max(3, args.repeats // 4))
        inv = Inverter(W)
        K_op = np.ascontiguousarray(inv._K.T)
        t_inv = _best(lambda inv=inv, A=A: inv.invert(A), args.repeats)
        t_floor = _best(lambda A=A, K_op=K_op: A @ K_op, args.repeats)
        err = np.abs(inv.invert(A) - Z).max() / np.abs(Z).max()
        lines.append(f"| {n:,} | {K} | {D} | {1e3 * t_fact:.1f} | {1e3 * t_inv:.1f} | "
                     f"{1e3 * t_floor:.1f} | {t_inv / t_floor:.2f} | {err:.1e} |")
        print(lines[-1], flush=True)
    if args.out is not None:
        write_section(args.out, "inversion", "## Inversion", "\n".join(lines))


if __name__ == "__main__":
    main()
