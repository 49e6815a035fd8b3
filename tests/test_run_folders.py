"""Run folders never mix or lose results: a second run to a used folder is refused, --overwrite
replaces the folder whole, a run that fails while writing leaves the old folder untouched and
nothing that looks complete, every folder carries a manifest that `protoflow inspect` checks,
and a killed run's staging folder is removed by the next run."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from protoflow import pipeline, runs
from protoflow.cli import main
from protoflow.errors import OutputExistsError, PersistenceError

_spec = importlib.util.spec_from_file_location("pipeline_toys", Path(__file__).with_name("pipeline_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)

_toys = toys.autouse_fixture()


config = toys.config_fixture()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_a_used_output_folder_is_refused_and_left_as_it_was(config, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    before = _snapshot(out)
    assert main(["run", str(config), "--out", str(out), "-q", "--set", "run.seed=5"]) == 2
    err = capsys.readouterr().err
    assert "already holds a complete protoflow run" in err and "--overwrite" in err
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == []


def test_a_folder_of_other_files_is_refused_too(config, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="already holds files"):
        pipeline.run(config, out=out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_an_empty_folder_and_a_file_path(config, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    pipeline.run(config, out=empty)
    assert (empty / runs.MANIFEST).is_file()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputExistsError, match="is not a folder"):
        pipeline.run(config, out=afile, overwrite=True)
    assert afile.read_text() == "x"


def test_overwrite_replaces_the_folder_whole(config, tmp_path):
    out = tmp_path / "o"
    pipeline.run(config, out=out)
    (out / "model-extra.npz").write_bytes(b"from the first run")
    (out / "figures").mkdir()
    (out / "figures" / "old.png").write_bytes(b"old figure")
    first = json.loads((out / "metrics.json").read_text())
    assert main(["run", str(config), "--out", str(out), "-q", "--overwrite", "--set", "run.seed=11"]) == 0
    assert not (out / "model-extra.npz").exists() and not (out / "figures").exists()
    second = json.loads((out / "metrics.json").read_text())
    assert second["config"]["run"]["seed"] == 11 != first["config"]["run"]["seed"]
    assert runs.verify_run(out) == []
    assert _hidden(tmp_path) == []


def test_a_run_failing_while_writing_leaves_the_old_run_untouched(config, tmp_path, monkeypatch):
    out = tmp_path / "o"
    pipeline.run(config, out=out)
    before = _snapshot(out)
    real_write = pipeline.artifacts.write_artifacts

    def failing_write(ctx, result, folder, encoders):
        real_write(ctx, result, folder, encoders)  # every artifact written, then a failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline.artifacts, "write_artifacts", failing_write)
    with pytest.raises(OSError, match="No space left"):
        pipeline.run(config, out=out, overwrite=True)
    assert _snapshot(out) == before  # not one new file beside the old ones
    assert _hidden(tmp_path) == []  # and no staging folder left behind
    with pytest.raises(OSError):
        pipeline.run(config, out=tmp_path / "new")
    assert not (tmp_path / "new").exists()  # a failed first run leaves nothing that looks complete


def test_the_manifest_lists_every_artifact_and_inspect_verifies_it(config, tmp_path, capsys):
    out = tmp_path / "o"
    pipeline.run(config, out=out)
    manifest = json.loads((out / runs.MANIFEST).read_text())
    assert manifest["status"] == "complete" and manifest["format"] == "protoflow-run"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {runs.MANIFEST}
    assert set(manifest["artifacts"]) == files and "metrics.json" in files
    assert all(len(a["sha256"]) == 64 for a in manifest["artifacts"].values())
    assert manifest["versions"]["protoflow-core"]
    assert {c["name"] for c in manifest["components"]} >= {"toy-grid", "toy-blobs", "toy-step"}
    assert manifest["config"]["model"]["name"] == "toy-grid"
    assert main(["inspect", str(out)]) == 0
    assert "all intact" in capsys.readouterr().out

    (out / "metrics.json").write_text("{}")
    (out / "timings.json").unlink()
    (out / "stray.txt").write_text("?")
    assert main(["inspect", str(out)]) == 1
    text = capsys.readouterr().out
    assert "changed since the run: metrics.json" in text
    assert "missing: timings.json" in text and "not part of the run: stray.txt" in text


def test_inspect_of_a_folder_without_manifest_says_so(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    assert main(["inspect", str(tmp_path / "half")]) == 1
    assert "not a complete protoflow run" in capsys.readouterr().err
    with pytest.raises(PersistenceError):
        runs.verify_run(tmp_path / "half")


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(config, tmp_path):
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: no such process
    stale = tmp_path / f".o.staging-{dead_pid}-abc123"
    stale.mkdir()
    (stale / "model.npz").write_bytes(b"half written" * 100)
    live = tmp_path / f".o.staging-{os.getppid()}-zzz"  # a live process: left alone
    live.mkdir()
    pipeline.run(config, out=tmp_path / "o")
    assert not stale.exists() and live.exists()
