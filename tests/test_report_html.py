"""The figures and the self-contained HTML report; rendered in headless Chromium when present."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from protoflow.pipeline import run
from protoflow.progress import Progress, stage
from protoflow.prototypes import PrototypeSet
from protoflow.report import figures as F
from protoflow.report.html import fmt, render
from protoflow.topology import Graph, Lattice

_spec = importlib.util.spec_from_file_location("pipeline_toys", Path(__file__).with_name("pipeline_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)

PNG = b"\x89PNG\r\n\x1a\n"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    toys.register_toys()
    try:
        out = tmp_path_factory.mktemp("report")
        run(tomllib.loads(toys.TOY_TOML), out=out)
    finally:
        toys.unregister_toys()
    return out


@pytest.mark.parametrize(
    "topology",
    [Lattice(3, 4), Lattice(4, 4, kind="hex", toroidal=True), Lattice(3, 3, toroidal=True),
     Graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)])],
    ids=["rect", "hex-torus", "torus", "graph"],
)
def test_umatrix_draws_every_topology(topology):
    W = np.random.default_rng(0).normal(size=(topology.n_units, 3))
    png = F.umatrix(PrototypeSet(W, topology), "u")
    assert png is not None and png.startswith(PNG)


def test_umatrix_is_skipped_without_topology():
    assert F.umatrix(PrototypeSet(np.eye(3)), "u") is None


def test_report_is_self_contained(report_run):
    html = (report_run / "report.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) == len(list((report_run / "figures").iterdir())) >= 10
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "Backbones side by side" in html and "Inversion check" in html


def test_render_escapes_text():
    metrics = {"data": {"name": "<b>x</b>", "n_train": 1, "n_test": 1, "n_features": 2},
               "backbones": {}, "config": {}}
    html = render(metrics, [], notes=["a <note>"])
    assert "<b>x</b>" not in html and "&lt;note&gt;" in html
    assert fmt(None) == "–" and fmt(True) == "yes" and fmt(0.123456) == "0.1235"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(report_run, tmp_path):
    # A copy with a probe that records, after load, how many images decoded.
    probe = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
             "document.body.dataset.bad=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
             "document.body.dataset.n=imgs.length;});</script></body>")
    page = tmp_path / "probe.html"
    page.write_text((report_run / "report.html").read_text().replace("</body>", probe))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=5000"]
    proc = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout).group(0)
    n = int(re.search(r'data-n="(\d+)"', body).group(1))
    assert n >= 10 and 'data-bad="0"' in body
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    shot = tmp_path / "shot.png"
    proc = subprocess.run([CHROMIUM, *flags, "--window-size=1200,1600", f"--screenshot={shot}",
                           (report_run / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.read_bytes().startswith(PNG)


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_progress_draws_only_on_a_terminal_and_not_when_quiet():
    tty = _Stream(True)
    with Progress(4, "work", stream=tty) as bar:
        for _ in range(4):
            bar.update()
    assert "4/4" in tty.text and tty.text.endswith("\n")
    for stream, enabled in ((_Stream(False), True), (_Stream(True), False)):
        with Progress(4, "work", stream=stream, enabled=enabled) as bar:
            bar.update(4)
        assert stream.text == ""
    s = _Stream(False)
    stage("hello", stream=s)
    stage("hidden", enabled=False, stream=s)
    assert s.text == "protoflow: hello\n"


def test_report_draws_the_manifold_figure_and_tabulates_the_new_measures(report_run):
    assert (report_run / "figures" / "manifold_toy-grid.png").read_bytes().startswith(PNG)
    html = (report_run / "report.html").read_text()
    assert "Distance to the data" in html
    for column in ("nearest-sample dist.", "out of range", "arrival step", "stall steps"):
        assert f"<th>{column}</th>" in html


def test_manifold_figure_marks_arrivals_and_paths_that_never_arrive():
    panels = {"a -> b": {"music": (np.linspace(1, 0, 6), 2), "linear": (np.ones(6), -1)},
              "c -> d": {"music": (np.zeros(4), None)}}
    assert F.manifold_curves(panels, "t").startswith(PNG)
    many = {f"pair {i}": {"music": (np.arange(5.0), i % 5)} for i in range(7)}  # 3 x 3 grid
    assert F.manifold_curves(many, "t").startswith(PNG)
