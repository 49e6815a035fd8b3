"""Saving and loading models, encoders and controllers without pickle.

A file is a NumPy ``.npz`` archive: one entry ``__protoflow__`` holding UTF-8 JSON metadata
(format version, kind, plugin name, distribution and version, parameters, fitted scalars) and
one entry per array. Loading uses ``allow_pickle=False`` and rebuilds the object through the
registry by its registered name, so a file never executes code. Writes are atomic: a temporary
file in the same folder, flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.errors import PersistenceError, ProtoflowError
from protoflow.topology import Topology, topology_from_dict

FORMAT = "protoflow"
FORMAT_VERSION = 1
_META = "__protoflow__"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically: the old file survives an interrupted write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 - umask).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _encode_value(key: str, value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-able form of a parameter; arrays go to `arrays` under `key`."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, Topology):
        return {"__topology__": value.to_dict()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_encode_value(f"{key}.{i}", v, arrays) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _encode_value(f"{key}.{k}", v, arrays) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise PersistenceError(
        f"cannot save the value of {key!r} ({type(value).__name__}): only numbers, strings, "
        "lists, dicts, arrays and topologies can be stored"
    )


def _decode_value(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__topology__" in value:
            return topology_from_dict(value["__topology__"])
        return {k: _decode_value(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v, arrays) for v in value]
    return value



def _component_info(obj: Any) -> Any:
    from protoflow.registry import get_registry

    info = get_registry().find_by_class(type(obj))
    if info is None:
        raise PersistenceError(
            f"{type(obj).__name__} is not registered as a protoflow component, so a saved file "
            "could not name the plugin that rebuilds it. Register its plugin first."
        )
    return info


def save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Save a model, encoder or controller to `path` (``.npz`` appended when missing).

    The object's class must be registered (it was made with ``create_*`` or its plugin is
    installed). Returns the path written.
    """
    info = _component_info(obj)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {}
    params = {k: _encode_value(f"param:{k}", v, arrays) for k, v in obj.get_params().items()}
    get_state = getattr(obj, "_protoflow_get_state", None)
    state_meta, state_arrays = get_state() if get_state is not None else ({}, {})
    for k, v in state_arrays.items():
        arrays[f"state:{k}"] = np.asarray(v)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": info.kind,
        "name": info.name,
        "plugin": info.plugin,
        "distribution": info.distribution,
        "distribution_version": info.version,
        "class": type(obj).__name__,
        "params": params,
        "state": _encode_value("state", state_meta, arrays),
        "state_arrays": sorted(state_arrays),
    }
    for k, v in arrays.items():
        if v.dtype == object:
            raise PersistenceError(f"cannot save {k!r}: object arrays would need pickle")
    payload = dict(arrays)
    payload[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = _io.BytesIO()
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a saved file, without building the object."""
    meta, _ = _read(path, arrays=False)
    return meta


def _read(path: str | os.PathLike[str], *, arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.exists():
        raise PersistenceError(f"no saved file at {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _META not in npz.files:
                raise PersistenceError(f"{path} is not a protoflow file (no {_META} entry)")
            meta = json.loads(npz[_META].tobytes().decode("utf-8"))
            data = {k: npz[k] for k in npz.files if k != _META} if arrays else {}
    except ProtoflowError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
        raise PersistenceError(f"{path} could not be read as a protoflow file: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise PersistenceError(f"{path} is not a protoflow file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise PersistenceError(
            f"{path} was written by a newer protoflow (format {meta['format_version']}, this "
            f"one reads up to {FORMAT_VERSION}); upgrade protoflow-core"
        )
    return meta, data


def load(path: str | os.PathLike[str]) -> Any:
    """Rebuild a saved object. Never unpickles; the plugin that wrote it must be installed."""
    from protoflow.errors import UnknownPluginError
    from protoflow.registry import get_registry

    meta, data = _read(path)
    kind, name = meta["kind"], meta["name"]
    try:
        info = get_registry().get(kind, name)
    except UnknownPluginError as exc:
        dist = meta.get("distribution")
        how = f"install the distribution {dist} ({meta.get('distribution_version')})" if dist else (
            f"register the plugin {meta.get('plugin')!r}"
        )
        raise PersistenceError(
            f"{path} holds a {kind} {name!r} written by plugin {meta.get('plugin')!r}; "
            f"it is not available here: {how}."
        ) from exc
    params = _decode_value(meta["params"], data)
    obj = info.factory(**params)
    state_arrays = {k: data[f"state:{k}"] for k in meta.get("state_arrays", [])}
    state_meta = _decode_value(meta.get("state", {}), data)
    set_state = getattr(obj, "_protoflow_set_state", None)
    if set_state is not None:
        set_state(state_meta, state_arrays)
    with contextlib.suppress(AttributeError, TypeError):
        obj._protoflow_name_ = name
    return obj
