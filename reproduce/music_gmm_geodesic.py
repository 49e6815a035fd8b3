"""Why informed MUSIC's geodesic efficiency on the GMM is 0.71, not "close to 1", and which
settings bring it closer without breaking the other Table 1 measures.

The experiment of reproduce/music_gmm.py (3 components in D = 10, a 20x20 SOM, 30 test starts,
10 from each component, informed MUSIC toward the unit nearest component 0's mean, 300 steps).
For each setting it reports the distribution of the per-path geodesic efficiency
``||z_K - z_0|| / sum_k ||d_k||``, split by the component the path starts in (a start in
component 0 needs no detour; a start in 1 or 2 must cross between components), with the
median continuity, transition rate, distance to the data (5-NN) and the final distance to the
target, and draws the efficiency distributions. Writes docs/results-music-geodesic.md and
docs/img/music_gmm_geodesic.png (every number comes from the run).

    flock /tmp/protoflow-heavy.lock .venv/bin/python reproduce/music_gmm_geodesic.py   # ~1-2 min
    .venv/bin/python reproduce/music_gmm_geodesic.py --quick                          # smoke run
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import protoflow
from protoflow.io import atomic_write_text
from protoflow.metrics.trajectory import (
    continuity,
    geodesic_efficiency,
    split_paths,
    transition_rate,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "reproduce"))
from music_gmm import (  # noqa: E402
    MUSIC_PARAMS,
    _pyplot,
    _save,
    experiment_args,
    experiment_data,
    fit_backbone,
)

from protoflow.metrics.semantic import manifold_distance  # noqa: E402

#: (label, overrides of the Table 1 setting)
SETTINGS = (
    ("Table 1 setting (gamma 0.9, lam 1e-2, trust 0.1)", {}),
    ("lam 1e-1", {"lam": 0.1}),
    ("lam 1", {"lam": 1.0}),
    ("trust 0.05", {"trust": 0.05}),
    ("trust 0.2", {"trust": 0.2}),
    ("3 passes", {"passes": 3}),
    ("gamma 0.95", {"gamma": 0.95}),
    ("gamma 0.99", {"gamma": 0.99}),
    ("ring radius 3", {"preserve": "ring", "radius": 3}),
    ("ring radius 3, lam 1e-1", {"preserve": "ring", "radius": 3, "lam": 0.1}),
    ("ring radius 1, lam 1e-1", {"preserve": "ring", "radius": 1, "lam": 0.1}),
    ("MUSIC's defaults (ring radius 2, lam 1, trust 0.05)",
     {"preserve": "ring", "radius": 2, "lam": 1.0, "trust": 0.05}),
)


def measure(traj, starts_from: np.ndarray, reference: np.ndarray, goal: np.ndarray) -> dict:
    paths = split_paths(traj)
    eff = np.array([geodesic_efficiency(p) for p in paths])
    cont = np.array([np.median(continuity(p)) if len(continuity(p)) else np.nan for p in paths])
    return {
        "eff": eff,
        "eff_median": float(np.nanmedian(eff)),
        "eff_by_start": [float(np.nanmedian(eff[starts_from == c])) for c in range(3)],
        "eff_q": np.nanquantile(eff, [0.1, 0.9]).tolist(),
        "continuity": float(np.nanmedian(cont)),
        "transitions": float(np.median([transition_rate(p) for p in paths])),
        "manifold": float(np.mean([manifold_distance(P, reference).mean() for P in traj.points])),
        "final": float(np.median(np.linalg.norm(traj.points[:, -1] - goal, axis=1))),
    }


def main() -> None:
    args = experiment_args(__doc__.splitlines()[0])
    Ztr, Zte, yte = experiment_data(args)
    model, backbone = fit_backbone(Ztr, 20, 20, args.seed)
    W = np.asarray(model.prototypes_, dtype=np.float64)
    centre = np.array([Zte[yte == c].mean(0) for c in range(3)])
    target = int(np.argmin(((W - centre[0]) ** 2).sum(1)))
    per = args.paths // 3
    starts = np.concatenate([Zte[yte == c][:per] for c in range(3)])
    starts_from = np.repeat(np.arange(3), per)
    reference = Ztr[:5000]

    rows, t0 = {}, time.perf_counter()
    for label, overrides in SETTINGS:
        ctrl = protoflow.create_controller("music", mode="informed", seed=args.seed,
                                           **{**MUSIC_PARAMS, **overrides})
        rows[label] = measure(ctrl.run(model, starts, target, args.steps), starts_from, reference, W[target])
        print(f"{label}: efficiency {rows[label]['eff_median']:.3f}", flush=True)
    linear = protoflow.create_controller("linear").run(model, starts, target, args.steps)
    rows["linear (reference)"] = measure(linear, starts_from, reference, W[target])
    elapsed = time.perf_counter() - t0
    write(args, backbone, rows, elapsed)


def write(args, backbone: str, rows: dict, elapsed: float) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    labels = list(rows)
    ax.boxplot([rows[k]["eff"][np.isfinite(rows[k]["eff"])] for k in labels], orientation="horizontal",
               tick_labels=labels)
    ax.axvline(1.0, color="0.6", linestyle=":")
    ax.set_xlabel("geodesic efficiency per path (1 = straight line)")
    ax.set_title(f"GMM, {backbone}: informed MUSIC, {args.paths} paths x {args.steps} steps")
    fig.tight_layout()
    _save(fig, ROOT / "docs/img/music_gmm_geodesic.png", 90)

    lines = [
        "# MUSIC on the GMM: geodesic efficiency",
        "",
        f"Command: `{'flock /tmp/protoflow-heavy.lock ' if not args.quick else ''}.venv/bin/python "
        f"reproduce/music_gmm_geodesic.py{' --quick' if args.quick else ''}` (seed {args.seed}, "
        f"{args.paths} test starts, {args.paths // 3} from each component, {args.steps} steps; "
        f"{backbone}; {elapsed:.0f} s). The setup is reproduce/music_gmm.py's (docs/results-music.md).",
        "",
        "Geodesic efficiency is `||z_K - z_0|| / path length`: 1 for a straight line. Medians over "
        "paths; `by start component` splits them by where the path starts (the target is the unit "
        "nearest component 0's mean). Continuity: median cosine between successive steps; "
        "manifold: mean 5-NN distance of the path points to 5,000 training points; final: "
        "median distance of the last point to the target prototype.",
        "",
        "| setting | efficiency (median) | 10%-90% | by start component 0 / 1 / 2 | continuity | "
        "transition rate | manifold | final |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, r in rows.items():
        b = " / ".join(f"{v:.2f}" for v in r["eff_by_start"])
        lines.append(f"| {label} | {r['eff_median']:.3f} | {r['eff_q'][0]:.2f}-{r['eff_q'][1]:.2f} | "
                     f"{b} | {r['continuity']:.3f} | {r['transitions']:.3f} | {r['manifold']:.3f} | "
                     f"{r['final']:.3g} |")
    base = rows[next(iter(rows))]
    music = {k: v for k, v in rows.items() if not k.startswith("linear")}
    best = max(music, key=lambda k: music[k]["eff_median"])
    lines += [
        "",
        "![efficiency distributions](img/music_gmm_geodesic.png)",
        "",
        "## Reading",
        "",
        f"- With the Table 1 setting the median efficiency is {base['eff_median']:.3f}; paths that "
        f"start in the target's own component reach {base['eff_by_start'][0]:.2f}, paths from the "
        f"other two {base['eff_by_start'][1]:.2f} and {base['eff_by_start'][2]:.2f}"
        + (" (almost the same: the loss is not the crossing between components)"
           if max(base["eff_by_start"]) - min(base["eff_by_start"]) < 0.1 else
           " (crossing between components costs efficiency)")
        + ". The median continuity is "
        f"{base['continuity']:.2f}"
        + (", so the steps do not zig-zag: the paths are smooth but curved. With preserve='all' "
           "every unit's activation is held as the point moves, which bends the path around the "
           "map instead of along the chord." if base["continuity"] > 0.95 else
           ", so part of the loss is zig-zag between steps.")
        + "",
        f"- The highest median efficiency here is {music[best]['eff_median']:.3f} with `{best}` "
        f"(continuity {music[best]['continuity']:.2f}, manifold {music[best]['manifold']:.3f} "
        f"against {base['manifold']:.3f}, final distance {music[best]['final']:.3g}).",
        f"- Linear interpolation is efficient by construction ({rows['linear (reference)']['eff_median']:.3f}); "
        f"its mean distance to the data is {rows['linear (reference)']['manifold']:.3f} against "
        f"MUSIC's {base['manifold']:.3f} (Table 1 setting) and {music[best]['manifold']:.3f} ({best}): "
        "on this mixture the chord between components stays close to the data, so efficiency "
        "and staying on the data do not conflict here; on MNIST the paper's setting loses both "
        "(efficiency 0.26, 41% of decoded pixels out of range) and the defaults keep both (0.97, "
        "0.5%; docs/results-mnist-music.md).",
        "",
        "MUSIC's defaults were chosen by the MNIST and digits study ([results-music-sweep.md](results-music-sweep.md)); on this mixture they also bring the efficiency close to 1 without raising the manifold distance.",
        "",
    ]
    atomic_write_text(ROOT / "docs/results-music-geodesic.md", "\n".join(lines))
    print("wrote docs/results-music-geodesic.md")


if __name__ == "__main__":
    main()
