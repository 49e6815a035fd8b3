"""Fuzzing `protoflow.load` with damaged files of every registered model and encoder.

For each kind that can be saved, a small fitted object is saved once per module; each test
then mutates one (or, in the hypothesis test, several) metadata fields, fitted values,
parameters or arrays, re-packs the ``.npz`` with `np.savez` (never pickle) and checks the
contract of `load`: it raises `PersistenceError` whose message names the mutated field or
array, or it returns an object that works (finite output of the original shapes).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protoflow
from protoflow.errors import PersistenceError

_META = "__protoflow__"
_X = np.random.default_rng(0).normal(size=(40, 4))

#: registered name -> how to build a small fitted one (params; None = PrototypeSet's own)
BUILD: dict[str, dict[str, Any]] = {
    "som": dict(rows=2, cols=3, epochs=2, seed=0),
    "toroidal-som": dict(rows=3, cols=3, epochs=2, seed=0),
    "kmeans": dict(n_units=4, seed=0),
    "gng": dict(max_units=5, epochs=1, seed=0),
    "vq-sgd": dict(n_units=4, epochs=1, batch_size=16, seed=0, progress=False),
    "desom": dict(rows=2, cols=2, latent_dim=2, iterations=3, layers=[6], batch_size=16, seed=0,
                  progress=False),
    "prototypes": {},
    "pca": dict(n_components=2),
    "identity": {},
    "autoencoder": dict(latent_dim=2, layers=[6], epochs=1, batch_size=16, seed=0, progress=False),
}


def _registered() -> list[tuple[str, str]]:
    reg = protoflow.get_registry()
    return [("model", n) for n in sorted(reg.models)] + [("encoder", n) for n in sorted(reg.encoders)]


def _build(kind: str, name: str) -> Any:
    reg = protoflow.get_registry()
    if name == "prototypes":
        W = np.random.default_rng(1).normal(size=(6, 4))
        return reg.create(kind, name, prototypes=W, topology=protoflow.Lattice(2, 3, "hex"))
    obj = reg.create(kind, name, **BUILD[name])
    return obj.fit(_X)


class Reference:
    """A saved file and the shapes a working object loaded from it must reproduce."""

    def __init__(self, kind: str, name: str, path: Path) -> None:
        obj = _build(kind, name)
        self.kind, self.name = kind, name
        self.path = protoflow.save(obj, path)
        with np.load(self.path, allow_pickle=False) as npz:
            self.arrays = {k: npz[k] for k in npz.files}
        self.meta = json.loads(self.arrays.pop(_META).tobytes())
        self.n_features = int(obj.n_features_in_)
        if kind == "model":
            self.n_units, self.width = obj.prototypes_.shape
        else:
            self.width = int(obj.n_components_)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Reference]:
    """Builds (once per module) and saves the reference object of a registered name."""
    folder = tmp_path_factory.mktemp("fuzz")
    cache: dict[str, Reference] = {}

    def get(kind: str, name: str) -> Reference:
        if name not in BUILD:
            pytest.skip(f"no recipe to build the registered {kind} {name!r}: add one to BUILD")
        if name not in cache:
            cache[name] = Reference(kind, name, folder / f"{name}.npz")
        return cache[name]

    return get


# -- mutations ----------------------------------------------------------------------------

_DELETE = object()
#: wrong values for a JSON field: the missing field, wrong types, out-of-range numbers
VALUE_MUTATIONS: dict[str, Any] = {
    "delete": _DELETE, "null": None, "list": [1, "a"], "empty-list": [], "dict": {"x": 1},
    "string": "text", "empty-string": "", "negative": -1, "zero": 0, "huge": 2**62,
    "nan": math.nan, "inf": math.inf, "bool": True, "float": 1.5,
}


def _array_mutations(a: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {
        "delete": _DELETE,
        "empty": np.zeros((0,)),
        "strings": np.array(["a"] * max(a.size, 1)).reshape(a.shape if a.size else (1,)),
        "bytes": np.array([b"x"] * max(a.size, 1)),
        "complex": a.astype(np.complex128),
        "add-axis": a[..., None],
        "scalar": np.array(3.0),
    }
    if a.ndim >= 2:
        out["flatten"] = a.ravel()
        out["transpose"] = a.T.copy()
    if a.ndim >= 1 and len(a) > 0:
        out["drop-row"] = a[:-1]
        out["extra-row"] = np.concatenate([a, a[:1]])
    if a.dtype.kind == "f" and a.size:
        nan, inf = a.copy(), a.copy()
        nan.flat[0], inf.flat[-1] = np.nan, np.inf
        out["nan"], out["inf"] = nan, inf
        out["int"] = a.astype(np.int64)
        out["bool"] = a > 0
    return out


def _targets(ref: Reference) -> list[tuple[str, str]]:
    """(category, target): top-level fields, fitted values (one level deep), parameters, arrays."""
    out = [("field", k) for k in ref.meta]
    for k, v in ref.meta["state"].items():
        out.append(("state", k))
        if isinstance(v, dict) and "__topology__" not in v:
            out += [("state", f"{k}.{sub}") for sub in v]
    out += [("param", k) for k in ref.meta["params"]]
    out += [("array", k) for k in ref.arrays]
    return out


def _mutate(ref: Reference, category: str, target: str, mutation: Any,
            meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    if category == "array":
        if mutation is _DELETE:
            del arrays[target]
        else:
            arrays[target] = mutation
        return
    holder: Any = meta
    keys = target.split(".") if category == "state" else [target]
    if category == "state":
        holder = meta["state"]
    elif category == "param":
        holder = meta["params"]
    for k in keys[:-1]:
        holder = holder[k]
    if mutation is _DELETE:
        del holder[keys[-1]]
    else:
        # a copy: mutation values are shared between cases, and two mutations of one file may
        # otherwise nest a value into itself (a circular reference json cannot write)
        holder[keys[-1]] = copy.deepcopy(mutation)


def _write(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    payload = dict(arrays)
    payload[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **payload)


def _copy(ref: Reference) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return json.loads(json.dumps(ref.meta)), dict(ref.arrays)


def _named(message: str, category: str, target: str) -> bool:
    """Whether `message` names the target, or a field inside it (``'params.x'`` names
    ``params``)."""
    full = {"field": target, "state": f"state.{target}", "param": f"params.{target}"}.get(category, target)
    return re.search(rf"'{re.escape(full)}['.]", message) is not None


def _works(obj: Any, ref: Reference) -> None:
    """The loaded object reproduces the reference's shapes with finite output."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3, ref.n_features))
    if ref.kind == "model":
        Z = obj.encode(X) if obj.encoder is not None else X
        assert Z.shape == (3, ref.width) and np.isfinite(Z).all()
        A = obj.activations(Z)
        assert A.shape == (3, ref.n_units) and np.isfinite(A).all()
    else:
        E = obj.encode(X)
        assert E.shape == (3, ref.width) and np.isfinite(E).all()
        D = obj.decode(E)
        assert D.shape == (3, ref.n_features) and np.isfinite(D).all()


def _check(ref: Reference, path: Path, category: str, target: str, label: str) -> str:
    """Load a mutated file; 'refused' or 'loaded' (or an assertion error saying why not)."""
    try:
        obj = protoflow.load(path)
    except PersistenceError as exc:
        assert _named(str(exc), category, target), (
            f"{ref.name}: {category} {target!r} mutated ({label}): the error does not name it: {exc}"
        )
        return "refused"
    except Exception as exc:
        raise AssertionError(
            f"{ref.name}: {category} {target!r} mutated ({label}) raised {type(exc).__name__}: {exc}"
        ) from exc
    try:
        _works(obj, ref)
    except Exception as exc:
        raise AssertionError(
            f"{ref.name}: {category} {target!r} mutated ({label}) loaded, but the object does not "
            f"work: {type(exc).__name__}: {exc}"
        ) from exc
    return "loaded"


def _all_mutations(ref: Reference) -> Iterator[tuple[str, str, str, Any]]:
    for category, target in _targets(ref):
        if category == "array":
            for label, m in _array_mutations(ref.arrays[target]).items():
                yield category, target, label, m
        else:
            for label, m in VALUE_MUTATIONS.items():
                yield category, target, label, m


#: outcome counts per (category, outcome), filled by the sweep (printed with -s)
TALLY: Counter[tuple[str, str, str]] = Counter()


@pytest.mark.parametrize(("kind", "name"), _registered())
def test_every_single_mutation(saved, tmp_path, kind: str, name: str) -> None:
    """Every target x every mutation, one at a time: refused with its name, or working."""
    ref = saved(kind, name)
    assert isinstance(protoflow.load(ref.path), object)
    _works(protoflow.load(ref.path), ref)  # the unmutated file works
    start, n = time.perf_counter(), 0
    path = tmp_path / "mutated.npz"
    for category, target, label, mutation in _all_mutations(ref):
        meta, arrays = _copy(ref)
        _mutate(ref, category, target, mutation, meta, arrays)
        _write(path, meta, arrays)
        TALLY[(name, category, _check(ref, path, category, target, label))] += 1
        n += 1
    assert n > 50
    print(f"\n{name}: {n} mutated files in {time.perf_counter() - start:.2f} s: "
          + ", ".join(f"{c} {o} {v}" for (nm, c, o), v in sorted(TALLY.items()) if nm == name))


@pytest.mark.parametrize(("kind", "name"), _registered())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_combined_mutations(saved, tmp_path, kind: str, name: str, data: st.DataObject) -> None:
    """Two or three mutations at once: refused naming one of them, or working."""
    ref = saved(kind, name)
    choices = list(_all_mutations(ref))
    picks = data.draw(st.lists(st.sampled_from(range(len(choices))), min_size=2, max_size=3, unique=True))
    meta, arrays = _copy(ref)
    applied = []
    for i in picks:
        category, target, label, mutation = choices[i]
        try:
            _mutate(ref, category, target, mutation, meta, arrays)
        except (KeyError, TypeError):  # an earlier mutation removed or replaced its container
            continue
        applied.append((category, target, label))
    path = tmp_path / "combined.npz"
    _write(path, meta, arrays)
    try:
        obj = protoflow.load(path)
    except PersistenceError as exc:
        assert any(_named(str(exc), c, t) for c, t, _ in applied), (
            f"{name}: mutations {applied}: the error names none of them: {exc}"
        )
        return
    _works(obj, ref)


def test_a_fuzzed_file_never_leaks_a_raw_error(saved, tmp_path) -> None:
    """The motivating cases, one by one (the sweep above covers them for every kind)."""
    ref = saved("model", "som")
    cases = [
        ("field", "format_version", "2"), ("field", "kind", _DELETE),
        ("array", "state:prototypes_", _DELETE),
    ]
    for category, target, mutation in cases:
        meta, arrays = _copy(ref)
        _mutate(ref, category, target, mutation, meta, arrays)
        _write(tmp_path / "m.npz", meta, arrays)
        with pytest.raises(PersistenceError, match=target):
            protoflow.load(tmp_path / "m.npz")
    # metadata that is a JSON list
    _write(tmp_path / "m.npz", [1, 2], dict(ref.arrays))  # type: ignore[arg-type]
    with pytest.raises(PersistenceError, match="JSON list"):
        protoflow.load(tmp_path / "m.npz")
