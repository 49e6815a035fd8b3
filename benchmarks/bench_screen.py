"""The float32 screen of the BMU search, before and after in one run: protoflow's batch SOM fit
with ``bmu_search(screen=True)`` (the default) and ``screen=False`` (float64 throughout),
alternating, best of ``--repeats``, wall-clock, in this process.

    .venv/bin/python benchmarks/bench_screen.py [--workloads digits gmm blobs] [--repeats 5]

Prints one line per workload: both times, their ratio, and whether the BMUs of the final
prototypes agree (they must: the screen returns float64's BMUs).
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
from bench_som import load_workload
from protoflow_som import SOM, batch

from protoflow import inversion


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["digits", "gmm", "blobs"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    search = inversion.bmu_search
    for name in args.workloads:
        X, side = load_workload(name)
        best = {True: np.inf, False: np.inf}
        fitted = {}
        SOM(rows=side, cols=side, epochs=1, seed=0).fit(X)  # untimed: first-call costs
        for _ in range(args.repeats):
            for screen in (True, False):
                batch.bmu_search = functools.partial(search, screen=screen)  # the epochs' search
                t0 = time.perf_counter()
                fitted[screen] = SOM(rows=side, cols=side, epochs=10, seed=0).fit(X)
                best[screen] = min(best[screen], time.perf_counter() - t0)
        batch.bmu_search = search
        S = inversion.scoring_matrix(fitted[False].prototypes_)
        same = np.array_equal(search(X, S)[0], search(X, S, screen=False)[0])
        print(f"{name}: screened {best[True]:.4f} s, float64 {best[False]:.4f} s, "
              f"ratio {best[True] / best[False]:.3f}; same BMUs of the final prototypes: {same}",
              flush=True)


if __name__ == "__main__":
    main()
