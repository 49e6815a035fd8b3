"""Persistence: round trips, atomic writes, no pickle, clear errors."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import protoflow
from protoflow import io
from protoflow.errors import PersistenceError


def _model() -> protoflow.PrototypeSet:
    W = np.random.default_rng(0).normal(size=(12, 3))
    return protoflow.PrototypeSet(W, protoflow.Lattice(3, 4, "hex"))


def test_round_trip_and_metadata(tmp_path) -> None:
    m = _model()
    path = protoflow.save(m, tmp_path / "codebook")
    assert path.name == "codebook.npz"
    meta = protoflow.read_metadata(path)
    assert meta["name"] == "prototypes" and meta["distribution"] == "protoflow-core"
    assert meta["format_version"] == io.FORMAT_VERSION
    loaded = protoflow.load(path)
    np.testing.assert_array_equal(loaded.prototypes_, m.prototypes_)
    assert loaded.topology_ == m.topology_


def test_loading_never_unpickles(tmp_path) -> None:
    path = protoflow.save(_model(), tmp_path / "m.npz")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert all(n.endswith(".npy") for n in names)
    # An object array (which would need pickle) is refused on load.
    evil = tmp_path / "evil.npz"
    meta = json.dumps({"format": "protoflow", "format_version": 1}).encode()
    np.savez(evil, __protoflow__=np.frombuffer(meta, dtype=np.uint8), x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(PersistenceError):
        protoflow.load(evil)


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    path = protoflow.save(_model(), tmp_path / "m.npz")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        protoflow.save(protoflow.PrototypeSet(np.zeros((2, 2))), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


def test_missing_plugin_names_the_distribution(tmp_path) -> None:
    path = protoflow.save(_model(), tmp_path / "m.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["__protoflow__"].tobytes())
    # A model name no installed plugin registers, saved by a distribution that is not installed.
    meta.update(name="no-such-model", plugin="no-such-model", distribution="protoflow-som-missing")
    arrays["__protoflow__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    assert "no-such-model" not in protoflow.get_registry().models
    with pytest.raises(PersistenceError, match="install the distribution protoflow-som-missing"):
        protoflow.load(path)


def test_garbage_and_missing_files(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PersistenceError, match="could not be read"):
        protoflow.load(bad)
    with pytest.raises(PersistenceError, match="no saved file"):
        protoflow.load(tmp_path / "nothing.npz")
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(PersistenceError, match="not a protoflow file"):
        protoflow.load(plain)


def test_newer_format_is_refused(tmp_path) -> None:
    path = tmp_path / "future.npz"
    meta = json.dumps({"format": "protoflow", "format_version": 99}).encode()
    np.savez(path, __protoflow__=np.frombuffer(meta, dtype=np.uint8))
    with pytest.raises(PersistenceError, match="newer protoflow"):
        protoflow.load(path)


def test_unregistered_class_cannot_be_saved(tmp_path) -> None:
    class Stray(protoflow.PrototypeModelBase):
        pass

    with pytest.raises(PersistenceError, match="not registered"):
        protoflow.save(Stray(), tmp_path / "x")


def test_written_files_get_the_usual_permissions(tmp_path) -> None:
    # Atomic writes go through a private temporary file; the result must still be readable by
    # whoever a plain open() would let read it (mode 0666 minus the umask), not 0600.
    old = os.umask(0o022)
    try:
        io.atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
