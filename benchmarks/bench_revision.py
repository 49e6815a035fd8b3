"""protoflow's batch SOM fit in this checkout against a git revision, in one run.

Usage::

    .venv/bin/python benchmarks/bench_revision.py --baseline REV [--workloads digits gmm blobs]
        [--repeats 5] [--dtype float64] [--json PATH]

REV is exported (``git archive``) into a temporary folder; every measurement is a fresh Python
process importing protoflow either from there or from this checkout (``PYTHONPATH``), the two
alternating so that drifting machine load hits both alike. Each process loads the workload
(`bench_som.load_workload`, untimed), then times two fits of ``SOM(rows=side, cols=side,
epochs=10, seed=0)``: the first in the process ("cold": what a script pays) and a second one
("warm": a notebook or a sweep). The table gives the best of `repeats` processes per side and
the ratios new / REV (below 1: this checkout is faster), and whether the prototypes are
identical. Run it under ``flock /tmp/protoflow-heavy.lock`` on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the program each measuring process runs: argv = workload, dtype; prints one JSON line
CHILD = r"""
import hashlib, json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from bench_som import load_workload
from protoflow_som import SOM
import protoflow
X, side = load_workload(sys.argv[1])
X = X.astype(sys.argv[2])
times = []
for _ in range(2):
    t0 = time.perf_counter()
    W = SOM(rows=side, cols=side, epochs=10, seed=0, dtype=sys.argv[2]).fit(X).prototypes_
    times.append(time.perf_counter() - t0)
print(json.dumps({"cold": times[0], "warm": times[1], "core": protoflow.__file__,
                  "digest": hashlib.sha256(np.ascontiguousarray(W).tobytes()).hexdigest()}))
"""


def export(rev: str, into: Path) -> Path:
    """The tree of git revision `rev` unpacked under `into`; returns that folder."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(tree: Path, workload: str, dtype: str) -> dict[str, object]:
    """One fresh process timing the cold and warm fit with protoflow imported from `tree`."""
    env = dict(os.environ)
    paths = [str(tree)] + [str(p) for p in sorted((tree / "plugins").glob("protoflow-*/src"))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    out = subprocess.run([sys.executable, "-c", CHILD, workload, dtype, str(ROOT / "benchmarks")],
                         check=True, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not str(result["core"]).startswith(str(tree)):
        raise SystemExit(f"protoflow was imported from {result['core']}, not from {tree}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, metavar="REV")
    ap.add_argument("--workloads", nargs="+", default=["digits", "gmm", "blobs"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = export(args.baseline, Path(tmp))
        for workload in args.workloads:
            runs: dict[str, list[dict[str, object]]] = {"old": [], "new": []}
            for _ in range(args.repeats):  # alternate: drifting load hits both sides alike
                runs["old"].append(measure(old, workload, args.dtype))
                runs["new"].append(measure(ROOT, workload, args.dtype))
            best = {side: {k: min(float(r[k]) for r in rs) for k in ("cold", "warm")}
                    for side, rs in runs.items()}
            same = {r["digest"] for r in runs["old"]} == {r["digest"] for r in runs["new"]}
            rows.append({"workload": workload, "best": best, "same_prototypes": same})
            print(f"| {workload} | {best['old']['cold']:.3f} | {best['new']['cold']:.3f} | "
                  f"{best['new']['cold'] / best['old']['cold']:.2f} | {best['old']['warm']:.3f} | "
                  f"{best['new']['warm']:.3f} | {best['new']['warm'] / best['old']['warm']:.2f} | "
                  f"{'yes' if same else 'NO'} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline": args.baseline, "dtype": args.dtype,
                                               "repeats": args.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    print("| workload | cold, REV (s) | cold, new (s) | new / REV | warm, REV (s) | warm, new (s) | "
          "new / REV | same prototypes |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    main()
