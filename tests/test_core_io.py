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


# -- malformed files: PersistenceError naming the field, never a raw Python error ----------


def _repack(path, edit_meta=None, edit_arrays=None) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__protoflow__").tobytes())
    if edit_meta is not None:
        meta = edit_meta(meta)
    if edit_arrays is not None:
        edit_arrays(arrays)
    arrays["__protoflow__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def _set(key, value):
    def edit(meta):
        meta[key] = value
        return meta
    return edit


def _drop(key):
    def edit(meta):
        del meta[key]
        return meta
    return edit


def _state(key, value):
    def edit(meta):
        meta["state"][key] = value
        return meta
    return edit


def _array(key, value):
    def edit(arrays):
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return edit


W = np.random.default_rng(0).normal(size=(12, 3))
MALFORMED = {
    "format_version is a string": (_set("format_version", "2"), None, "'format_version'"),
    "format_version is 0": (_set("format_version", 0), None, "'format_version'"),
    "metadata is a JSON list": (lambda m: [m], None, "JSON list"),
    "kind missing": (_drop("kind"), None, "'kind'"),
    "kind unknown": (_set("kind", "dataset"), None, "'kind'"),
    "params is a list": (_set("params", []), None, "'params'"),
    "state_arrays has a number": (_set("state_arrays", [1]), None, "'state_arrays'"),
    "distribution is a number": (_set("distribution", 3), None, "'distribution'"),
    "state array missing": (None, _array("state:prototypes_", None), "'state:prototypes_'"),
    "state array unlisted": (_set("state_arrays", []), None, "'state_arrays'"),
    "prototypes hold NaN": (None, _array("state:prototypes_", np.where(W > 1, np.nan, W)), "NaN"),
    "prototypes are 1-D": (None, _array("state:prototypes_", W.ravel()), "'state:prototypes_'"),
    "prototypes are ints": (None, _array("state:prototypes_", W.astype(int)), "floating-point"),
    "prototypes are strings": (None, _array("state:prototypes_", W.astype(str)), "'state:prototypes_'"),
    "a row too many": (None, _array("state:prototypes_", np.vstack([W, W[:1]])), "'state.topology_'"),
    "topology is a list": (_state("topology_", [1]), None, "'state.topology_'"),
    "topology lacks rows": (_state("topology_", {"__topology__": {"type": "lattice"}}), None,
                            "'state.topology_'"),
    "n_features_in_ is wrong": (_state("n_features_in_", 4), None, "'state.n_features_in_'"),
    "n_features_in_ is a string": (_state("n_features_in_", "3"), None, "'state.n_features_in_'"),
    "array reference dangling": (_state("n_iter_", {"__array__": "nowhere"}), None, "'state.n_iter_'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_name_the_field(tmp_path, case) -> None:
    edit_meta, edit_arrays, named = MALFORMED[case]
    som = protoflow.create_model("som", rows=3, cols=4, epochs=1, seed=0)
    som.fit(np.random.default_rng(1).normal(size=(40, 3)))
    som.prototypes_ = W.copy()
    path = protoflow.save(som, tmp_path / "m.npz")
    assert protoflow.load(path).prototypes_.shape == (12, 3)
    _repack(path, edit_meta, edit_arrays)
    with pytest.raises(PersistenceError) as info:
        protoflow.load(path)
    assert named in str(info.value) and str(path) in str(info.value)


def test_read_metadata_validates_the_schema(tmp_path) -> None:
    path = protoflow.save(_model(), tmp_path / "m.npz")
    _repack(path, _set("name", None))
    with pytest.raises(PersistenceError, match="field 'name' is None"):
        protoflow.read_metadata(path)


def test_wrong_shape_torch_weight_names_the_array(tmp_path) -> None:
    pytest.importorskip("torch")
    ae = protoflow.create_encoder("autoencoder", latent_dim=2, layers=[5], epochs=1, progress=False, seed=0)
    ae.fit(np.random.default_rng(0).normal(size=(20, 4)))
    path = protoflow.save(ae, tmp_path / "ae.npz")
    _repack(path, edit_arrays=_array("state:encoder.0.weight", np.zeros((5, 3), np.float32)))
    with pytest.raises(PersistenceError, match=r"array 'state:encoder.0.weight'.*has shape \(5, 3\)"):
        protoflow.load(path)


def test_pca_with_a_wrong_shape_mean_is_caught_on_load(tmp_path) -> None:
    # the default state hook restores arrays as they are; the trial use on load finds the fault
    pca = protoflow.create_encoder("pca", n_components=2).fit(np.random.default_rng(0).normal(size=(20, 4)))
    path = protoflow.save(pca, tmp_path / "pca.npz")
    _repack(path, edit_arrays=_array("state:mean_", np.zeros(3)))
    with pytest.raises(PersistenceError, match=r"array 'state:mean_'.*encode on 5 rows fails"):
        protoflow.load(path)
