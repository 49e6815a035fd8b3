"""protoflow's batch SOM on its three lattices (rectangular, hexagonal, toroidal) in one run.

Usage::

    .venv/bin/python benchmarks/bench_lattices.py [--workloads digits gmm blobs] [--repeats 9]
        [--json PATH] [--out docs/benchmarks.md]

Each measurement is `bench_som.measure` (a forked child: a first fit, then a second, warm one)
of ``SOM(rows=side, cols=side, epochs=10, seed=0)`` with ``kind="hex"`` or ``toroidal=True``
or neither, on `bench_som.load_workload`'s data. The three lattices alternate, repeat after
repeat, so that the state of this shared VM at a fork falls on all three alike: on this VM the
forked children come out bimodal, some running every fit about 2x slower than the others (the
same code, the same prototypes; BLAS-bound work in many small products, as if the second core
were slow to join), so take enough repeats for each lattice to get fast ones (9 here;
`bench_som.py` alternates its libraries the same way, best of 3). Times are the best of
`--repeats`; "/ rect" is the ratio to
the rectangular map's in the same workload. QE and TE are scored on each map's own lattice
(`bench_som.score`). Run it under ``flock /tmp/protoflow-heavy.lock``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _doc_sections import machine, write_section
from bench_som import load_workload, measure, run_protoflow, score

#: label and SOM keywords of each lattice
LATTICES = {"rect": {}, "hex": {"kind": "hex"}, "torus": {"toroidal": True}}
EPOCHS = 10


def bench(workload: str, repeats: int) -> list[dict[str, Any]]:
    """One row per lattice: best first-fit and warm seconds of `repeats` alternating runs."""
    X, side = load_workload(workload)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in LATTICES}
    codebooks: dict[str, Any] = {}
    for _ in range(repeats):
        for name, kw in LATTICES.items():
            seconds, _, _, W, err, warm = measure(run_protoflow(X, side, EPOCHS, **kw), True)
            if err:
                raise SystemExit(f"{name} on {workload}: {err}")
            runs[name].append((seconds, warm))
            codebooks[name] = W
    rows = []
    for name, kw in LATTICES.items():
        qe, te = score(codebooks[name], X, side, side, **kw)
        rows.append({"workload": workload, "n": len(X), "dim": X.shape[1], "map": f"{side}x{side}",
                     "lattice": name, "seconds": min(s for s, _ in runs[name]),
                     "warm_s": min(w for _, w in runs[name]), "runs": runs[name], "qe": qe, "te": te})
    rect = rows[0]
    for row in rows:
        row["time_ratio"] = row["seconds"] / rect["seconds"]
        row["warm_ratio"] = row["warm_s"] / rect["warm_s"]
    return rows


def render(rows: list[dict[str, Any]], command: str, repeats: int) -> str:
    """The markdown section: how it was measured, the table, the worst ratios."""
    out = [f"Measured with `{command}` (under `flock /tmp/protoflow-heavy.lock`) on {machine()}; "
           f"{EPOCHS} epochs, best of {repeats} alternating runs per lattice; \"/ rect\" is the "
           "ratio to the rectangular map in the same workload; QE / TE on each map's own lattice.",
           "", "| workload | lattice | first fit (s) | / rect | warm fit (s) | / rect | QE | TE |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['workload']} {r['n']:,}x{r['dim']}, {r['map']} | {r['lattice']} | "
                   f"{r['seconds']:.3f} | {r['time_ratio']:.2f} | {r['warm_s']:.3f} | "
                   f"{r['warm_ratio']:.2f} | {r['qe']:.4f} | {r['te']:.4f} |")
    others = [r for r in rows if r["lattice"] != "rect"]
    if others:
        worst = max(others, key=lambda r: r["warm_ratio"])
        worst_first = max(others, key=lambda r: r["time_ratio"])
        out += ["", f"Slowest against the rectangular map: first fit {worst_first['time_ratio']:.2f}x "
                f"({worst_first['lattice']}, {worst_first['workload']}), warm fit "
                f"{worst['warm_ratio']:.2f}x ({worst['lattice']}, {worst['workload']})."]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", nargs="+", default=["digits", "gmm", "blobs"])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    p.add_argument("--out", type=Path, default=None, help="markdown file to write the section to")
    a = p.parse_args()
    rows = [r for w in a.workloads for r in bench(w, a.repeats)]
    command = ".venv/bin/python benchmarks/bench_lattices.py " + " ".join(sys.argv[1:])
    text = render(rows, command.strip(), a.repeats)
    print(text)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rows, indent=1))
    if a.out:
        write_section(a.out, "lattices", "## SOM lattices", text)


if __name__ == "__main__":
    main()
