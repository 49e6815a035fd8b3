"""Reproduce the MUSIC paper's third experiment (faces in an autoencoder's latent space) on
Fashion-MNIST: cluster-targeted MUSIC against linear interpolation toward the cluster mean.

The paper encodes LFW faces with a pretrained autoencoder (512 dimensions) and steers a face
toward a cluster of SOM units; LFW is not available offline, so this script uses Fashion-MNIST:

1. a convolutional autoencoder (protoflow-encoders ``autoencoder``, ``variant="conv"``) trained
   on a seeded random subset of the training images (cached under runs/music_autoencoder/);
2. a SOM (protoflow-som) fitted on the latent codes of those images, each unit labelled by the
   majority class of the images it wins (units that win none stay unlabelled);
3. for each (source class, target class) pair, seeded random test images of the source class
   are encoded and steered by cluster-mode MUSIC toward all units labelled with the target
   class, by a ring-preserving MUSIC variant, and by the linear baseline (a straight line to
   the mean of those units' prototypes), all in the same number of steps;
4. every path point is measured: distance to the target cluster (nearest target prototype, and
   the cluster mean), latent consistency ||E(D(z)) - z||, the confidence in the target class of
   a pixel-space MLP trained on the real training images (independent of the SOM labels), the
   distance of the decoded image to its nearest real training image, the fraction of decoded
   pixels outside [0, 1] and the drift from the start item (distance to the start's k nearest
   training images, and the overlap of the k-NN sets in pixel space).

Writes docs/results-music-autoencoder.md between its markers (the reading below them is kept),
the figures docs/img/music_autoencoder_strips.png and docs/img/music_autoencoder_curves.png, and
the per-path numbers to runs/music_autoencoder/metrics.json. The MUSIC options default to the
controller's own defaults (read from its signature), so a rerun with other values is one flag.

    nice -n 10 .venv/bin/python reproduce/music_autoencoder.py --data ../shared/data --preserve all --lam 0.01  # this page
    nice -n 10 .venv/bin/python reproduce/music_autoencoder.py --quick   # a small smoke run
    # another setting, kept off the page (the page's reading quotes --lam 0.1 and --trust 0.1):
    nice -n 10 .venv/bin/python reproduce/music_autoencoder.py --data ../shared/data --lam 0.1 \
        --doc runs/music_autoencoder/lam0.1/page.md --img-dir runs/music_autoencoder/lam0.1 \
        --metrics runs/music_autoencoder/lam0.1/metrics.json

The first run trains the autoencoder (about 15 minutes on one thread) and caches it under
runs/music_autoencoder/; later runs take about 4 minutes.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from music_gmm import _pyplot, _save, write_generated  # reproduce/ is on sys.path as a script
from scipy.stats import wilcoxon

import protoflow
from protoflow.data import load_dataset
from protoflow.io import atomic_write_text
from protoflow.metrics.manifold import (
    arrival_step,
    latent_consistency,
    nearest_sample_distance,
    out_of_range_fraction,
)
from protoflow.metrics.semantic import sharpness
from protoflow.metrics.trajectory import continuity, trajectory_summary

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "music_autoencoder"
DOC = ROOT / "docs" / "results-music-autoencoder.md"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
#: MUSIC parameters exposed as options; their defaults are read from the controller itself
MUSIC_OPTIONS = ("gamma", "lam", "eta", "trust", "trust_mode", "passes", "preserve", "radius", "k")
#: (source, target) class pairs: near neighbours (pullover/coat, sandal/boot, T-shirt/dress)
#: and far ones (trouser/dress, sneaker/bag, bag/T-shirt)
DEFAULT_PAIRS = "1-3,7-8,0-3,2-4,5-9,8-0"

#: per-path summaries: (key, label, "lower"/"higher" is better, or None: no winner)
ROWS = (
    ("final_unit", "end: distance to nearest target prototype (latent)", "lower"),
    ("final_mean", "end: distance to target cluster mean (latent)", "lower"),
    ("path_unit", "path mean: distance to nearest target prototype", "lower"),
    ("arrived", "BMU reaches a target unit (fraction of paths)", "higher"),
    ("conf_end", "end: classifier confidence in the target class", "higher"),
    ("conf_mean", "path mean: confidence in the target class", "higher"),
    ("conf_min", "path min: confidence in source or target class", "higher"),
    ("detour", "steps predicted as neither source nor target", "lower"),
    ("consistency_mean", "path mean: latent consistency ||E(D(z)) - z||", "lower"),
    ("consistency_max", "path max: latent consistency", "lower"),
    ("nearest_mean", "path mean: nearest real image distance (pixels)", "lower"),
    ("nearest_max", "path max: nearest real image distance (pixels)", "lower"),
    ("oor", "decoded pixels outside [0, 1] (margin 0.05), fraction", "lower"),
    ("sharp_mean", "path mean: sharpness of the decoded images (Laplacian variance)", "higher"),
    ("sharp_end", "end: sharpness of the decoded image", "higher"),
    ("drift_q1", "drift at step K/4: distance to the start's k-NN (pixels)", "lower"),
    ("drift_half", "drift at step K/2", "lower"),
    ("drift_end", "drift at the end", None),
    ("drift_progress", "drift where the distance to the nearest target prototype has halved", "lower"),
    ("overlap_q1", "k-NN overlap with the start at step K/4", "higher"),
    ("overlap_half", "k-NN overlap with the start at step K/2", "higher"),
    ("length", "path length (latent)", None),
    ("continuity", "step continuity (mean cosine of successive steps)", None),
    ("continuity_before", "step continuity before the BMU first reaches a target unit", None),
    ("continuity_after", "step continuity after that (paths that arrive)", None),
    ("efficiency", "geodesic efficiency", None),
)


# -- data, autoencoder, SOM, classifier ---------------------------------------------------------

def training_subset(n_total: int, n_train: int, seed: int) -> np.ndarray:
    """Indices of the training images used (a seeded random subset, in a fixed order)."""
    return np.sort(np.random.default_rng([seed, 0]).permutation(n_total)[:n_train])


def trained_ae(X: np.ndarray, args: argparse.Namespace) -> tuple[Any, float]:
    """The conv autoencoder, trained once and cached under runs/music_autoencoder/; returns it
    with its training time in seconds (read back from the cache's JSON)."""
    from protoflow_encoders import AutoencoderEncoder

    tag = f"ae_conv_n{len(X)}_ep{args.ae_epochs}_L{args.latent}_s{args.seed}"
    path, meta = RUNS / f"{tag}.npz", RUNS / f"{tag}.json"
    if path.exists() and meta.exists():
        return protoflow.load(path), float(json.loads(meta.read_text())["seconds"])
    t0 = time.perf_counter()
    ae = AutoencoderEncoder(latent_dim=args.latent, variant="conv", image_shape=(1, 28, 28),
                            epochs=args.ae_epochs, seed=args.seed, progress=False).fit(X)
    seconds = time.perf_counter() - t0
    protoflow.save(ae, path)
    atomic_write_text(meta, json.dumps({"seconds": seconds, "loss_history": ae.loss_history_.tolist()}))
    return ae, seconds


def unit_labels(bmus: np.ndarray, y: np.ndarray, n_units: int) -> np.ndarray:
    """Majority class of the training images each unit wins; -1 for units that win none."""
    counts = np.zeros((n_units, int(y.max()) + 1), dtype=np.int64)
    np.add.at(counts, (bmus, y), 1)
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)


def pixel_classifier(X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """An MLP on raw pixels trained on real training images (it never sees the SOM labels)."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(256,), max_iter=30, early_stopping=True,
                         random_state=seed).fit(X, y)


def knn(points: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest reference rows of each point (exact, brute force)."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(reference).kneighbors(
        points, return_distance=False)


# -- trajectories and their metrics --------------------------------------------------------------

def music_params(args: argparse.Namespace, **overrides: Any) -> dict[str, Any]:
    """The MUSIC settings from the command line, with `overrides` on top."""
    return {**{name: getattr(args, name) for name in MUSIC_OPTIONS}, **overrides}


def controllers(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, Any]]]:
    """Method label -> (controller name, parameters): MUSIC, its ring variant, its
    one-unit-per-step variant (cluster-random, the mode of the paper's faces runs), linear."""
    out = {"MUSIC": ("music", {"mode": "cluster", "seed": args.seed, **music_params(args)})}
    if args.random_variant:
        out["MUSIC cluster-random"] = ("music", {"mode": "cluster-random", "seed": args.seed,
                                                 **music_params(args)})
    if args.ring_radius > 0:
        out[f"MUSIC ring {args.ring_radius}"] = ("music", {
            "mode": "cluster", "seed": args.seed,
            **music_params(args, preserve="ring", radius=args.ring_radius)})
    out["linear"] = ("linear", {})
    return out


def path_metrics(P: np.ndarray, bmus: np.ndarray, ctx: dict[str, Any], units: np.ndarray,
                 source: int, target: int, start_knn: np.ndarray) -> dict[str, np.ndarray]:
    """Per-point curves (n_paths, n_points) of one batch of paths toward one target cluster."""
    W, ae, clf = ctx["W"], ctx["ae"], ctx["clf"]
    n_paths, n_points, dim = P.shape
    flat = P.reshape(-1, dim)
    decoded = ae.decode(flat)
    goal = W[units].mean(0)
    d_units = np.sqrt(((P[:, :, None, :] - W[units][None, None]) ** 2).sum(-1)).min(-1)
    proba = clf.predict_proba(decoded)
    pred = np.asarray(clf.classes_)[proba.argmax(1)].reshape(n_paths, n_points)
    Xref = ctx["X_ref"]
    neighbours = knn(decoded, Xref, start_knn.shape[1]).reshape(n_paths, n_points, -1)
    overlap = np.array([[np.isin(neighbours[i, j], start_knn[i]).mean() for j in range(n_points)]
                        for i in range(n_paths)])
    drift = np.stack([
        np.linalg.norm(decoded.reshape(n_paths, n_points, 1, -1)[i] - Xref[start_knn[i]][None], axis=-1).mean(-1)
        for i in range(n_paths)])
    return {
        "d_unit": d_units,
        "d_mean": np.linalg.norm(P - goal, axis=-1),
        "conf": proba[:, list(clf.classes_).index(target)].reshape(n_paths, n_points),
        "conf_pair": (proba[:, list(clf.classes_).index(target)]
                      + proba[:, list(clf.classes_).index(source)]).reshape(n_paths, n_points),
        "pred": pred,
        "consistency": latent_consistency(P, ae),
        "nearest": nearest_sample_distance(decoded.reshape(n_paths, n_points, -1), Xref),
        "oor": out_of_range_fraction(decoded.reshape(n_paths, n_points, -1), 0.0, 1.0)["per_point"],
        "drift": drift,
        "overlap": overlap,
        "arrival": arrival_step(bmus, [int(u) for u in units]),
        "length": np.linalg.norm(np.diff(P, axis=1), axis=-1).sum(1),
        "sharpness": sharpness(decoded, (28, 28)).reshape(n_paths, n_points),
        "summary": [trajectory_summary(P[i], bmus[i]) for i in range(n_paths)],
        "points": P,
    }


def _continuity_split(P: np.ndarray, arrival: int) -> dict[str, float]:
    """Mean step continuity before and after the first arrival at a target unit (NaN where a
    part has no pair of successive moving steps, or the path never arrives)."""
    c = continuity(P)
    if len(c) != len(P) - 2:  # a zero-length step: the split by step index would not align
        return {"continuity_before": np.nan, "continuity_after": np.nan}
    # c[j] is the cosine between steps j+1 and j+2 (into points j+1 and j+2)
    before = c[: max(arrival - 1, 0)] if arrival >= 0 else c
    after = c[arrival:] if arrival >= 0 else c[:0]
    return {"continuity_before": float(before.mean()) if before.size else np.nan,
            "continuity_after": float(after.mean()) if after.size else np.nan}


def summarise_paths(c: dict[str, np.ndarray], source: int, target: int) -> list[dict[str, float]]:
    """The ROWS summaries of each path of one batch."""
    K = c["d_unit"].shape[1] - 1
    q1, half = K // 4, K // 2
    rows = []
    for i in range(c["d_unit"].shape[0]):
        hit = np.flatnonzero(c["pred"][i] == target)
        rows.append({
            "final_unit": c["d_unit"][i, -1], "final_mean": c["d_mean"][i, -1],
            "path_unit": c["d_unit"][i].mean(), "arrived": float(c["arrival"][i] >= 0),
            "arrival_step": float(c["arrival"][i]) if c["arrival"][i] >= 0 else np.nan,
            "conf_end": c["conf"][i, -1], "conf_mean": c["conf"][i].mean(),
            "conf_min": c["conf_pair"][i].min(),
            "first_target": float(hit[0]) if hit.size else np.nan,
            "detour": float(((c["pred"][i] != source) & (c["pred"][i] != target)).sum()),
            "consistency_mean": c["consistency"][i].mean(), "consistency_max": c["consistency"][i].max(),
            "nearest_mean": c["nearest"][i].mean(), "nearest_max": c["nearest"][i].max(),
            "oor": c["oor"][i].mean(),
            "drift_progress": c["drift"][i, halved[0]] if (halved := np.flatnonzero(
                c["d_unit"][i] <= 0.5 * c["d_unit"][i, 0])).size else np.nan,
            "drift_q1": c["drift"][i, q1], "drift_half": c["drift"][i, half], "drift_end": c["drift"][i, -1],
            "overlap_q1": c["overlap"][i, q1], "overlap_half": c["overlap"][i, half],
            "length": c["length"][i],
            "sharp_mean": c["sharpness"][i].mean(), "sharp_end": c["sharpness"][i, -1],
            "continuity": c["summary"][i]["continuity_mean"],
            **_continuity_split(c["points"][i], int(c["arrival"][i])),
            "efficiency": c["summary"][i]["geodesic_efficiency"],
        })
    return [{k: float(v) for k, v in r.items()} for r in rows]


# -- the report ------------------------------------------------------------------------------------

def _mean_sd(v: np.ndarray) -> str:
    """``mean ± std`` over the finite values, "—" when there are none."""
    v = v[~np.isnan(v)]
    return f"{v.mean():.3g} ± {v.std():.2g}" if v.size else "—"


def _values(results: dict, method: str, key: str) -> np.ndarray:
    return np.array([r[key] for pair in results["pairs"] for r in pair["paths"][method]])


def _pair_means(results: dict, method: str, key: str) -> np.ndarray:
    return np.array([np.mean(v[~np.isnan(v)]) if np.any(~np.isnan(v := np.array(
        [r[key] for r in pair["paths"][method]]))) else np.nan for pair in results["pairs"]])


def _win_cell(results: dict, method: str, key: str, better: str) -> str:
    """``wins/pairs, p value`` of `method` against linear on one metric: the pairs where its
    mean over the starts is better (of those where both have a value), and the two-sided
    paired Wilcoxon signed-rank test over the paths where both have a value."""
    ours, theirs = _values(results, method, key), _values(results, "linear", key)
    pm, plin = _pair_means(results, method, key), _pair_means(results, "linear", key)
    won = (pm < plin) if better == "lower" else (pm > plin)
    paired = ~(np.isnan(ours) | np.isnan(theirs))
    differ = np.any(ours[paired] != theirs[paired])
    p = f"{wilcoxon(ours[paired], theirs[paired]).pvalue:.2g}" if differ else "—"
    return f"{int(won.sum())}/{int((~np.isnan(pm) & ~np.isnan(plin)).sum())}, p {p}"


def tables(results: dict) -> str:
    """Means ± std over paths per method, and per-pair wins with a paired Wilcoxon test."""
    methods = list(results["methods"])
    musics = [m for m in methods if m != "linear"]
    n_pairs = len(results["pairs"])
    head = ["| metric | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
    wins = ["| metric | " + " | ".join(f"{m} vs linear" for m in musics) + " |",
            "|" + "---|" * (len(musics) + 1)]
    for key, label, better in ROWS:
        head.append(f"| {label} | " + " | ".join(_mean_sd(_values(results, m, key)) for m in methods) + " |")
        if better is not None:
            cells = [_win_cell(results, m, key, better) for m in musics]
            wins.append(f"| {label} ({better} is better) | " + " | ".join(cells) + " |")
    timing = ["| method | first step BMU in a target unit (arrived paths) | first step the "
              "classifier says target (paths that get there) | paths predicted target at the end |",
              "|---|---|---|---|"]
    for m in methods:
        arr, first = _values(results, m, "arrival_step"), _values(results, m, "first_target")
        ends = np.array([pair["end_pred_target"][m] for pair in results["pairs"]], dtype=float)
        timing.append(f"| {m} | {_mean_sd(arr)} ({np.sum(~np.isnan(arr))} paths) | "
                      f"{_mean_sd(first)} ({np.sum(~np.isnan(first))} paths) | "
                      f"{int(ends.sum())}/{len(arr)} |")
    per_pair = ["| pair | target units | " + " | ".join(
        f"{m}: end distance / end confidence / paths arriving" for m in methods) + " |",
                "|" + "---|" * (len(methods) + 2)]
    for pair in results["pairs"]:
        cells = [f"{np.mean([r['final_unit'] for r in pair['paths'][m]]):.3g} / "
                 f"{np.mean([r['conf_end'] for r in pair['paths'][m]]):.2f} / "
                 f"{int(sum(r['arrived'] for r in pair['paths'][m]))}" for m in methods]
        per_pair.append(f"| {pair['name']} | {pair['n_units']} | " + " | ".join(cells) + " |")
    return "\n".join([
        "## Means ± std over all paths", "", *head, "",
        f"## MUSIC against linear: the pairs (of {n_pairs}; of those where both methods have a "
        "value) where MUSIC's mean over the starts is better, and the two-sided paired Wilcoxon "
        "signed-rank test over the paths where both have one", "", *wins, "",
        "## When the paths get there (means over the paths that do)", "", *timing, "",
        "## Per pair (means over the starts; paths whose BMU reaches a target unit)", "", *per_pair,
    ])


def plot_strips(results: dict, curves: dict, ctx: dict[str, Any], n_strips: int, frames: int,
                path: Path) -> None:
    """Decoded frames along the first path of the first `n_strips` pairs, one row per method."""
    plt = _pyplot()
    methods = list(results["methods"])
    pairs = results["pairs"][:n_strips]
    rows = len(pairs) * len(methods)
    fig, axes = plt.subplots(rows, frames, figsize=(1.0 * frames + 0.8, 1.1 * rows + 0.4), squeeze=False)
    for p, pair in enumerate(pairs):
        for m, method in enumerate(methods):
            P = curves[(pair["name"], method)]["points"][0]
            show = np.linspace(0, len(P) - 1, frames).round().astype(int)
            images = ctx["ae"].decode(P[show])
            pred = ctx["clf"].predict_proba(images)
            row = p * len(methods) + m
            for col, (k, img) in enumerate(zip(show, images)):
                ax = axes[row, col]
                ax.imshow(img.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{k}: {pred[col, pair['target']]:.2f}", fontsize=6)
            axes[row, 0].set_ylabel(f"{pair['name']}\n{method}", fontsize=6)
    fig.suptitle("Decoded frames along one path per pair (step: classifier confidence in the "
                 "target class; grey scale fixed to [0, 1])", fontsize=8)
    fig.tight_layout()
    _save(fig, path, 100)


def plot_curves(results: dict, curves: dict, path: Path) -> None:
    """Means over all paths, per method and step, of the distance to the target cluster
    (relative to the start), the target confidence, the drift and the latent consistency."""
    plt = _pyplot()
    panels = (("d_unit", "distance to nearest target\nprototype / at start", True),
              ("conf", "confidence in\ntarget class", False),
              ("drift", "drift: distance to the\nstart's k-NN (pixels)", False),
              ("consistency", "latent consistency\n||E(D(z)) - z||", False),
              ("nearest", "nearest real image\ndistance (pixels)", False))
    fig, axes = plt.subplots(3, 2, figsize=(9, 8.2))
    for ax, (key, label, relative) in zip(axes.ravel(), panels):
        for method in results["methods"]:
            rows = [curves[(pair["name"], method)][key] for pair in results["pairs"]]
            c = np.concatenate(rows)
            if relative:
                c = c / c[:, :1]
            mean, sd = c.mean(0), c.std(0)
            steps = np.arange(len(mean))
            ax.plot(steps, mean, label=method)
            ax.fill_between(steps, mean - sd, mean + sd, alpha=0.15)
        ax.set_ylabel(label, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
    ax = axes[2, 1]  # drift against progress toward the target, the fair comparison
    grid = np.linspace(0.0, 1.0, 21)
    for method in results["methods"]:
        rel = np.concatenate([curves[(pair["name"], method)]["d_unit"] for pair in results["pairs"]])
        drift = np.concatenate([curves[(pair["name"], method)]["drift"] for pair in results["pairs"]])
        progress = 1.0 - rel / rel[:, :1]
        binned = [drift[(progress >= lo) & (progress < hi)] for lo, hi in itertools.pairwise(grid)]
        keep = [i for i, b in enumerate(binned) if b.size]
        ax.plot(grid[:-1][keep] + 0.025, [binned[i].mean() for i in keep], "o-", ms=3, label=method)
    ax.set_xlabel("progress: 1 - distance to nearest target prototype / at start", fontsize=8)
    ax.set_ylabel("drift (pixels),\nmean per progress bin", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Along the path: mean ± std over all paths", fontsize=9)
    fig.tight_layout()
    _save(fig, path, 100)


# -- main ------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the MUSIC ones default to the controller's own defaults."""
    from protoflow_music.controller import MUSIC

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("PROTOFLOW_DATA", "../shared/data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=20_000, help="training images (AE, SOM, classifier)")
    ap.add_argument("--ae-epochs", type=int, default=10)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--som", default="som", help="protoflow model: som or toroidal-som")
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--som-epochs", type=int, default=10)
    ap.add_argument("--pairs", default=DEFAULT_PAIRS, help="source-target class pairs, comma separated")
    ap.add_argument("--starts", type=int, default=5, help="test images per pair")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--knn", type=int, default=10, help="k of the identity-drift measures")
    ap.add_argument("--ring-radius", type=int, default=3, help="the ring variant's radius (0: no variant)")
    ap.add_argument("--random-variant", action=argparse.BooleanOptionalAction, default=True,
                    help="also run MUSIC in cluster-random mode (one target unit per step)")
    ap.add_argument("--strips", type=int, default=3, help="pairs drawn as decoded strips")
    ap.add_argument("--doc", type=Path, default=DOC)
    ap.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img", help="where the figures go")
    ap.add_argument("--metrics", type=Path, default=RUNS / "metrics.json", help="per-path numbers")
    ap.add_argument("--quick", action="store_true", help="a small smoke run (does not write the page)")
    sig = inspect.signature(MUSIC.__init__).parameters
    for name in MUSIC_OPTIONS:
        default = sig[name].default
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                        help=f"MUSIC {name} (default {default})")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.ae_epochs, args.starts, args.steps = 2000, 1, 2, 20
        args.rows = args.cols = 8
        args.img_dir, args.metrics = RUNS, RUNS / "metrics_quick.json"  # nothing under docs/
    return args


def main(argv: list[str] | None = None) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    args = parse_args(argv)
    torch.set_num_threads(1)
    t_all = time.perf_counter()
    with threadpool_limits(1):
        results, curves, ctx, timings = run(args)
    timings["total"] = time.perf_counter() - t_all
    results["timings"] = timings
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.metrics, json.dumps(results, indent=1, default=float))
    text = report(args, results, ctx, timings)
    print(text)
    args.img_dir.mkdir(parents=True, exist_ok=True)
    plot_strips(results, curves, ctx, args.strips, 10, args.img_dir / "music_autoencoder_strips.png")
    plot_curves(results, curves, args.img_dir / "music_autoencoder_curves.png")
    if args.quick:
        return
    write_generated(args.doc, text, "music_autoencoder")
    print(f"wrote {args.doc}")


def run(args: argparse.Namespace) -> tuple[dict, dict, dict[str, Any], dict[str, float]]:
    """Train (or load) everything and run every method on every pair."""
    timings: dict[str, float] = {}
    train = load_dataset("fashion-mnist", path=args.data, split="train")
    test = load_dataset("fashion-mnist", path=args.data, split="test")
    idx = training_subset(len(train.X), args.n_train, args.seed)
    X, y = np.asarray(train.X[idx]), np.asarray(train.y[idx]).astype(int)
    yte = np.asarray(test.y).astype(int)
    ae, timings["autoencoder (cached after the first run)"] = trained_ae(X, args)
    t0 = time.perf_counter()
    Z = ae.encode(X)
    model = protoflow.create_model(args.som, rows=args.rows, cols=args.cols, epochs=args.som_epochs,
                                   seed=args.seed).fit(Z)
    W = np.asarray(model.prototypes_, dtype=np.float64)
    labels = unit_labels(protoflow.inversion.bmu(Z, W), y, len(W))
    timings["SOM"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf = pixel_classifier(X, y, args.seed)
    timings["classifier"] = time.perf_counter() - t0
    n_ref = min(2000, len(test.X))
    ref_codes = ae.encode(test.X[:n_ref])
    ref_decoded = ae.decode(ref_codes)
    ref_sharp = sharpness(test.X[:n_ref], (28, 28)).mean(), sharpness(ref_decoded, (28, 28)).mean()
    ctx = {"W": W, "ae": ae, "clf": clf, "X_ref": X}
    reference = {
        "n": n_ref,
        "consistency": float(latent_consistency(ref_codes, ae).mean()),
        "nearest": float(nearest_sample_distance(ref_decoded, X).mean()),
        "oor": out_of_range_fraction(ref_decoded, 0.0, 1.0)["overall"],
        "classifier_accuracy_test": float((clf.predict(test.X) == yte).mean()),
        "classifier_accuracy_decoded": float((clf.predict(ref_decoded) == yte[:n_ref]).mean()),
        "sharpness_real": float(ref_sharp[0]), "sharpness_decoded": float(ref_sharp[1]),
        "reconstruction_mse": float(((ref_decoded - test.X[:n_ref]) ** 2).mean()),
        "qe": float(np.sqrt(protoflow.inversion.activations(Z, W).min(1)).mean()),
        "som_purity": float((labels[protoflow.inversion.bmu(ae.encode(test.X), W)] == yte).mean()),
        "unlabelled_units": int((labels < 0).sum()),
        "dist_nn_codes": float(np.median(np.sqrt(protoflow.inversion.activations(W, W)
                                                 + np.diag(np.full(len(W), np.inf))).min(1))),
    }
    methods = controllers(args)
    rng = np.random.default_rng([args.seed, 1])
    results: dict[str, Any] = {"methods": {m: {"controller": c, **p} for m, (c, p) in methods.items()},
                               "pairs": [], "reference": reference,
                               "loss_history": ae.loss_history_.tolist()}
    curves: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    t_traj = t_metrics = 0.0
    for spec in args.pairs.split(","):
        source, target = (int(v) for v in spec.split("-"))
        units = np.flatnonzero(labels == target)
        pool = np.flatnonzero(yte == source)
        chosen = np.sort(rng.choice(pool, size=args.starts, replace=False))
        starts = ae.encode(test.X[chosen])
        start_knn = knn(ae.decode(starts), X, args.knn)  # of the decoded start, step 0
        name = f"{CLASSES[source]} → {CLASSES[target]}"
        pair: dict[str, Any] = {"name": name, "source": source, "target": target,
                                "n_units": int(units.size), "starts": chosen.tolist(),
                                "paths": {}, "end_pred_target": {}}
        for method, (cname, params) in methods.items():
            t0 = time.perf_counter()
            traj = protoflow.create_controller(cname, **params).run(model, starts, [int(u) for u in units],
                                                                    args.steps)
            t_traj += time.perf_counter() - t0
            t0 = time.perf_counter()
            P = np.asarray(traj.points)
            c = path_metrics(P, np.asarray(traj.bmus), ctx, units, source, target, start_knn)
            t_metrics += time.perf_counter() - t0
            curves[(name, method)] = c
            pair["paths"][method] = summarise_paths(c, source, target)
            pair["end_pred_target"][method] = int((c["pred"][:, -1] == target).sum())
        results["pairs"].append(pair)
        print(f"{name}: done", file=sys.stderr, flush=True)
    timings["trajectories"], timings["metrics"] = t_traj, t_metrics
    return results, curves, ctx, timings


def _shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def report(args: argparse.Namespace, results: dict, ctx: dict[str, Any], timings: dict[str, float]) -> str:
    """The generated part of the page: what was run, then the tables and figures."""
    ref = results["reference"]
    command = "nice -n 10 .venv/bin/python reproduce/music_autoencoder.py " + shlex.join(
        a for a in sys.argv[1:])
    music = results["methods"]["MUSIC"]
    settings = ", ".join(f"{k} {music[k]}" for k in MUSIC_OPTIONS)
    loss = results["loss_history"]
    n_paths = len(results["pairs"]) * args.starts
    img = Path(os.path.relpath(args.img_dir.resolve(), args.doc.resolve().parent)).as_posix()
    lines = [
        "# MUSIC in an autoencoder's latent space (the paper's faces experiment, on Fashion-MNIST)",
        "",
        f"Generated by the command below on {os.cpu_count()} CPU cores ({platform.machine()}, Python "
        f"{platform.python_version()}, torch and BLAS on 1 thread); every number in this block is "
        f"measured in that run (per-path values: {_shown(args.metrics)}).",
        "",
        "<!-- no-test: a reproduction, minutes on two cores -->",
        "```bash",
        command.strip(),
        "```",
        "",
        f"- Data: Fashion-MNIST; a seeded random {args.n_train} of the 60,000 training images train "
        "the autoencoder, the SOM and the classifier and are the reference set of the pixel-space "
        "distances; the starts are test images.",
        f"- Autoencoder: protoflow-encoders `autoencoder`, variant conv (filters "
        f"{'-'.join(str(v) for v in ctx['ae'].layers_)}, 3x3 convolutions, 2x2 pooling), latent "
        f"dimension {args.latent}, {args.ae_epochs} epochs, Adam 1e-3, batch 256, seed {args.seed}; "
        f"training loss {loss[0]:.4g} → {loss[-1]:.4g}; test reconstruction MSE "
        f"{ref['reconstruction_mse']:.4g}.",
        f"- SOM: `{args.som}` {args.rows}x{args.cols}, {args.som_epochs} epochs, on the latent codes "
        f"of the training images (mean quantisation error {ref['qe']:.3g}; median distance from a "
        f"prototype to its nearest other prototype {ref['dist_nn_codes']:.3g}); units labelled by the majority class "
        f"of the training images they win ({ref['unlabelled_units']} win none); that labelling "
        f"classifies the test set with purity {ref['som_purity']:.3f}.",
        f"- Classifier: an MLP (256 hidden, early stopping) on the pixels of the real training "
        f"images; test accuracy {ref['classifier_accuracy_test']:.3f} on real images, "
        f"{ref['classifier_accuracy_decoded']:.3f} on the decodings of the first {ref['n']} test "
        "images.",
        f"- Paths: {len(results['pairs'])} pairs x {args.starts} seeded random test images of the "
        f"source class = {n_paths} paths per method, {args.steps} steps each. MUSIC: cluster mode, "
        f"target = every unit labelled with the target class, {settings}. Ring variant: the same "
        f"with preserve ring, radius {args.ring_radius}."
        + (" Cluster-random variant: the same settings, each step an informed step toward one "
           "unit of the cluster drawn at random (the paper's one-prototype-at-a-time guidance)."
           if args.random_variant else "")
        + " Linear: straight line to the mean of the target units' prototypes in the same number "
        "of steps.",
        f"- Identity drift: the mean pixel distance of each decoded path point to the {args.knn} "
        f"nearest training images of the decoded start D(z0), and the fraction of those {args.knn} "
        "that are among the path point's own nearest training images (k-NN overlap; 1 at step 0). "
        "At equal step index the two methods have moved different distances, so the table also "
        "gives the drift at equal progress: at the first step where the distance to the nearest "
        "target prototype is half its start value (paths that never halve it are left out).",
        f"- Reference values of real test images' codes (first {ref['n']} test images): latent "
        f"consistency {ref['consistency']:.3g}, nearest real image distance of their decodings "
        f"{ref['nearest']:.3g}, out-of-range pixel fraction {ref['oor']:.2g}, sharpness {ref['sharpness_decoded']:.3g} (of the "
        f"real images {ref['sharpness_real']:.3g}).",
        "- Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ".",
        "",
        tables(results),
        "",
        f"![decoded strips]({img}/music_autoencoder_strips.png)",
        "",
        f"![along the path]({img}/music_autoencoder_curves.png)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
