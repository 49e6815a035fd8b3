"""protoflow against the SOM peers with every fit in a fresh Python process (no fork).

Usage::

    .venv/bin/python benchmarks/bench_fresh.py [--workloads digits gmm blobs]
        [--libraries protoflow xpysom] [--repeats 5] [--json PATH] [--out docs/benchmarks.md]

`bench_som.py` runs each fit in a forked child of one parent. A forked child pays for things
a script does not: it copies every page of the parent's memory it writes to (Python objects'
reference counts, the allocator's free lists) and faults in again every page of library code
it runs, since a fork does not carry over the parent's mappings of code. On this VM that made
protoflow's first digits fit in a forked child 1.4x to 2x its first fit in a fresh process
(2,100-2,500 page faults against 800-1,100). This script measures what a script pays instead:
each measurement is a new ``python -c`` process that imports the library and loads the
workload (`bench_som.load_workload`) before the clock, starts numpy's BLAS threads, then times
a first fit and a second, warm one (a notebook, a sweep) of that library's recipe from
`bench_som.py` (settings as documented there). Libraries alternate, one process each per round,
so this VM's drifting speed falls on all of them alike; times are the best of `--repeats`
rounds, "/ pf" the ratio to protoflow's in the same workload (above 1: protoflow is faster).
Run it under ``flock /tmp/protoflow-heavy.lock`` on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _doc_sections import machine, write_section

from protoflow.io import atomic_write_text

HERE = Path(__file__).resolve().parent

#: library -> (modules imported before the clock, the recipe's call in bench_som)
RECIPES: dict[str, tuple[tuple[str, ...], str]] = {
    "protoflow": (("protoflow_som",), "run_protoflow(X, side, EPOCHS)"),
    "xpysom": (("xpysom",), "run_xpysom(X, side, EPOCHS)"),
    "intrasom": (("intrasom",), "run_intrasom(X, side, EPOCHS)"),
    "torchsom": (("torch", "torchsom"), "run_torchsom(X, side, EPOCHS)"),
    "somoclu": (("somoclu",), "run_somoclu(X, side, EPOCHS)"),
    "minisom": (("minisom",), "run_minisom(X, side, EPOCHS * len(X))"),
}
EPOCHS = 10
#: seconds one measuring process may take
TIMEOUT_S = 600

#: the program of one measuring process: argv = workload, library; prints one JSON line
CHILD = r"""
import contextlib, importlib, io, json, sys, time
sys.path.insert(0, sys.argv[3])
import numpy as np
import bench_som
from bench_som import *  # the recipes
bench_som.add_peer_dirs()
EPOCHS = int(sys.argv[5])
X, side = load_workload(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()):  # xpysom prints when CuPy is absent
    for module in sys.argv[4].split(","):
        importlib.import_module(module)
fn = eval(sys.argv[2])
warm_up = np.ones((512, 512))
warm_up @ warm_up  # numpy's BLAS threads, started before the clock for every library
t0 = time.perf_counter()
fn()
t1 = time.perf_counter()
fn()
t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "warm": t2 - t1}))
"""


def measure(workload: str, library: str) -> dict[str, Any]:
    """{"first", "warm"} seconds of one fresh process, or {"error": why}."""
    modules, call = RECIPES[library]
    cmd = [sys.executable, "-c", CHILD, workload, call, str(HERE), ",".join(modules), str(EPOCHS)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


def bench(workloads: list[str], libraries: list[str], repeats: int) -> list[dict[str, Any]]:
    """One row per workload and library: best first and warm fit over `repeats` rounds."""
    rows = []
    for workload in workloads:
        runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libraries}
        for _ in range(repeats):
            for lib in libraries:
                if runs[lib] and "error" in runs[lib][0]:
                    continue  # a library that failed once is not tried again
                runs[lib].append(measure(workload, lib))
                print(json.dumps({"workload": workload, "library": lib, **runs[lib][-1]}),
                      file=sys.stderr, flush=True)
        for lib in libraries:
            ok = [r for r in runs[lib] if "error" not in r]
            row: dict[str, Any] = {"workload": workload, "library": lib, "runs": runs[lib]}
            if ok:
                row.update(first=min(r["first"] for r in ok), warm=min(r["warm"] for r in ok))
            else:
                row["error"] = runs[lib][0]["error"]
            rows.append(row)
    return rows


def _ratio(row: dict[str, Any], ours: dict[str, Any] | None, key: str) -> str:
    if ours is None or key not in row or key not in ours:
        return ""
    return f"{row[key] / ours[key]:.2f}"


def render(rows: list[dict[str, Any]], command: str, repeats: int) -> str:
    """The markdown section: how it was measured and the table."""
    out = [f"Measured with `{command}` (under `flock /tmp/protoflow-heavy.lock`) on {machine()}; "
           f"{EPOCHS} epochs, each fit in a fresh process (imports and data loaded before the "
           f"clock), best of {repeats} alternating rounds; \"/ pf\" is the library's time over "
           "protoflow's in the same workload (above 1: protoflow is faster).", "",
           "| workload | library | first fit (s) | / pf | warm fit (s) | / pf |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    ours = {r["workload"]: r for r in rows if r["library"] == "protoflow" and "first" in r}
    for r in rows:
        mine = ours.get(r["workload"])
        if "error" in r:
            out.append(f"| {r['workload']} | {r['library']} | {r['error']} | | | |")
            continue
        out.append(f"| {r['workload']} | {r['library']} | {r['first']:.4f} | "
                   f"{_ratio(r, mine, 'first')} | {r['warm']:.4f} | {_ratio(r, mine, 'warm')} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", nargs="+", default=["digits", "gmm", "blobs"])
    p.add_argument("--libraries", nargs="+", default=["protoflow", "xpysom"], choices=list(RECIPES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path)
    p.add_argument("--out", type=Path, help="markdown file to write the section into")
    a = p.parse_args(argv)
    libraries = ["protoflow", *[lib for lib in a.libraries if lib != "protoflow"]]
    rows = bench(a.workloads, libraries, a.repeats)
    command = ".venv/bin/python benchmarks/bench_fresh.py " + " ".join(sys.argv[1:] if argv is None else argv)
    body = render(rows, command.strip(), a.repeats)
    print(body)
    if a.json:
        atomic_write_text(a.json, json.dumps({"machine": machine(), "command": command, "rows": rows},
                                             indent=1))
    if a.out:
        write_section(a.out, "fresh", "## SOM in fresh processes", body)


if __name__ == "__main__":
    main()
