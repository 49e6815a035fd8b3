"""Reproduce the MUSIC paper's MNIST comparison (Section 5.3.5, Table 2) with protoflow.

Runs ``examples/mnist_music.toml`` (toroidal SOM on PCA-whitened MNIST, 10 digit pairs x 3
starts, MUSIC against linear interpolation), then summarises ``metrics.json`` as the paper's
Table 2 (means over the 30 paths of each method, wins per pair, paired Wilcoxon tests) and
writes ``docs/results-mnist-music.md``.

    PROTOFLOW_DATA=../shared/data .venv/bin/python reproduce/mnist_music.py [--set KEY=VALUE ...]
    .venv/bin/python reproduce/mnist_music.py --from-metrics runs/mnist_music/metrics.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
from pathlib import Path

import numpy as np
from music_gmm import write_generated  # reproduce/ is on sys.path when run as a script
from scipy.stats import wilcoxon

from protoflow.io import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "mnist_music.toml"
DOC = ROOT / "docs" / "results-mnist-music.md"

ROWS = [  # (metrics key, table label, higher is better?)
    ("confidence_mean", "Mean confidence", True),
    ("confidence_min", "Min confidence", True),
    ("sharpness", "Mean sharpness (Laplacian variance)", True),
    ("manifold_distance", "Manifold distance (k-NN, latent)", False),
    ("geodesic_efficiency", "Geodesic efficiency", None),
    ("continuity_mean", "Step continuity", None),
    ("out_of_range_fraction", "Decoded pixels out of range", False),
    ("nearest_sample_distance_mean", "Distance to the nearest training image (pixels)", False),
    ("longest_stall", "Longest stall (steps)", False),
]

PAPER = {  # what the paper's text states (its Table 2 figures did not survive text extraction)
    "confidence_mean": "comparable (ns)",
    "confidence_min": "MUSIC higher, 8/10 pairs",
    "sharpness": "MUSIC higher, 10/10 pairs",
    "manifold_distance": "MUSIC higher (farther)",
    "geodesic_efficiency": "MUSIC < 1; linear = 1",
    "continuity_mean": "MUSIC near 1",
    "out_of_range_fraction": "stays on the manifold",
    "nearest_sample_distance_mean": "stays on the manifold",
    "longest_stall": "does not linger",
}


def _paths(entry: dict, ctrl: str, key: str) -> np.ndarray:
    vals = [p.get(key) for pair in entry["trajectories"]["pairs"] for p in pair["controllers"][ctrl]["paths"]]
    return np.array([np.nan if v is None else v for v in vals], dtype=float)


def _pair_means(entry: dict, ctrl: str, key: str) -> np.ndarray:
    return np.array([
        np.nanmean([np.nan if p.get(key) is None else p[key] for p in pair["controllers"][ctrl]["paths"]])
        for pair in entry["trajectories"]["pairs"]
    ])


def _g(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def controller_labels(cfg: dict) -> dict[str, str]:
    """Result key of each controller (as the pipeline names them: "music", "linear",
    "music-2", ...) -> a readable column label with its non-default settings."""
    specs = ([cfg["controller"]] if cfg.get("controller") else []) + list(cfg["run"]["baselines"])
    out: dict[str, str] = {}
    for spec in specs:
        key, k = spec["name"], 1
        while key in out:
            k += 1
            key = f"{spec['name']}-{k}"
        extra = ", ".join(f"{n} {v}" for n, v in spec.items() if n not in ("name", "mode", "seed"))
        base = "MUSIC" if spec["name"] == "music" else spec["name"].capitalize()
        out[key] = f"{base} ({extra})" if extra else (f"{base} (defaults)" if base == "MUSIC" else base)
    return out


def summarise(metrics: dict) -> str:
    label, entry = next(iter(metrics["backbones"].items()))
    inv = entry["inversion"]
    cfg = metrics["config"]
    names = controller_labels(cfg)
    musics = [c for c in names if c.startswith("music")]
    lines = ["| Metric | " + " | ".join(names.values()) + " | Paper |", "|" + "---|" * (len(names) + 2)]
    tests = ["| Metric | " + " | ".join(f"{names[c]} vs linear" for c in musics) + " |",
             "|" + "---|" * (len(musics) + 1)]
    for key, name, higher in ROWS:
        cells = [f"{np.nanmean(v):.4g} ± {np.nanstd(v):.2g}" for v in (_paths(entry, c, key) for c in names)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {PAPER[key]} |")
        if higher is None:
            continue
        lin, pl = _paths(entry, "linear", key), _pair_means(entry, "linear", key)
        cells = []
        for c in musics:
            m, pm = _paths(entry, c, key), _pair_means(entry, c, key)
            better = pm > pl if higher else pm < pl
            ok = ~(np.isnan(m) | np.isnan(lin))
            p = f"{wilcoxon(m[ok], lin[ok]).pvalue:.2g}" if np.any(m[ok] != lin[ok]) else "—"
            cells.append(f"{int(better.sum())}/{len(pm)} pairs, p {p}")
        tests.append(f"| {name} ({'higher' if higher else 'lower'} is better) | " + " | ".join(cells) + " |")
    outcome = []
    for c, title in names.items():
        reached = np.nanmean(_paths(entry, c, "reached_target_class"))
        first = np.nanmean(_paths(entry, c, "first_target_step"))
        detours = np.nanmean(_paths(entry, c, "detour_steps"))
        final = np.nanmean(_paths(entry, c, "final_distance_to_target"))
        outcome.append(f"| {title} | {reached:.0%} | {first:.1f} | {detours:.1f} | {final:.3g} |")
    return "\n".join([
        f"Backbone `{label}` ({entry['model']['n_units']} units, latent dimension "
        f"{entry['model']['latent_dim']}), data {metrics['data']['name']}: "
        f"{metrics['data']['n_train']} training / {metrics['data']['n_test']} held-out images; "
        f"{cfg['run']['steps']} steps per path; classifier `{cfg['run']['classifier']}` "
        f"(held-out accuracy {entry.get('classifier', {}).get('test_accuracy', float('nan')):.3f}).",
        "",
        f"Inversion on {inv['n_points']} held-out points: max relative error "
        f"{_g(inv['max_relative_error'])}, median {_g(inv['median_relative_error'])}, "
        f"sigma_min {_g(inv['sigma_min'])}, condition {_g(inv['condition'])}"
        f"{' (the prototypes do not span the latent space)' if not inv['spans'] else ''}.",
        "",
        *lines,
        "",
        "MUSIC against linear: pairs (of 10) where MUSIC's mean over the 3 starts is better, and "
        "the two-sided paired Wilcoxon signed-rank test over the 30 paths:",
        "",
        *tests,
        "",
        "Where the paths go (means over the 30 paths; the first step predicted as the target "
        "averages over the paths that reach it; detours are steps predicted as neither source "
        "nor target; the last column is the latent distance from the end point to the target "
        "prototype):",
        "",
        "| controller | paths ending in the target class | first step predicted as target "
        "| detour steps | final distance to target |",
        "|---|---|---|---|---|",
        *outcome,
    ])


def setup(metrics: dict, timings: dict | None) -> str:
    """What was run, read back from the run's own config (so the doc cannot drift from it)."""
    cfg = metrics["config"]
    enc, model, ctrl, data = cfg["encoder"], cfg["model"], cfg.get("controller") or {}, cfg["data"]
    n_comp = enc.get("n_components")
    settings = ", ".join(f"{k} {v}" for k, v in ctrl.items() if k not in ("name", "seed"))
    lines = [
        f"- Data: MNIST {data.get('split', 'train')} split, a random {data.get('n_samples', 'all')} "
        f"images, {cfg['run']['test_size']:.0%} held out (sources are held-out images).",
        f"- Encoder: PCA, {'all' if n_comp is None else n_comp} components"
        f"{', whitened' if enc.get('whiten') else ''}.",
        f"- Backbone: {model['name']} {model.get('rows')}x{model.get('cols')}, "
        f"{model.get('epochs', 'default')} epochs.",
        f"- MUSIC: {settings or 'the defaults'} "
        "(defaults: gamma 0.9, lam 1, eta 0.5, trust 0.05 x distance to the BMU, 1 pass, "
        "the ring of radius 2 around the current BMU preserved; docs/results-music-sweep.md). "
        "Linear: the straight line from the start to the target prototype in the same number of "
        "steps.",
    ]
    if timings:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if k != "total" and v >= 1)
        lines.append(f"- Time: {timings['total']:.0f} s in all ({parts}).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-metrics", type=Path, help="summarise an existing metrics.json (no figures)")
    ap.add_argument("--out", default="runs/mnist_music")
    ap.add_argument("--set", action="append", default=[], help="config override, as for protoflow run")
    ap.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args()
    timings = None
    figures: list[Path] = []
    if args.from_metrics:
        metrics = json.loads(args.from_metrics.read_text())
        saved = args.from_metrics.with_name("timings.json")  # written beside it by the pipeline
        timings = json.loads(saved.read_text()) if saved.exists() else None
    else:
        import protoflow.pipeline

        result = protoflow.pipeline.run(CONFIG, out=args.out, overrides=args.set, quiet=False)
        metrics, timings = result.metrics, result.timings
        figures = plot_pair(result)
    table = summarise(metrics)
    print(table)
    how = ("`PROTOFLOW_DATA=../shared/data flock /tmp/protoflow-heavy.lock .venv/bin/python "
           "reproduce/mnist_music.py" + "".join(f" --set {shlex.quote(s)}" for s in args.set) + "`")
    text = "\n".join([
        "# MUSIC on MNIST: protoflow against the paper's Table 2",
        "",
        f"Produced by {how} from `examples/mnist_music.toml` on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, Python {platform.python_version()}); every number in this block "
        "is read from that run's metrics.json.",
        "",
        setup(metrics, timings),
        "",
        "## Table 2 (means ± std over the 30 paths of each method)",
        "",
        table,
        *([""] + [f"![{f.stem}](img/{f.name})" for f in figures] if figures else []),
    ])
    write_generated(args.doc, text, "mnist_music")
    print(f"wrote {args.doc}")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_pair(result, pair: int = 0, start: int = 0, frames: int = 11) -> list[Path]:
    """Figures for one path of one pair: decoded frames of MUSIC and linear (the paper's Fig. 8)
    and the classifier's confidence and predicted class along both (its Fig. 10).

    Writes docs/img/mnist_music_frames.png and docs/img/mnist_music_confidence.png.
    """
    plt = _pyplot()
    label = next(iter(result.backbones))
    bb = result.backbones[label]
    shape = result.dataset.image_shape
    entry = result.metrics["backbones"][label]["trajectories"]["pairs"][pair]
    title = f"pair {entry['pair']}, start {start}"
    names = controller_labels(result.metrics["config"])
    paths = {names[c]: np.asarray(result.trajectories[(label, pair, c)].points)[start] for c in names}
    steps = len(next(iter(paths.values()))) - 1
    show = np.linspace(0, steps, frames).round().astype(int)
    fig, axes = plt.subplots(len(paths), frames, figsize=(1.1 * frames, 1.35 * len(paths) + 0.3), squeeze=False)
    for row, (ctrl, P) in enumerate(paths.items()):
        images = bb.encoder.decode(P[show])
        pred = bb.classifier.predict(P[show])
        for col, (k, img) in enumerate(zip(show, images)):
            ax = axes[row, col]
            ax.imshow(img.reshape(shape[:2]), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{k}: '{pred[col]}'", fontsize=7)
        axes[row, 0].set_ylabel(ctrl.replace(" (", "\n(").replace(", ", ",\n"), fontsize=6)
    fig.suptitle(f"MNIST {title}: decoded frames (step: predicted class)", fontsize=9)
    fig.tight_layout()
    frames_png = ROOT / "docs/img/mnist_music_frames.png"
    _save(fig, frames_png)

    fig, (ax_c, ax_l) = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
    for ctrl, P in paths.items():
        proba = bb.classifier.predict_proba(P)
        classes = np.asarray(bb.classifier.classes_)
        ax_c.plot(proba.max(axis=1), label=ctrl)
        ax_l.plot(classes[proba.argmax(axis=1)], drawstyle="steps-post", label=ctrl, alpha=0.8)
    ax_c.set_ylabel("confidence of\npredicted class")
    ax_c.set_ylim(0, 1.02)
    ax_c.legend(fontsize=8)
    ax_l.set_ylabel("predicted class")
    ax_l.set_yticks(range(10))
    ax_l.set_xlabel("step")
    ax_c.set_title(f"MNIST {title}: classifier along the path", fontsize=9)
    fig.tight_layout()
    conf_png = ROOT / "docs/img/mnist_music_confidence.png"
    _save(fig, conf_png)
    return [frames_png, conf_png]


if __name__ == "__main__":
    main()
