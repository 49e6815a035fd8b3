"""Reproduce the MUSIC paper's Gaussian-mixture experiment (spec §5, paper §5.2).

3 components in D = 10 (means on a triangle in the first two coordinates, small isotropic noise
in the rest), 25,000 train / 8,000 test points standardised with the training statistics, a
rectangular SOM. Measures

1. the median inversion error over 1,500 test points against the number n of nearest prototypes
   used (the drop at n = D+1), plotted to docs/img/music_gmm_inversion.png;
2. the Table 1 trajectory metrics for informed convergence (every path attracted to the
   prototype nearest one component mean, starts drawn from all three components) and for
   cluster exploration (each step an informed step toward a random prototype of one
   component's region), with the linear baseline for reference;
3. a small sensitivity sweep of the informed run (gamma, lam, trust, preservation set).

Writes docs/results-music.md (the numbers come from the run, nothing is typed in) and the
figures docs/img/music_gmm_inversion.png and docs/img/music_gmm_paths.png. The speed tables of
benchmarks/bench_music.py live in docs/benchmarks.md.

    flock /tmp/protoflow-heavy.lock .venv/bin/python reproduce/music_gmm.py   # full sizes, ~20 s
    .venv/bin/python reproduce/music_gmm.py --quick    # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np

import protoflow
from protoflow.io import atomic_write_bytes, atomic_write_text
from protoflow.metrics.semantic import manifold_distance
from protoflow.metrics.trajectory import split_paths, trajectory_summary

ROOT = Path(__file__).resolve().parents[1]
D = 10


def gmm(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three components: unit-spread clusters on a triangle in (x0, x1), noise 0.1 elsewhere."""
    means = np.zeros((3, D))
    means[:, :2] = 4.0 * np.array([[0.0, 1.0], [-0.866, -0.5], [0.866, -0.5]])
    labels = rng.integers(0, 3, size=n)
    scale = np.r_[np.ones(2), np.full(D - 2, 0.1)]
    return means[labels] + rng.normal(size=(n, D)) * scale, labels


def fit_backbone(Z: np.ndarray, rows: int, cols: int, seed: int):
    """The rectangular SOM when its plugin is installed, otherwise a k-means codebook."""
    if "som" in protoflow.get_registry().models:
        model = protoflow.create_model("som", rows=rows, cols=cols, seed=seed)
        return model.fit(Z), f"SOM {rows}x{cols} (protoflow-som, default training)"
    from sklearn.cluster import KMeans

    from protoflow.prototypes import PrototypeSet

    km = KMeans(n_clusters=rows * cols, n_init=1, random_state=seed).fit(Z[:5000])
    return PrototypeSet(km.cluster_centers_), f"k-means codebook of {rows * cols} (SOM plugin missing)"


def inversion_curve(model, Ztest: np.ndarray, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(model.prototypes_, dtype=np.float64)
    # activations by direct differences, so they carry no GEMM cancellation error
    A = ((Ztest[:, None, :] - W[None]) ** 2).sum(-1)
    inv = protoflow.inversion.Inverter(W, allow_underdetermined=True)
    ns = np.arange(1, n_max + 1)
    med = np.array([np.median(np.linalg.norm(inv.invert(A, n_nearest=int(n)) - Ztest, axis=1)) for n in ns])
    return ns, med



#: the controller settings of the Table 1 runs (within the paper's recommended ranges, spec §2)
#: the paper's Table 1 setting (all non-targets preserved, as the paper does; not MUSIC's defaults)
MUSIC_PARAMS = {"gamma": 0.9, "lam": 1e-2, "trust": 0.1, "preserve": "all"}

#: informed-run variants of the sensitivity sweep: (label, overrides of MUSIC_PARAMS)
SWEEP = (
    ("gamma 0.7", {"gamma": 0.7}),
    ("gamma 0.95", {"gamma": 0.95}),
    ("lam 1e-3", {"lam": 1e-3}),
    ("lam 1e-1", {"lam": 1e-1}),
    ("lam 10", {"lam": 10.0}),
    ("trust 0.05", {"trust": 0.05}),
    ("3 passes", {"passes": 3}),
    ("ring radius 1", {"preserve": "ring", "radius": 1}),
    ("ring radius 3", {"preserve": "ring", "radius": 3}),
    ("ring radius 3, lam 1e-1", {"preserve": "ring", "radius": 3, "lam": 0.1}),
)

#: Table 1 rows: (metric key, what the paper's prose says for informed / for cluster exploration)
PAPER_PROSE = {
    "transition_rate": ("low", "frequent"),
    "dwell_median": ("long", "1-2 steps"),
    "continuity_median": ("high", "decreases"),
    "curvature_within": ("low within cells", "more variable"),
    "geodesic_efficiency": ("close to 1", "drops substantially"),
}


def summarise(traj, reference: np.ndarray) -> dict[str, float]:
    """Median over paths of the Table 1 metrics, plus the mean manifold distance (5-NN)."""
    rows = [trajectory_summary(p) for p in split_paths(traj)]
    out = {k: float(np.nanmedian([r[k] for r in rows])) for k in rows[0]}
    out["manifold_distance"] = float(np.mean([manifold_distance(P, reference).mean() for P in traj.points]))
    return out


def _save(fig, path: Path, dpi: int) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_inversion(ns: np.ndarray, med: np.ndarray, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.semilogy(ns, np.maximum(med, 1e-17), "o-")
    ax.axvline(D + 1, color="grey", ls="--", label=f"n = D+1 = {D + 1}")
    ax.set_xlabel("prototypes used (nearest n)")
    ax.set_ylabel("median ||z_hat - z||")
    ax.set_title(f"GMM, D = {D}: inversion error vs n (1,500 test points)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    _save(fig, path, 120)


def plot_paths(model, Ztr: np.ndarray, target: int, region: list[int], trajs: dict, path: Path) -> None:
    """Coordinates (x0, x1) of the paths over the training data and the prototypes."""
    plt = _pyplot()
    W = np.asarray(model.prototypes_)
    fig, axes = plt.subplots(1, len(trajs), figsize=(4.2 * len(trajs), 4.4), sharex=True, sharey=True)
    for ax, (title, traj) in zip(axes, trajs.items()):
        ax.scatter(Ztr[:3000, 0], Ztr[:3000, 1], s=2, c="0.85", lw=0, label="training data")
        ax.scatter(W[:, 0], W[:, 1], s=7, c="0.55", lw=0, label="prototypes")
        ax.scatter(W[region, 0], W[region, 1], s=7, c="tab:olive", lw=0, label="target region")
        for P in traj.points:
            ax.plot(P[:, 0], P[:, 1], lw=0.7, alpha=0.8)
        ax.scatter(traj.points[:, 0, 0], traj.points[:, 0, 1], s=12, c="k", marker="o", label="starts", zorder=3)
        ax.scatter(*W[target, :2], s=140, c="red", marker="*", label="target prototype", zorder=4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("z0 (standardised)")
    axes[0].set_ylabel("z1 (standardised)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, markerscale=1.5, frameon=False)
    fig.suptitle(f"GMM, D = {D}: coordinates z0, z1 (the other {D - 2} are noise dimensions)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _save(fig, path, 110)


def experiment_args(description: str) -> argparse.Namespace:
    """The options this experiment and its sibling studies share (--quick, --seed, --steps,
    --paths)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--paths", type=int, default=30)
    return ap.parse_args()


def experiment_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Z_train, Z_test, test labels): the mixture drawn with the seed, standardised with the
    training statistics (smaller with --quick)."""
    rng = np.random.default_rng(args.seed)
    n_train, n_test = (5000, 2000) if args.quick else (25_000, 8_000)
    Xtr, _ = gmm(n_train, rng)
    Xte, yte = gmm(n_test, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    return (Xtr - mu) / sd, (Xte - mu) / sd, yte


def main() -> None:
    args = experiment_args(__doc__.splitlines()[0])
    Ztr, Zte, yte = experiment_data(args)
    t0 = time.perf_counter()
    model, backbone = fit_backbone(Ztr, 20, 20, args.seed)
    fit_s = time.perf_counter() - t0

    ns, med = inversion_curve(model, Zte[:1500], 2 * D + 2)
    plot_inversion(ns, med, ROOT / "docs/img/music_gmm_inversion.png")

    W = np.asarray(model.prototypes_, dtype=np.float64)
    centre = np.array([Zte[yte == c].mean(0) for c in range(3)])
    owner = np.argmin(((W[:, None] - centre[None]) ** 2).sum(-1), axis=1)  # component of each unit
    target = int(np.argmin(((W - centre[0]) ** 2).sum(1)))
    region = [int(u) for u in np.flatnonzero(owner == 0)]
    per = args.paths // 3
    starts = np.concatenate([Zte[yte == c][:per] for c in range(3)])
    reference = Ztr[:5000]

    def informed_run(**overrides: float | int | str):
        params = {**MUSIC_PARAMS, **overrides}
        ctrl = protoflow.create_controller("music", mode="informed", seed=args.seed, **params)
        return ctrl.run(model, starts, target, args.steps)

    t0 = time.perf_counter()
    informed = informed_run()
    explore = protoflow.create_controller("music", mode="cluster-random", seed=args.seed, **MUSIC_PARAMS)
    cluster = explore.run(model, starts, region, args.steps)
    linear = protoflow.create_controller("linear").run(model, starts, target, args.steps)
    run_s = time.perf_counter() - t0
    plot_paths(model, Ztr, target, region,
               {"MUSIC informed": informed, "MUSIC cluster exploration": cluster, "linear": linear},
               ROOT / "docs/img/music_gmm_paths.png")

    table = {"MUSIC informed": summarise(informed, reference), "MUSIC cluster": summarise(cluster, reference),
             "linear (informed target)": summarise(linear, reference)}
    sweep = {"Table 1 setting": informed}
    sweep.update({label: informed_run(**kw) for label, kw in SWEEP})
    sweep_rows = {label: {**summarise(t, reference), "final": _final_distance(t, W[target])}
                  for label, t in sweep.items()}
    final = _final_distance(informed, W[target])
    inside = np.isin(cluster.bmus[:, -1], region).mean()
    data_md = float(manifold_distance(Zte[:1500], reference).mean())
    write_report(args, backbone, fit_s, run_s, ns, med, table, final, inside, len(region), W.shape[0],
                 sweep_rows, data_md)


def _final_distance(traj, goal: np.ndarray) -> np.ndarray:
    """Distance of each path's last point to the goal, shape (n_paths,)."""
    return np.linalg.norm(traj.points[:, -1] - goal, axis=1)


def write_report(args, backbone, fit_s, run_s, ns, med, table, final, inside, n_region, n_units,
                 sweep_rows, data_md) -> None:
    params = ", ".join(f"{k} {v:g}" for k, v in MUSIC_PARAMS.items() if k != "preserve")
    lines = [
        "# MUSIC on the Gaussian mixture (paper §5.2)",
        "",
        "Generated by `flock /tmp/protoflow-heavy.lock .venv/bin/python reproduce/music_gmm.py"
        + (" --quick" if args.quick else "") + f"` (seed {args.seed}); every number below is measured "
        "in that run. Speed of one MUSIC step: [benchmarks.md](benchmarks.md#music).",
        "",
        f"- Data: 3-component GMM in D = {D} (means on a triangle in z0, z1; the other {D - 2} "
        f"coordinates are noise), {'5,000/2,000' if args.quick else '25,000/8,000'} train/test, "
        "standardised with the training statistics.",
        f"- Backbone: {backbone}, fitted in {fit_s:.1f} s; {n_units} prototypes.",
        f"- Trajectories: {args.paths} starts ({args.paths // 3} per component), {args.steps} steps, "
        f"run in {run_s:.1f} s (batched).",
        "",
        "## Inversion error vs prototypes used (1,500 test points)",
        "",
        "![inversion error](img/music_gmm_inversion.png)",
        "",
        "| n nearest | " + " | ".join(str(n) for n in ns) + " |",
        "| --- | " + " | ".join("---" for _ in ns) + " |",
        "| median error | " + " | ".join(f"{m:.1e}" for m in med) + " |",
        "",
        f"The error is of order one for n <= D = {D} ({med[D - 1]:.2g} at n = D) and drops to "
        f"{med[D]:.1e} at n = D+1 = {D + 1}, as the paper's Figure 5 shows.",
        "",
        "## Table 1: trajectory metrics (median over paths)",
        "",
        f"MUSIC: {params} (trust: a multiple of the distance to the BMU), 1 pass, all non-targets "
        "preserved. Informed: every path is attracted to the prototype nearest component 0's mean. "
        "Cluster: each step is an informed step toward a random prototype of component 0's region "
        f"({n_region} units). The last row is not in the paper: the mean distance of the path to its "
        f"5 nearest training points (test points themselves: {data_md:.3g}).",
        "",
        "The paper's Table 1 figures did not survive in our copy of its text; the two "
        "'paper' columns give what its prose says.",
        "",
        "| metric | " + " | ".join(table) + " | paper: informed | paper: cluster |",
        "| --- | " + " | ".join("---" for _ in table) + " | --- | --- |",
    ]
    for key in next(iter(table.values())):
        prose = PAPER_PROSE.get(key, ("", ""))
        lines.append(f"| {key} | " + " | ".join(f"{row[key]:.3g}" for row in table.values())
                     + f" | {prose[0]} | {prose[1]} |")
    lines += [
        "",
        f"Informed paths end a median {np.median(final):.2e} from the target prototype "
        f"(max {final.max():.2e}); {100 * inside:.0f}% of cluster paths end inside the region.",
        "",
        "![paths](img/music_gmm_paths.png)",
        "",
        "## Sensitivity of the informed run",
        "",
        f"Each row changes one setting of the Table 1 run ({params}, all non-targets preserved).",
        "",
        "| setting | transition rate | dwell median | continuity median | geodesic efficiency "
        "| manifold distance | median final distance to target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in sweep_rows.items():
        lines.append(
            f"| {label} | {row['transition_rate']:.3g} | {row['dwell_median']:.3g} | "
            f"{row['continuity_median']:.3g} | {row['geodesic_efficiency']:.3g} | "
            f"{row['manifold_distance']:.3g} | {np.median(row['final']):.2e} |"
        )
    lines.append("")
    write_generated(ROOT / "docs/results-music.md", "\n".join(lines))
    print("\n".join(lines))


def write_generated(path: Path, text: str, name: str = "music_gmm") -> None:
    """Put `text` between the markers ``<!-- name:begin -->`` / ``<!-- name:end -->`` of `path`,
    keeping everything before and after them (the hand-written discussion, other generated
    blocks); without the markers the block is appended (the file is created if absent).
    (Shared by the reproduction scripts.)"""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        tail = rest.split(end, 1)[1]
    else:
        head, tail = (old.rstrip() + "\n\n" if old.strip() else ""), "\n"
    atomic_write_text(path, f"{head}{begin}\n{text}\n{end}{tail}")

if __name__ == "__main__":
    main()
