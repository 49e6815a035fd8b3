"""Reproduce the DESOM paper's 8x8-map comparison (Forest et al. 2021, Tables 7-10) on MNIST and
Fashion-MNIST: SOM, AE+SOM and DESOM, several seeds, evaluated on the test sets.

    .venv/bin/python reproduce/desom_mnist.py                       # the paper's settings
    .venv/bin/python reproduce/desom_mnist.py --iterations 2000 --ae-epochs 8   # CPU-sized run

``--iterations`` is DESOM's step count; the SOMs (of SOM and AE+SOM) are cheap and take
``--som-iterations`` (default: the paper's 10,000) whatever DESOM gets.

The paper's settings: DESOM and SOM 10,000 minibatch iterations of 256 samples (T 8 -> 0.1,
gamma 1e-3, Adam 1e-3), the AE of AE+SOM pretrained 100 epochs, 10 runs; metrics on the test
sets. Every finished run is cached as JSON under ``--runs`` (rerunning resumes), and the
summary table (mean +- std next to the paper's numbers) replaces the block between the
``results:begin``/``results:end`` markers of ``--out`` (docs/results-desom.md), keeping the prose.

SOM and the SOM of AE+SOM come from the ``som`` plugin (``protoflow.create_model("som")``,
algorithm "minibatch": the paper's SGD SOM); if it is not installed those rows are skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from music_gmm import write_generated  # reproduce/ is on sys.path when run as a script
from protoflow_desom import DESOM
from protoflow_encoders import AutoencoderEncoder

import protoflow
from protoflow.data import load_dataset
from protoflow.io import atomic_write_text
from protoflow.metrics import map_quality as mq

ROOT = Path(__file__).resolve().parents[1]
T_MAX, T_MIN, BATCH = 8.0, 0.1, 256

# The paper's test-set numbers (mean, std), Tables 7 (purity, NMI), 8 (data space QE, TE),
# 9 (latent QE, TE) and 10 (PSR); None where the paper does not report that cell.
PAPER: dict[str, dict[str, dict[str, tuple[float, float] | None]]] = {
    "mnist": {
        "SOM": {"purity": (.832, .010), "nmi": (.576, .005), "qe_data": (5.345, .004),
                "te_data": (.518, .037), "psr": (.720, .005)},
        "AE+SOM": {"purity": (.935, .005), "nmi": (.666, .005), "qe_latent": (1.231, .029),
                   "te_latent": (.510, .047), "psr": (1.083, .012)},
        "DESOM": {"purity": (.934, .004), "nmi": (.658, .004), "qe_data": (5.848, .016),
                  "te_data": (.597, .033), "qe_latent": (.205, .008), "te_latent": (.534, .026),
                  "psr": (1.030, .005)},
    },
    "fashion-mnist": {
        "SOM": {"purity": (.712, .002), "nmi": (.513, .002), "qe_data": (4.537, .008),
                "te_data": (.477, .037), "psr": (.703, .005)},
        "AE+SOM": {"purity": (.758, .007), "nmi": (.542, .005), "qe_latent": (.960, .026),
                   "te_latent": (.532, .022), "psr": (.834, .011)},
        "DESOM": {"purity": (.751, .009), "nmi": (.541, .004), "qe_data": (4.755, .007),
                  "te_data": (.536, .035), "qe_latent": (.167, .003), "te_latent": (.556, .035),
                  "psr": (.832, .013)},
    },
}
METRICS = ["purity", "nmi", "nmi_geometric", "qe_data", "te_data", "qe_latent", "te_latent", "psr"]


def make_som(seed: int, iterations: int, n_samples: int) -> Any:
    """The paper's SOM: Adam (1e-3) minibatch steps of 256 on the neighbourhood-weighted
    distortion, T 8 -> 0.1, prototypes initialised from random samples; whole epochs, so
    slightly more than `iterations` steps."""
    epochs = max(1, math.ceil(iterations * BATCH / n_samples))
    return protoflow.create_model("som", rows=8, cols=8, algorithm="minibatch", epochs=epochs,
                                  batch_size=BATCH, init="random", t_max=T_MAX, t_min=T_MIN,
                                  seed=seed)


def evaluate(model: Any, X: np.ndarray, y: np.ndarray, encoder: Any) -> dict[str, float]:
    """Test-set metrics; `encoder` None for a SOM on raw pixels."""
    out: dict[str, float] = {}
    Z = X if encoder is None else encoder.encode(X)
    out["purity"] = mq.purity(model, Z, y)
    out["nmi"] = mq.nmi(model, Z, y)  # arithmetic normalisation (scikit-learn's default)
    out["nmi_geometric"] = mq.nmi(model, Z, y, average="geometric")  # sklearn's before 0.22
    out["qe_data"] = mq.quantization_error(model, X, encoder=encoder)
    out["te_data"] = mq.topographic_error(model, X, encoder=encoder)
    if encoder is not None:
        out["qe_latent"] = mq.quantization_error(model, Z)
        out["te_latent"] = mq.topographic_error(model, Z)
    out["psr"] = mq.prototype_sharpness_ratio(model, X, encoder=encoder)  # the code's unsquared PSR
    return out


def pretrained_ae(name: str, seed: int, X: np.ndarray, args: argparse.Namespace) -> Any:
    """The AE of AE+SOM, cached under --runs (so it can be trained before the som plugin exists)."""
    path = Path(args.runs) / f"{name}_AE_{seed}_ep{args.ae_epochs}.npz"
    if path.exists():
        return protoflow.load(path)
    t0 = time.perf_counter()
    ae = AutoencoderEncoder(epochs=args.ae_epochs, seed=seed, progress=False).fit(X)
    protoflow.save(ae, path)
    atomic_write_text(path.with_suffix(".json"), json.dumps({"ae_seconds": time.perf_counter() - t0}))
    return ae


def run_one(kind: str, name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    train = load_dataset(name, path=args.data, split="train")
    test = load_dataset(name, path=args.data, split="test")
    t0 = time.perf_counter()
    if kind == "DESOM":
        model = DESOM(iterations=args.iterations, t_max=T_MAX, t_min=T_MIN, seed=seed,
                      progress=False).fit(train.X)
        encoder = model.encoder
    elif kind == "AE+SOM":
        encoder = pretrained_ae(name, seed, train.X, args)
        t0 = time.perf_counter()  # the AE time is added below, from its cache
        model = make_som(seed, args.som_iterations, len(train.X)).fit(encoder.encode(train.X))
    else:
        encoder = None
        model = make_som(seed, args.som_iterations, len(train.X)).fit(train.X)
    fit_s = time.perf_counter() - t0
    if kind == "AE+SOM":  # add the (cached) pretraining time
        timing = Path(args.runs) / f"{name}_AE_{seed}_ep{args.ae_epochs}.json"
        fit_s += json.loads(timing.read_text())["ae_seconds"] if timing.exists() else 0.0
    return {"model": kind, "dataset": name, "seed": seed, "fit_seconds": fit_s,
            "iterations": args.iterations if kind == "DESOM" else args.som_iterations,
            "ae_epochs": args.ae_epochs if kind == "AE+SOM" else None,
            **evaluate(model, test.X, test.y, encoder)}


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 run)"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} ({len(values)} runs)"


def _old_cells(path: Path, block: str) -> dict[tuple[str, str, str], str]:
    """The protoflow cells of an earlier table in block `block` of `path`, keyed by (dataset,
    model, metric): a run of some models only keeps the others' earlier numbers."""
    if not path.exists() or f"<!-- {block}:begin -->" not in path.read_text():
        return {}
    text = path.read_text().split(f"<!-- {block}:begin -->", 1)[1].split(f"<!-- {block}:end -->")[0]
    cells = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) == 5 and parts[3] not in ("-", "---"):
            cells[(parts[0], parts[1], parts[2])] = parts[3]
    return cells


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"Run on {date.today().isoformat()}, {platform.machine()}, {torch.get_num_threads()} torch "
        f"threads, CPU; DESOM iterations {args.iterations} (paper 10,000), SOM iterations "
        f"{args.som_iterations} (paper 10,000), AE epochs {args.ae_epochs} "
        f"(paper 100), seeds {sorted({r['seed'] for r in runs})} (paper: 10 runs). Test sets.",
        "",
        "| dataset | model | metric | protoflow (mean ± std) | paper (mean ± std) |",
        "| --- | --- | --- | --- | --- |",
    ]
    old = _old_cells(Path(args.out), args.block)
    kept = set()
    for name in args.datasets:
        for kind in ("SOM", "AE+SOM", "DESOM"):
            rs = [r for r in runs if r["dataset"] == name and r["model"] == kind]
            for metric in METRICS:
                paper = PAPER.get(name, {}).get(kind, {}).get(metric)
                ours = [r[metric] for r in rs if metric in r]
                if not ours and paper is None:
                    continue
                cell = _cell(ours) if rs else old.get((name, kind, metric), "-")
                if not rs and cell != "-":
                    kept.add(kind)
                if cell == "-" and paper is None:
                    continue
                ptxt = "-" if paper is None else f"{paper[0]:.3f} ± {paper[1]:.3f}"
                lines.append(f"| {name} | {kind} | {metric} | {cell} | {ptxt} |")
            secs = (f"{np.mean([r['fit_seconds'] for r in rs]):.0f}" if rs
                    else old.get((name, kind, "fit time (s)")))
            if secs:
                lines.append(f"| {name} | {kind} | fit time (s) | {secs} | - |")
    if kept:
        lines.append("")
        lines.append(f"Rows of {', '.join(sorted(kept))} are kept from an earlier run of this block "
                     "(same settings; this run did not include them).")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--models", nargs="+", default=["SOM", "AE+SOM", "DESOM"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--som-iterations", type=int, default=10000,
                    help="minibatch steps of the SOMs of SOM and AE+SOM (cheap: kept at the paper's)")
    ap.add_argument("--ae-epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--runs", default=str(ROOT / "runs" / "desom"),
                    help="cache of finished runs (default runs/desom, git-ignored)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results-desom.md"))
    ap.add_argument("--block", default="results",
                    help="name of the generated block of --out to rewrite (results-full: the "
                         "paper's full budget)")
    ap.add_argument("--cached-only", action="store_true",
                    help="run nothing: build the table from the runs cached under --runs (a seed "
                         "or model without a cached run is left out and said so)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    have_som = "som" in {m["name"] for m in protoflow.available()["model"]}
    runs_dir = Path(args.runs)
    runs = []
    for name in args.datasets:
        for seed in args.seeds:
            for kind in args.models:
                if kind != "DESOM" and not have_som:
                    if kind == "AE+SOM":  # the AE does not need the som plugin: train it now
                        pretrained_ae(name, seed, load_dataset(name, path=args.data, split="train").X, args)
                    print(f"skip {kind}: the som plugin is not installed")
                    continue
                its = args.iterations if kind == "DESOM" else args.som_iterations
                tag = f"{name}_{kind.replace('+', '-')}_{seed}_it{its}_ep{args.ae_epochs}"
                path = runs_dir / f"{tag}.json"
                if path.exists():
                    runs.append(json.loads(path.read_text()))
                    continue
                if args.cached_only:
                    print(f"not cached, left out: {tag}")
                    continue
                print(f"running {tag} ...", flush=True)
                res = run_one(kind, name, seed, args)
                atomic_write_text(path, json.dumps(res, indent=2))
                print(json.dumps(res), flush=True)
                runs.append(res)
    text = summarise(runs, args)
    write_generated(Path(args.out), text, name=args.block)
    print(text)


if __name__ == "__main__":
    main()
