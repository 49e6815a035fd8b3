"""`protoflow serve`: the explorer's HTTP API over a small run made here (Starlette's test
client), checked against the Python API, for bad input (4xx JSON, never a 500) and for leaving
the run folder untouched."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
try:  # Starlette's test client needs httpx2 (the test extra) or, deprecated, httpx
    import httpx2  # noqa: F401
except ImportError:
    pytest.importorskip("httpx")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from starlette.testclient import TestClient

import protoflow
from protoflow.data import load_dataset
from protoflow.serve import Explorer, create_app

CONFIG = """
[run]
seed = 0
steps = 10
starts = 1
pairs = [{ source = 0, target = 1 }]
baselines = ["linear"]
classifier = "logistic"
figures = false
report = false

[data]
name = "digits"

[encoder]
name = "pca"
n_components = 8
whiten = true

[model]
name = "toroidal-som"
rows = 5
cols = 5
epochs = 3

[controller]
name = "music"
mode = "informed"
gamma = 0.9
lam = 0.01
trust = 0.05
"""


def make_run(folder: Path) -> Path:
    """A tiny digits run (PCA 8, toroidal SOM 5x5, MUSIC) in `folder`/run."""
    (folder / "tiny.toml").write_text(CONFIG)
    protoflow.run(folder / "tiny.toml", out=folder / "run")
    return folder / "run"


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def client(run_dir):
    before = _hashes(run_dir)
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        yield c
    assert _hashes(run_dir) == before, "the explorer changed the run folder"
    assert protoflow.runs.verify_run(run_dir) == []


def test_page_and_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "http" not in page.text.replace("http-equiv", "")
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "https://" not in js.text
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/../pyproject.toml").status_code == 404


def test_info_map_and_samples(client):
    info = client.get("/api/info").json()
    assert info["n_units"] == 25 and info["images"] is True
    assert info["classes"] == list(range(10))
    assert set(info["tunable"]) == {"gamma", "lam", "trust"}
    assert info["tunable"]["gamma"]["value"] == 0.9
    assert len(info["gallery"]) == 24
    png = client.get(f"/api/sample/{info['gallery'][0]['index']}.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/api/map").json()["png"].startswith("data:image/png;base64,")


def test_settings_a_run_leaves_out_show_the_controllers_defaults(tmp_path):
    """A run whose [controller] sets no lam (the demo's) must offer MUSIC's default lam, not an
    empty field the page would send as 0."""
    (tmp_path / "tiny.toml").write_text(CONFIG.replace("lam = 0.01\n", "").replace("gamma = 0.9\n", ""))
    protoflow.run(tmp_path / "tiny.toml", out=tmp_path / "run")
    with TestClient(create_app(tmp_path / "run"), raise_server_exceptions=False) as c:
        tunable = c.get("/api/info").json()["tunable"]
    defaults = protoflow.create_controller("music").get_params()
    assert tunable["lam"]["value"] == defaults["lam"] and tunable["gamma"]["value"] == defaults["gamma"]
    assert tunable["trust"]["value"] == 0.05


def test_a_40_step_request_equals_the_python_api(client, run_dir):
    info = client.get("/api/info").json()
    sample = info["gallery"][3]["index"]
    r = client.post("/api/paths", json={"start": {"sample": sample}, "target": {"unit": 7},
                                        "steps": 40, "params": {"gamma": 0.8, "trust": 0.1}})
    assert r.status_code == 200, r.text
    out = r.json()
    model = protoflow.load(run_dir / "model.npz")
    encoder = protoflow.load(run_dir / "encoder.npz")
    z0 = encoder.encode(load_dataset("digits", seed=0).X[[sample]])[0]
    settings = {"mode": "informed", "gamma": 0.8, "lam": 0.01, "trust": 0.1, "seed": 0}
    music = protoflow.create_controller("music", **settings).run(model, z0, 7, 40)
    linear = protoflow.create_controller("linear").run(model, z0, 7, 40)
    for name, traj in (("music", music), ("linear", linear)):
        got = out["controllers"][name]
        np.testing.assert_array_equal(np.asarray(got["points"]), np.asarray(traj.points))
        np.testing.assert_array_equal(got["bmus"], np.asarray(traj.bmus))
        assert got["final_bmu"] == int(np.asarray(traj.bmus)[-1])
        assert len(got["confidence"]) == 41 and len(got["target_probability"]) == 41
    assert out["settings"]["gamma"] == 0.8 and out["steps"] == 40
    assert set(out["figures"]) == {"strips", "maps", "curves"}


def test_a_class_target_is_cluster_mode_over_its_units(client, run_dir):
    out = client.post("/api/paths?figures=0", json={"start": {"unit": 0}, "target": {"label": 1},
                                                    "steps": 15}).json()
    explorer = client.app.state.explorer
    units = np.flatnonzero(explorer.unit_labels == 1).tolist()
    assert out["target"] == units and out["target_label"] == 1
    assert out["settings"]["mode"] == "cluster" and "figures" not in out
    model = protoflow.load(run_dir / "model.npz")
    traj = protoflow.create_controller(
        "music", mode="cluster", gamma=0.9, lam=0.01, trust=0.05, seed=0
    ).run(model, np.asarray(model.prototypes_)[0], units, 15)
    np.testing.assert_array_equal(np.asarray(out["controllers"]["music"]["points"]), traj.points)


@pytest.mark.parametrize("body, status, words", [
    ({"start": {"sample": 0}, "target": {"unit": 25}}, 400, "target unit must be in 0..24"),
    ({"start": {"sample": -1}, "target": {"unit": 1}}, 400, "start sample"),
    ({"start": {"unit": "3"}, "target": {"unit": 1}}, 400, "must be an integer"),
    ({"start": {"unit": 1.5}, "target": {"unit": 1}}, 400, "must be an integer"),
    ({"start": {"sample": 0}, "target": {"label": 42}}, 400, "not one of"),
    ({"start": {"sample": 0}}, 400, "target must be"),
    ({"target": {"unit": 1}}, 400, "start must be"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "steps": 0}, 400, "steps"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "steps": 10**6}, 400, "steps"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "params": {"gamma": 2}}, 422, "gamma"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "params": {"lam": 0}}, 422, "lam"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "params": {"bogus": 1}}, 422, "bogus"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "params": {"gamma": [1]}}, 400, "number"),
    ({"start": {"sample": 0}, "target": {"unit": 1}, "extra": 1}, 400, "unknown request field"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_input_is_a_4xx_json_error(client, body, status, words):
    r = client.post("/api/paths", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"] and "Traceback" not in r.text


def test_bad_urls_and_bodies(client):
    r = client.post("/api/paths", content=b"{not json")
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    assert client.get("/api/sample/abc.png").status_code == 400
    r = client.get("/api/sample/99999.png")
    assert r.status_code == 400 and "sample must be in" in r.json()["error"]
    assert client.get("/nowhere").status_code == 404
    assert client.get("/api/paths").status_code == 405


def test_a_changed_or_missing_run_is_refused(tmp_path, run_dir):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "metrics.json").write_text("{}")
    with pytest.raises(protoflow.ValidationError, match="does not match its manifest"):
        Explorer(copy)
    with pytest.raises(protoflow.ValidationError, match="not a run folder"):
        Explorer(tmp_path)


def test_without_the_extra_the_error_names_the_pip_command(run_dir, monkeypatch, capsys):
    from protoflow.cli import main

    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ImportError, match=r"pip install 'protoflow-core\[serve\]'"):
        create_app(run_dir)
    assert main(["serve", str(run_dir)]) == 1
    assert "pip install 'protoflow-core[serve]'" in capsys.readouterr().err


def test_cli_refuses_a_missing_folder_and_a_bad_port(tmp_path, capsys):
    from protoflow.cli import main

    assert main(["serve", str(tmp_path / "nope")]) == 2
    assert main(["serve", str(tmp_path), "--port", "0"]) == 2
    assert "--port" in capsys.readouterr().err


def test_import_protoflow_does_not_import_the_framework():
    import subprocess

    code = ("import sys, protoflow, protoflow.cli; "
            "print(any(m.split('.')[0] in ('starlette', 'uvicorn') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
