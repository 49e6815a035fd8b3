"""One self-contained HTML page: metrics tables and figures embedded as base64 PNG (no
scripts, no external resources)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import Any

import attrs

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
figure{margin:1rem 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85rem;color:#555}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4rem .8rem;margin:.5rem 0}
.muted{color:#777;font-size:.85rem}pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem}
"""


@attrs.frozen
class Figure:
    """A figure for the report: a title, a caption, the PNG bytes and its file name."""

    title: str
    caption: str
    png: bytes = attrs.field(repr=False)
    filename: str = ""
    section: str = ""


def fmt(value: Any) -> str:
    """A table cell: 4 significant digits, '–' for missing values."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv_table(d: dict[str, Any], keys: Sequence[str] | None = None) -> str:
    keys = keys or [k for k in d if not isinstance(d[k], dict | list)]
    return table([(k.replace("_", " "), d.get(k)) for k in keys], ["quantity", "value"])


def _figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(fig.title)}">'
            f"<figcaption><b>{html.escape(fig.title)}.</b> {html.escape(fig.caption)}</figcaption></figure>")


_TRAJ_COLS = [
    ("confidence_mean", "mean conf."), ("confidence_min", "min conf."),
    ("first_target_step", "first target step"), ("detour_steps", "detour steps"),
    ("reached_target_class", "reached"), ("sharpness", "sharpness"),
    ("manifold_distance", "manifold dist."), ("geodesic_efficiency", "geodesic eff."),
    ("continuity_mean", "step continuity"), ("transition_rate", "transition rate"),
    ("final_distance_to_target", "final dist. to target"),
    ("nearest_sample_distance_mean", "nearest-sample dist."),
    ("out_of_range_fraction", "out of range"), ("latent_consistency_mean", "latent consist."),
    ("arrived", "arrived"), ("arrival_step", "arrival step"), ("stall_steps", "stall steps"),
]


def _trajectory_table(summary: dict[str, dict[str, Any]]) -> str:
    cols = [(k, t) for k, t in _TRAJ_COLS if any(k in s for s in summary.values())]
    rows = [[name] + [s.get(k) for k, _ in cols] for name, s in summary.items()]
    return table(rows, ["controller"] + [t for _, t in cols])


def _backbone_section(label: str, entry: dict[str, Any], figures: list[Figure]) -> str:
    parts = [f"<h2>Backbone: {html.escape(label)}</h2>"]
    m = entry["model"]
    topo = m.get("topology") or {}
    desc = ", ".join(f"{k}={v}" for k, v in topo.items()
                     if k != "type" and not isinstance(v, list | dict)) or "none"
    parts.append(f"<p>{fmt(m['name'])}: {m['n_units']} prototypes in {m['latent_dim']} "
                 f"latent dimensions; topology {fmt(topo.get('type', 'none'))} ({fmt(desc)}).</p>")
    inv = entry["inversion"]
    parts.append("<h3>Inversion check</h3>")
    parts.append(_kv_table(inv, ["spans", "rank", "n_features", "sigma_min", "condition",
                                 "n_points", "max_relative_error", "median_relative_error"]))
    if inv.get("note"):
        parts.append(f'<p class="note">{html.escape(inv["note"])}</p>')
    mq = {k: v for k, v in entry.get("map_quality", {}).items() if k != "notes"}
    if mq:
        parts.append("<h3>Map quality (held-out data)</h3>" + _kv_table(mq))
    for name, note in entry.get("map_quality", {}).get("notes", {}).items():
        parts.append(f'<p class="muted">{html.escape(name)}: {html.escape(note)}</p>')
    if "classifier" in entry:
        c = entry["classifier"]
        parts.append(f"<p>Classifier ({fmt(c['kind'])}) in the latent space: held-out accuracy "
                     f"{fmt(c['test_accuracy'])}.</p>")
    traj = entry.get("trajectories") or {}
    if traj:
        parts.append("<h3>Trajectories (mean over all paths)</h3>")
        parts.append(_trajectory_table(traj["summary"]))
        for p in traj["pairs"]:
            parts.append(f"<h4>{html.escape(p['pair'])} (target units {fmt(p['target_units'][:8])}"
                         f"{'…' if len(p['target_units']) > 8 else ''})</h4>")
            parts.append(_trajectory_table({n: c["mean"] for n, c in p["controllers"].items()}))
    parts += [_figure_html(f) for f in figures if f.section == label]
    return "\n".join(parts)


def _comparison(metrics: dict[str, Any]) -> str:
    rows = []
    for label, e in metrics["backbones"].items():
        inv, mq = e["inversion"], e.get("map_quality", {})
        first = next(iter((e.get("trajectories") or {}).get("summary", {}).values()), {})
        rows.append([label, e["model"]["n_units"], inv.get("max_relative_error"), inv.get("sigma_min"),
                     mq.get("quantization_error"), mq.get("topographic_error"), mq.get("purity"),
                     first.get("confidence_min"), first.get("geodesic_efficiency")])
    header = ["backbone", "units", "max inv. error", "sigma_min", "QE", "TE", "purity",
              "min conf. (main ctrl.)", "geodesic eff. (main ctrl.)"]
    return "<h2>Backbones side by side</h2>" + table(rows, header)


def render(metrics: dict[str, Any], figures: list[Figure], notes: Sequence[str] = (),
           title: str = "protoflow report") -> str:
    """The report as an HTML string."""
    data = metrics["data"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">data {fmt(data["name"])}: {data["n_train"]} training and '
        f'{data["n_test"]} held-out samples of {data["n_features"]} features'
        f'{", " + str(data["n_classes"]) + " classes" if data.get("n_classes") else ""}.</p>',
    ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    if len(metrics["backbones"]) > 1:
        parts.append(_comparison(metrics))
    parts += [_figure_html(f) for f in figures if f.section == ""]
    for label, entry in metrics["backbones"].items():
        parts.append(_backbone_section(label, entry, figures))
    parts.append("<h2>Configuration</h2><pre>"
                 + html.escape(json.dumps(metrics["config"], indent=2)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
