"""GNG against a same-size k-means on the Gaussian-mixture workload (issue 2's target: GNG's
quantization error within 10% of k-means').

    .venv/bin/python benchmarks/bench_gng.py [--n-samples 25000] [--dim 10] [--units 400]
        [--epochs 10] [--seeds 0 1 2] [--json PATH] [--out docs/benchmarks.md]

Data: a 3-component Gaussian mixture in `dim` dimensions (weights 0.5/0.3/0.2, means drawn
from N(0, 3^2 I), per-axis standard deviations uniform in [0.5, 1.5]), seed 0. Both codebooks
are scored with protoflow's own `quantization_error`. k-means is scikit-learn's `KMeans`
(k-means++, n_init=1, default max_iter). Prints a markdown table: fit time, microseconds per GNG
sample, units reached, QE of both and their ratio (the target is <= 1.10), GNG's topographic
error on its own graph. ``--out`` also writes the table into the "## GNG" section of that markdown
file, between ``<!-- gng:begin -->`` and ``<!-- gng:end -->`` (other sections are left alone).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from protoflow.io import atomic_write_text
from protoflow.metrics.map_quality import quantization_error, topographic_error
from protoflow.prototypes import PrototypeSet


def gaussian_mixture(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n, dim) samples from a fixed 3-component mixture."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(3, dim))
    scales = rng.uniform(0.5, 1.5, size=(3, dim))
    comp = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return means[comp] + rng.normal(size=(n, dim)) * scales[comp]


def main() -> None:
    from protoflow_gng import GrowingNeuralGas
    from sklearn.cluster import KMeans

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-samples", type=int, default=25_000)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--units", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    ap.add_argument("--out", type=Path, default=None, help="markdown file for the ## GNG section")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _doc_sections import machine, write_section

    X = gaussian_mixture(args.n_samples, args.dim)
    lines = [f"Measured with `.venv/bin/python benchmarks/bench_gng.py {' '.join(sys.argv[1:])}` on "
             f"{machine()}; data {X.shape[0]:,}x{X.shape[1]} (3-component Gaussian mixture), "
             f"{args.units} units, GNG epochs {args.epochs}; k-means is scikit-learn's KMeans "
             "(k-means++, n_init=1, default max_iter) with the same number of units.", "",
             "| seed | GNG fit (s) | us/sample | units | GNG QE | GNG TE | k-means fit (s) | k-means QE | QE ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    print("\n".join(lines), flush=True)
    rows = []
    for seed in args.seeds:
        t = time.perf_counter()
        gng = GrowingNeuralGas(max_units=args.units, epochs=args.epochs, seed=seed).fit(X)
        t_gng = time.perf_counter() - t
        t = time.perf_counter()
        km = KMeans(args.units, n_init=1, random_state=seed).fit(X)
        t_km = time.perf_counter() - t
        row = {
            "seed": seed,
            "gng_s": t_gng,
            "us_per_sample": 1e6 * t_gng / gng.n_steps_,
            "units": len(gng.prototypes_),
            "gng_qe": quantization_error(gng, X),
            "gng_te": topographic_error(gng, X),
            "kmeans_s": t_km,
            "kmeans_qe": quantization_error(PrototypeSet(km.cluster_centers_), X),
        }
        row["qe_ratio"] = row["gng_qe"] / row["kmeans_qe"]
        rows.append(row)
        lines.append(f"| {seed} | {t_gng:.2f} | {row['us_per_sample']:.1f} | {row['units']} | "
                     f"{row['gng_qe']:.4f} | {row['gng_te']:.4f} | {t_km:.2f} | {row['kmeans_qe']:.4f} | "
                     f"{row['qe_ratio']:.3f} |")
        print(lines[-1], flush=True)
    ratios = [r["qe_ratio"] for r in rows]
    lines += ["", f"Target (issue 2): GNG's QE within 10% of a same-size k-means, i.e. QE ratio <= 1.10. "
              f"Measured: mean {np.mean(ratios):.3f}, worst {max(ratios):.3f}: "
              f"**{'PASS' if max(ratios) <= 1.10 else 'MISS'}**."]
    print("\n".join(lines[-2:]))
    if args.out:
        write_section(args.out, "gng", "## GNG", "\n".join(lines))
    if args.json:
        atomic_write_text(args.json, json.dumps({"args": vars(args), "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
