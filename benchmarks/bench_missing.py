"""Training with missing data: SOM, k-means and GNG with ``nan_policy="omit"`` against mean
imputation + the ordinary model, and against intrasom (the SOM library that trains with NaN).

    flock /tmp/protoflow-heavy.lock .venv/bin/python benchmarks/bench_missing.py \
        [--mnist ../shared/data/mnist] [--mnist-samples 10000] [--fractions 0.1 0.3 0.5] \
        [--intrasom /tmp/isom_pkgs] [--out docs/benchmarks.md] [--json PATH]

Data: the GMM (`protoflow.data.load_gmm`, 3,000 x 10, seed 0) and MNIST-PCA (the first
`--mnist-samples` training images, protoflow's pca encoder to 50 components, fitted on the
complete images). A fraction of the entries is removed uniformly at random (seed 1; a row that
loses every entry keeps its first one). For each model and fraction:

- "omit": the model trained on the incomplete data with ``nan_policy="omit"``; imputation is
  `impute` (each missing entry from the BMU's prototype, the BMU found over the observed
  coordinates);
- "mean + model": the ordinary model trained on the mean-imputed data; imputation from its
  prototypes in the same way (`protoflow.missing.impute_from_prototypes`);
- "intrasom" (SOM rows only, when it imports): intrasom 1.1's batch SOM with ``missing=True``
  (hexagonal planar map of the same size, no normalisation, random init, 10 rough + 10
  fine-tuning epochs, one job); imputation is its ``imput_missing``. It writes result files, so
  it runs in a temporary folder.

QE is the mean Euclidean distance from each *complete* point to its nearest prototype (lower is
better, "complete" is the model trained on the complete data); RMSE is the imputation error
over the removed entries against the true values (column-mean imputation is given for scale).

Models: SOM 10x10 (batch, 10 epochs, pca init), k-means with 100 centres (Lloyd, n_init 1),
GNG with up to 100 units (2 epochs on MNIST-PCA, 5 on the GMM; insertion every 100 samples).
intrasom is looked for in `--intrasom` (a ``pip install --target`` folder, appended to
sys.path so it never shadows this environment's numpy) and then on the normal path.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import protoflow
from protoflow.data import load_gmm, load_mnist
from protoflow.missing import impute_from_prototypes, mean_impute
from protoflow.testing import with_missing

ROOT = Path(__file__).resolve().parents[1]




def qe(W: np.ndarray, X: np.ndarray) -> float:
    """Mean distance from each complete point of X (n, d) to its nearest row of W (k, d)."""
    return float(np.sqrt(protoflow.activations(X, W).min(axis=1)).mean())


def rmse(filled: np.ndarray, X: np.ndarray, missing: np.ndarray) -> float:
    """Root-mean-square error of the filled entries."""
    return float(np.sqrt(np.mean((filled[missing] - X[missing]) ** 2)))


def models(gng_epochs: int) -> dict[str, Callable[..., Any]]:
    """Name -> factory(**extra params) of the three compared models."""
    return {
        "SOM": lambda **kw: protoflow.create_model("som", rows=10, cols=10, epochs=10, seed=0, **kw),
        "k-means": lambda **kw: protoflow.create_model("kmeans", n_units=100, algorithm="lloyd",
                                                       seed=0, **kw),
        "GNG": lambda **kw: protoflow.create_model("gng", max_units=100, epochs=gng_epochs,
                                                   seed=0, **kw),
    }


def load_intrasom(folder: str | None) -> Any:
    """intrasom's SOMFactory, or None (with the reason printed) when it does not import."""
    if folder and Path(folder).is_dir():
        sys.path.append(folder)  # appended: this environment's numpy etc. stay first
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from intrasom import SOMFactory
    except Exception as exc:  # not installed, or a broken dependency
        print(f"intrasom unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return SOMFactory


def run_intrasom(factory: Any, Xm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Train intrasom on Xm (n, d) with NaN; returns (codebook (100, d), imputed X, seconds)."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        os.chdir(tmp)
        try:
            t0 = time.perf_counter()
            som = factory.build(Xm, mapsize=(10, 10), mapshape="planar", lattice="hexa",
                                normalization=None, initialization="random", missing=True,
                                name="bench")
            som.train(n_job=1, save=False, summary=False, train_rough_len=10,
                      train_finetune_len=10)
            seconds = time.perf_counter() - t0
            W = np.asarray(som.codebook.matrix, dtype=np.float64)
            filled = np.asarray(som.imput_missing(save=False), dtype=np.float64)
        finally:
            os.chdir(cwd)
    return W, filled, seconds


def bench_dataset(name: str, X: np.ndarray, fractions: list[float], gng_epochs: int,
                  isom: Any) -> list[dict[str, Any]]:
    """One row per (fraction, model, method): QE on the complete data, RMSE, seconds."""
    rows: list[dict[str, Any]] = []
    factories = models(gng_epochs)
    for model_name, make in factories.items():
        t0 = time.perf_counter()
        W = make().fit(X).prototypes_
        rows.append({"data": name, "fraction": 0.0, "model": model_name, "method": "complete",
                     "qe": qe(W, X), "rmse": None, "seconds": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    for frac in fractions:
        Xm = with_missing(X, frac, seed=1)  # the seed the table in docs/benchmarks.md used
        missing = np.isnan(Xm)
        X_mean = mean_impute(Xm)
        rows.append({"data": name, "fraction": frac, "model": "-", "method": "column means",
                     "qe": None, "rmse": rmse(X_mean, X, missing), "seconds": 0.0})
        for model_name, make in factories.items():
            t0 = time.perf_counter()
            m = make(nan_policy="omit").fit(Xm)
            sec = time.perf_counter() - t0
            rows.append({"data": name, "fraction": frac, "model": model_name, "method": "omit",
                         "qe": qe(m.prototypes_, X), "rmse": rmse(m.impute(Xm), X, missing),
                         "seconds": sec})
            print(rows[-1], flush=True)
            t0 = time.perf_counter()
            W = make().fit(X_mean).prototypes_
            sec = time.perf_counter() - t0
            rows.append({"data": name, "fraction": frac, "model": model_name,
                         "method": "mean + model", "qe": qe(W, X),
                         "rmse": rmse(impute_from_prototypes(Xm, W), X, missing), "seconds": sec})
            print(rows[-1], flush=True)
            if model_name == "SOM" and isom is not None:
                W, filled, sec = run_intrasom(isom, Xm)
                rows.append({"data": name, "fraction": frac, "model": "SOM", "method": "intrasom",
                             "qe": qe(W, X), "rmse": rmse(filled, X, missing), "seconds": sec})
                print(rows[-1], flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the rows."""
    def f(v: float | None, digits: int = 3) -> str:
        return "" if v is None else f"{v:.{digits}f}"

    lines = ["| data | missing | model | method | QE (complete data) | imputation RMSE | fit s |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['fraction']:.0%} | {r['model']} | {r['method']} | "
                     f"{f(r['qe'])} | {f(r['rmse'])} | {f(r['seconds'], 2)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--mnist-samples", type=int, default=10_000)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    ap.add_argument("--intrasom", default="/tmp/isom_pkgs")
    ap.add_argument("--out", type=Path, default=None, help="markdown file to write the section into")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _doc_sections import machine, write_section

    where = machine()
    isom = load_intrasom(args.intrasom)
    t0 = time.perf_counter()
    rows = bench_dataset("GMM", np.asarray(load_gmm(3000, 10, seed=0).X), args.fractions, 5, isom)
    mnist = load_mnist(path=args.mnist, n_samples=args.mnist_samples, seed=0)
    Z = protoflow.create_encoder("pca", n_components=50).fit_encode(np.asarray(mnist.X))
    rows += bench_dataset("MNIST-PCA", Z, args.fractions, 2, isom)
    total = time.perf_counter() - t0
    text = table(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"machine": where, "rows": rows}, indent=1))
    if args.out:
        isom_note = ("intrasom 1.1.3 (installed with `pip install --target /tmp/isom_pkgs "
                     "intrasom`)" if isom is not None else "intrasom: not importable, left out")
        body = (
            f"Measured with `flock /tmp/protoflow-heavy.lock .venv/bin/python "
            f"benchmarks/bench_missing.py --out docs/benchmarks.md` on {where}; "
            f"{total:.0f} s in all. Entries removed uniformly at random; QE is measured on the "
            "complete data (lower is better), RMSE over the removed entries against the truth. "
            "\"omit\": `nan_policy=\"omit\"` and the model's `impute`; \"mean + model\": the "
            "ordinary model on column-mean-imputed data, imputing from its prototypes the same "
            f"way; {isom_note}. Settings in the script's docstring; guide: "
            "[missing-data.md](missing-data.md).\n\n" + text
        )
        write_section(args.out, "missing", "## Missing data", body)


if __name__ == "__main__":
    main()
