"""GNG against a same-size k-means on the Gaussian-mixture workload (issue 2's target: GNG's
quantization error within 10% of k-means').

    .venv/bin/python benchmarks/bench_gng.py [--n-samples 25000] [--dim 10] [--units 400]
        [--epochs 10] [--seeds 0 1 2] [--json PATH]

Data: a 3-component Gaussian mixture in `dim` dimensions (weights 0.5/0.3/0.2, means drawn
from N(0, 3^2 I), per-axis standard deviations uniform in [0.5, 1.5]), seed 0. Both codebooks
are scored with protoflow's own `quantization_error`. k-means is scikit-learn's `KMeans`
(k-means++, n_init=1, default max_iter). Prints a markdown table: fit time, microseconds per GNG
sample, units reached, QE of both and their ratio (the target is <= 1.10), GNG's topographic
error on its own graph.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

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
    args = ap.parse_args()

    X = gaussian_mixture(args.n_samples, args.dim)
    print(f"machine: {platform.machine()} {platform.processor() or 'cpu'}, numpy {np.__version__}, "
          f"{date.today()}; data {X.shape}, {args.units} units, GNG epochs {args.epochs}")
    print("| seed | GNG fit (s) | us/sample | units | GNG QE | GNG TE | k-means fit (s) | k-means QE | QE ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
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
        print(f"| {seed} | {t_gng:.2f} | {row['us_per_sample']:.1f} | {row['units']} | "
              f"{row['gng_qe']:.4f} | {row['gng_te']:.4f} | {t_km:.2f} | {row['kmeans_qe']:.4f} | "
              f"{row['qe_ratio']:.3f} |")
    ratios = [r["qe_ratio"] for r in rows]
    print(f"\nQE ratio GNG / k-means: mean {np.mean(ratios):.3f}, worst {max(ratios):.3f} "
          f"(target <= 1.10: {'met' if max(ratios) <= 1.10 else 'NOT met'})")
    if args.json:
        atomic_write_text(args.json, json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
