"""Speed of one MUSIC step against a dense D x D solve of the same step (issue 4).

1. D = 512, 1,024 prototypes, preserving all non-targets (r = 1,024 rows >= D: the D x D
   Cholesky route), against forming the normal equations and calling a dense solver.
2. Ring preservation (radius 3 on a 32 x 32 lattice: r = 25 rows) for D = 64 .. 4,096: the
   r x r push-through route, whose cost grows linearly in D, against the dense D x D solve,
   which grows like D^3.

Each time is the median of repeated runs in this one process; ratios are what to compare.
Writes its tables into the "## MUSIC" section of docs/benchmarks.md, between the markers
``<!-- music:begin -->`` and ``<!-- music:end -->``; the rest of the file (other benchmarks'
sections) is kept as it is. The file is created when absent.

    flock /tmp/protoflow-heavy.lock .venv/bin/python benchmarks/bench_music.py [--out FILE | --no-write]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _doc_sections import machine, write_section
from protoflow_music import MUSIC

from protoflow.prototypes import PrototypeSet
from protoflow.topology import Lattice

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn: Callable[[], object], min_repeats: int = 3, budget_s: float = 2.0) -> float:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < budget_s and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def dense_step(W: np.ndarray, z: np.ndarray, t: int, preserved: np.ndarray, gamma=0.9, lam=1e-2, eta=0.5):
    """The same MUSIC step, the textbook way: form the D x D normal equations, dense solve."""
    J = 2.0 * (z - W)
    J /= np.linalg.norm(J, axis=1, keepdims=True)
    A, B = J[preserved], J[[t]]
    b = np.array([-eta * np.linalg.norm(z - W[t]) / 2.0])
    M = (1 - gamma) * A.T @ A + gamma * B.T @ B + lam * np.eye(W.shape[1])
    return np.linalg.solve(M, gamma * B.T @ b)


def bench_all(rng: np.random.Generator) -> list[str]:
    D, N, t = 512, 1024, 7
    model = PrototypeSet(rng.normal(size=(N, D)))
    z = rng.normal(size=D)
    ctrl = MUSIC(trust=1e9, trust_mode="absolute")
    preserved = np.delete(np.arange(N), t)
    ours = median_time(lambda: ctrl.step(model, z, t))
    dense = median_time(lambda: dense_step(model.prototypes_, z, t, preserved))
    wood = median_time(lambda: MUSIC(trust=1e9, trust_mode="absolute", solver="woodbury").step(model, z, t))
    err = np.abs((ctrl.step(model, z, t) - z) - dense_step(model.prototypes_, z, t, preserved)).max()
    route = ctrl.run(model, z, t, 1).info[0]["solver"]
    return [
        f"One step, D = {D}, {N} prototypes, all {N - 1} non-targets preserved "
        f"(route chosen: {route}; max difference from the dense solve {err:.1e}):",
        "",
        "| implementation | time per step (ms) | ratio to dense |",
        "| --- | --- | --- |",
        f"| protoflow MUSIC step (auto: {route}) | {1e3 * ours:.2f} | {ours / dense:.2f} |",
        f"| protoflow MUSIC step (forced woodbury, r x r) | {1e3 * wood:.2f} | {wood / dense:.2f} |",
        f"| dense D x D normal equations + np.linalg.solve | {1e3 * dense:.2f} | 1.00 |",
        "",
    ]


def bench_ring(rng: np.random.Generator, dims: tuple[int, ...]) -> list[str]:
    topo = Lattice(32, 32)
    t = 0
    rows = [
        "Ring preservation (radius 3 on a 32 x 32 lattice: 25 preserved rows + 1 target):",
        "",
        "| D | MUSIC step (ms) | per D (us) | dense D x D (ms) | dense / MUSIC | route |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for D in dims:
        model = PrototypeSet(rng.normal(size=(topo.n_units, D)), topo)
        z = model.prototypes_[600] + 0.1 * rng.normal(size=D)
        ctrl = MUSIC(preserve="ring", radius=3, trust=1e9, trust_mode="absolute")
        bmu = int(model.bmu(z[None])[0])
        preserved = np.setdiff1d(topo.ring(bmu, 3, include_self=True), [t])
        ours = median_time(lambda: ctrl.step(model, z, t))  # noqa: B023 (timed at once)
        dense = median_time(lambda: dense_step(model.prototypes_, z, t, preserved), min_repeats=2, budget_s=1.0)  # noqa: B023
        err = np.abs((ctrl.step(model, z, t) - z) - dense_step(model.prototypes_, z, t, preserved)).max()
        assert err < 1e-8, f"MUSIC and the dense solve disagree by {err:.1e} at D = {D}"
        route = ctrl.run(model, z, t, 1).info[0]["solver"]
        rows.append(
            f"| {D} | {1e3 * ours:.3f} | {1e6 * ours / D:.3f} | {1e3 * dense:.2f} | {dense / ours:.1f} | {route} |"
        )
    return [*rows, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                    help="markdown file whose MUSIC section receives the tables")
    ap.add_argument("--no-write", action="store_true", help="print the tables only")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    lines = [
        f"Median wall time of one step from one point, float64, on {machine()}; generated by "
        "`flock /tmp/protoflow-heavy.lock .venv/bin/python benchmarks/bench_music.py`.",
        "",
        *bench_all(rng),
        *bench_ring(rng, (64, 128, 256, 512, 1024, 2048, 4096)),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(args.out, "music", "## MUSIC", "\n".join(lines))
        print(f"wrote the MUSIC section of {args.out}")


if __name__ == "__main__":
    main()
