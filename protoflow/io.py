"""Saving and loading models, encoders and controllers without pickle.

A file is a NumPy ``.npz`` archive: one entry ``__protoflow__`` holding UTF-8 JSON metadata
(format version, kind, plugin name, distribution and version, parameters, fitted scalars) and
one entry per array. Loading uses ``allow_pickle=False`` and rebuilds the object through the
registry by its registered name, so a file never executes code.

Writes are atomic: a temporary file in the same folder, flushed to disk, then renamed over the
target (see `atomic_write_bytes` for the rules on symbolic links, read-only targets and the
clean-up of temporary files left by killed writers).

Loading validates the whole file before and after building the object (see `load`): a damaged
or hand-edited file raises `~protoflow.errors.PersistenceError` naming the file, the field or
array, and the cause, never a raw ``KeyError``/``TypeError``/``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import json
import os
import re
import socket
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.errors import PersistenceError, ProtoflowError
from protoflow.topology import Topology, topology_from_dict

FORMAT = "protoflow"
FORMAT_VERSION = 1
_META = "__protoflow__"
#: component kinds a file may hold (datasets are never saved)
SAVED_KINDS = ("model", "encoder", "controller")
#: temporary files without a writer id (written by protoflow before ids were added) are
#: removed once they have not been modified for this many seconds
LEGACY_TEMP_AGE_S = 600.0
#: widths (``n_features_in_``, ``n_components_``) above this are refused as corrupt
MAX_WIDTH = 2**31 - 1


# -- atomic writes ------------------------------------------------------------------------


def _host_tag() -> str:
    """8 hex digits identifying this machine (temporary files name their writer's host)."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_pattern(name: str) -> re.Pattern[str]:
    """Matches the temporary files `atomic_write_bytes` makes for a target called `name`.

    ``XXXXXXXX`` is `tempfile.mkstemp`'s 8 random characters. Groups ``pid`` and ``host`` are
    the writer's process id and host tag; both are absent in the names older protoflow
    versions used (``.NAME.XXXXXXXX.tmp``).
    """
    return re.compile(
        rf"^\.{re.escape(name)}\.(?:pf(?P<pid>\d+)-(?P<host>[0-9a-f]{{8}})\.)?[a-z0-9_]{{8}}\.tmp$"
    )


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (True when that cannot be told)."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists but belongs to someone else
        return True
    return True


def remove_stale_temp_files(path: str | os.PathLike[str], *, now: float | None = None) -> list[Path]:
    """Delete the temporary files that killed writers of `path` left behind.

    A temporary file of `path` is named ``.NAME.pfPID-HOST.XXXXXXXX.tmp`` in the target's
    folder, where ``PID`` is the writer's process id and ``HOST`` a tag of its machine. It is
    *stale*, and removed, when its host is this machine and no process ``PID`` is alive.
    Files of another host (a shared file system) are left alone, since their writer cannot be
    checked; so are files whose PID is alive (a concurrent writer, or a reused PID: such a file
    goes once that process ends). A killed process that its parent has not yet reaped (a
    zombie) still counts as alive. Names without a writer id (``.NAME.XXXXXXXX.tmp``, from
    older protoflow versions) are removed when not modified for `LEGACY_TEMP_AGE_S` seconds.
    On systems other than POSIX only the legacy rule applies.

    Parameters
    ----------
    path : the target file whose temporaries to clean up (it need not exist).
    now : the current time (seconds since the epoch) for the age rule; default `time.time`.

    Returns
    -------
    list of Path
        The files removed (files that vanish or cannot be removed meanwhile are skipped).
    """
    target = Path(path)
    folder = target.parent
    pattern = _temp_pattern(target.name)
    now = time.time() if now is None else now
    host = _host_tag()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        if match["pid"] is not None:
            stale = match["host"] == host and not _pid_alive(int(match["pid"]))
        else:
            try:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > LEGACY_TEMP_AGE_S
            except OSError:
                continue
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _write_error(path: Path, what: str, exc: BaseException | None, fix: str) -> PersistenceError:
    """A `PersistenceError` "cannot save PATH: WHAT (CAUSE). FIX", carrying the cause's errno."""
    cause = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    err = PersistenceError(f"cannot save {path}: {what}{cause}. {fix}")
    if isinstance(exc, OSError) and exc.errno is not None:
        err.errno = exc.errno
    return err


def _resolve_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to `path` replaces: `path`, or the file its symbolic link(s) name."""
    raw = os.fspath(path)
    if not raw:
        raise PersistenceError(
            "cannot save: the path is empty. Pass a file name, e.g. 'model.npz'."
        )
    target = Path(raw)
    if target.is_symlink():
        try:
            target = target.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # a loop of links
            raise _write_error(
                Path(raw), "it is a symbolic link that cannot be resolved", exc,
                "Remove or repair the link, or choose another path.",
            ) from exc
    if target.is_dir():
        raise _write_error(
            target, "it is a folder", None,
            f"Pass a file name inside it, e.g. {target / 'model.npz'}, or another path.",
        )
    if target.exists() and (not os.access(target, os.W_OK) or target.stat().st_mode & 0o222 == 0):
        raise _write_error(
            target, "the existing file is read-only, which protoflow takes to mean 'do not "
            "change'", None,
            f"Make it writable (chmod u+w {target}) or delete it to replace it, or choose "
            "another path.",
        )
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically: the old file survives an interrupted write.

    The bytes go to a temporary file in the target's folder (flushed and synced), which is then
    renamed over the target, so a reader sees the old file or the new one, never a mixture.

    * Missing parent folders are created.
    * Before writing, the temporaries of `path` left by killed writers are removed (see
      `remove_stale_temp_files` for the rule: the writer's process id is in the temporary's
      name and the file goes when that process is gone).
    * A symbolic link is written through: its target file is replaced (atomically) and the
      link stays a link. A dangling link creates its target.
    * An existing target that is read-only (no write permission for this user, or no write
      bit at all, which also stops root) is refused: a read-only file says "do not change".

    Parameters
    ----------
    path : the file to write.
    data : its new content.

    Raises
    ------
    PersistenceError
        (an ``OSError``, with the cause's ``errno``) naming the path, the cause and what to do
        when the path is empty, a folder, read-only, under a file instead of a folder, in a
        folder that cannot be written, or the disk is full.
    """
    target = _resolve_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise _write_error(
            target, "a component of its folder is a file, not a folder", exc,
            "Choose a path whose parent folders are folders (or remove the file in the way).",
        ) from exc
    except OSError as exc:
        raise _write_error(
            target, f"its folder {target.parent} cannot be created", exc,
            "Create the folder yourself, or choose a folder you can write.",
        ) from exc
    remove_stale_temp_files(target)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.pf{os.getpid()}-{_host_tag()}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise _write_error(
            target, f"a file cannot be created in its folder {target.parent}", exc,
            "Choose a folder you can write (check its permissions and free space).",
        ) from exc
    try:
        temp_file = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        with temp_file as fh:
            # mkstemp creates the file 0600; give it the mode a plain open() would (0666 - umask).
            os.fchmod(fd, 0o666 & ~_umask())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, PersistenceError):
            raise _write_error(
                target, "writing it failed", exc,
                "Check the free space and permissions of its folder, or choose another path.",
            ) from exc
        raise


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


# -- encoding -----------------------------------------------------------------------------


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


def _corrupt(path: Any, where: str, problem: str, fix: str | None = None) -> PersistenceError:
    """The error for a damaged file: names the file, the field or array, and the cause."""
    fix = fix or (
        "The file is damaged or was edited by hand; save the object again from its source, "
        "or restore the file from a copy."
    )
    return PersistenceError(f"{path}: {where} {problem}. {fix}")


def _decode_value(value: Any, arrays: dict[str, np.ndarray], where: str = "", path: Any = "file") -> Any:
    """Inverse of `_encode_value`; `where` names the field in errors (``params.rows``)."""
    if isinstance(value, dict):
        if "__array__" in value:
            key = value["__array__"]
            if not isinstance(key, str) or key not in arrays:
                raise _corrupt(path, f"field {where!r}", f"refers to the array {key!r}, which the file lacks")
            return arrays[key]
        if "__topology__" in value:
            try:
                return topology_from_dict(value["__topology__"])
            except Exception as exc:  # TopologyError, and TypeError/AttributeError of bad values
                raise _corrupt(
                    path, f"field {where!r}", f"is not a valid topology ({type(exc).__name__}: {exc})"
                ) from exc
        return {k: _decode_value(v, arrays, f"{where}.{k}" if where else k, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v, arrays, f"{where}.{i}", path) for i, v in enumerate(value)]
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
    installed). The write is atomic (`atomic_write_bytes`: a symbolic link is written through
    to its target, a read-only existing file is refused, stale temporaries of killed saves are
    removed).

    Parameters
    ----------
    obj : a registered model, encoder or controller.
    path : the file to write; an existing folder is refused.

    Returns
    -------
    Path
        The path written (with ``.npz``).

    Raises
    ------
    PersistenceError
        When the object cannot be stored, or the path cannot be written (the message names the
        path, the cause and what to do).
    """
    info = _component_info(obj)
    if not os.fspath(path):
        raise PersistenceError("cannot save: the path is empty. Pass a file name, e.g. 'model.npz'.")
    path = Path(path)
    if path.is_dir():
        raise _write_error(
            path, "it is a folder", None,
            f"Pass a file name inside it, e.g. {path / 'model.npz'}, or another path.",
        )
    if not path.name:
        raise PersistenceError(f"cannot save {path}: the path names no file. Pass e.g. 'model.npz'.")
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {}
    try:  # the constructor's own parameters, not scikit-learn's nested "name__sub" listing
        own = obj.get_params(deep=False)
    except TypeError:  # a get_params without the deep argument
        own = obj.get_params()
    params = {k: _encode_value(f"param:{k}", v, arrays) for k, v in own.items()}
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


# -- reading and validating ---------------------------------------------------------------


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a saved file, validated, without building the object.

    Raises `PersistenceError` (naming the field) when the file is not a protoflow file or its
    metadata is malformed; see `load`.
    """
    meta, _ = _read(path, arrays=False)
    return meta


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


#: field -> (check, what it must be)
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "kind": (lambda v: isinstance(v, str) and v in SAVED_KINDS, f"one of {list(SAVED_KINDS)}"),
    "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "plugin": (lambda v: isinstance(v, str), "a string"),
    "distribution": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "distribution_version": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "class": (lambda v: isinstance(v, str), "a string"),
    "params": (lambda v: isinstance(v, dict), "a JSON object of parameters"),
    "state": (lambda v: isinstance(v, dict), "a JSON object of fitted values"),
    "state_arrays": (
        lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v),
        "a list of array names (strings)",
    ),
}


def _check_metadata(path: Path, meta: Any) -> dict[str, Any]:
    """Validate the metadata schema: every field present with the right type."""
    if not isinstance(meta, dict):
        raise _corrupt(path, f"the metadata entry {_META!r}", f"is a JSON {_type_name(meta)}, not an object")
    if meta.get("format") != FORMAT:
        raise PersistenceError(
            f"{path} is not a protoflow file (field 'format' is {meta.get('format')!r}, "
            f"expected {FORMAT!r}); load it with the tool that wrote it"
        )
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise _corrupt(
            path, "field 'format_version'",
            f"is {version!r} ({_type_name(version)}); it must be a positive integer",
        )
    if version > FORMAT_VERSION:
        raise PersistenceError(
            f"{path} was written by a newer protoflow (field 'format_version' is {version}, this "
            f"one reads up to {FORMAT_VERSION}); upgrade protoflow-core"
        )
    for field, (ok, must) in _FIELDS.items():
        if field not in meta:
            raise _corrupt(path, f"field {field!r}", "is missing from the metadata")
        value = meta[field]
        if not ok(value):
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            raise _corrupt(path, f"field {field!r}", f"is {shown} ({_type_name(value)}); it must be {must}")
    return meta


def _read(path: str | os.PathLike[str], *, arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.exists():
        raise PersistenceError(f"no saved file at {path}")
    if path.is_dir():
        raise PersistenceError(f"{path} is a folder, not a saved file; pass the .npz file inside it")
    data: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):  # a plain .npy file
                raise PersistenceError(f"{path} is not a protoflow file (a single .npy array)")
            if _META not in npz.files:
                raise PersistenceError(f"{path} is not a protoflow file (no {_META} entry)")
            raw = npz[_META]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise _corrupt(path, f"the metadata entry {_META!r}", f"has dtype {raw.dtype} and shape "
                               f"{raw.shape}, not the bytes of a JSON text")
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _corrupt(path, f"the metadata entry {_META!r}", f"is not UTF-8 JSON ({exc})") from exc
            meta = _check_metadata(path, meta)
            if arrays:
                for key in npz.files:
                    if key == _META:
                        continue
                    try:
                        data[key] = npz[key]
                    except ValueError as exc:  # object arrays need pickle; bad headers
                        raise _corrupt(path, f"array {key!r}", f"cannot be read without pickle ({exc})") from exc
                    _check_array_dtype(path, key, data[key])
    except ProtoflowError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise PersistenceError(f"{path} could not be read as a protoflow file: {exc}") from exc
    return meta, data


def _check_array_dtype(path: Path, key: str, arr: np.ndarray) -> None:
    if arr.dtype.kind not in "biuf":
        raise _corrupt(
            path, f"array {key!r}",
            f"has dtype {arr.dtype} ({arr.dtype.kind!r} kind); saved arrays must be numbers "
            "(bool, integer or float)",
        )


def load(path: str | os.PathLike[str]) -> Any:
    """Rebuild a saved object. Never unpickles; the plugin that wrote it must be installed.

    The whole file is validated, and anything wrong raises `PersistenceError` naming the file,
    the field (``params.rows``, ``state.topology_``) or array (``state:prototypes_``), and the
    cause:

    1. the metadata schema: every field present with its type (``format``, integer
       ``format_version``, ``kind`` among `SAVED_KINDS`, strings ``name``, ``plugin``,
       ``class``, ``distribution`` and ``distribution_version`` string or null, objects
       ``params`` and ``state``, ``state_arrays`` a list of strings);
    2. the arrays: every one listed or referenced is present, and all are numeric (bool,
       integer, float: no objects, strings or complex numbers);
    3. building: an exception from the plugin's factory or its ``_protoflow_set_state`` hook
       (a ``TypeError``, ``KeyError``, torch's ``RuntimeError``...) becomes a
       `PersistenceError`; a missing optional dependency (an ``ImportError`` such as
       `~protoflow.errors.TorchNotInstalledError`) is raised as it is;
    4. the fitted state: a fitted model has ``prototypes_``, 2-D, floating point and finite,
       ``topology_``, a topology with one unit per prototype, and ``n_features_in_``; a
       fitted encoder has ``n_features_in_``; ``n_features_in_`` and ``n_components_`` are
       positive integers agreeing with the prototypes (or with the model's encoder);
    5. a trial use on a few rows (`activations` of some prototypes; `encode`, and `decode` for
       encoders, of five rows and of one row of width ``n_features_in_``) must give finite output of the
       expected shape; when it fails the error names the saved values it used last, or those
       holding NaN/inf.

    Fitted values that no trial use reads (e.g. a training-loss history) are restored as
    saved. Parameters are restored as saved and checked, as in scikit-learn, when used (by
    `fit`).

    Parameters
    ----------
    path : a file written by `save`.

    Returns
    -------
    object
        The model, encoder or controller.
    """
    from protoflow.errors import UnknownPluginError
    from protoflow.registry import get_registry

    path = Path(path)
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
            f"{path} holds a {kind} {name!r} (fields 'kind' and 'name') written by plugin "
            f"{meta.get('plugin')!r}; it is not available here: {how}."
        ) from exc
    for k in meta["state_arrays"]:
        if f"state:{k}" not in data:
            raise _corrupt(path, f"array {'state:' + k!r}", "is listed in field 'state_arrays' but missing from the file")
    for key in data:
        if key.startswith("state:") and key[len("state:"):] not in meta["state_arrays"]:
            raise _corrupt(path, "field 'state_arrays'", f"does not list the array {key!r} that the file holds")
    if "state:prototypes_" in data:
        _check_prototypes(path, "array 'state:prototypes_'", data["state:prototypes_"])
    params = _decode_value(meta["params"], data, "params", path)
    state_meta = _decode_value(meta["state"], data, "state", path)
    state_arrays = {k: data[f"state:{k}"] for k in meta["state_arrays"]}
    cls = meta["class"]
    try:
        obj = info.factory(**params)
    except ImportError:
        raise
    except Exception as exc:
        where = _blame_params(exc, meta["params"])
        raise _corrupt(
            path, where, f"was refused by {cls} ({type(exc).__name__}: {exc})"
        ) from exc
    set_state = getattr(obj, "_protoflow_set_state", None)
    if set_state is not None:
        try:
            set_state(state_meta, state_arrays)
        except ImportError:
            raise
        except Exception as exc:
            raise _corrupt(
                path, _blame(exc, meta, data),
                f"could not be restored into {cls} ({type(exc).__name__}: {exc})",
            ) from exc
    _check_fitted(obj, path, meta, data)
    with contextlib.suppress(AttributeError, TypeError):
        obj._protoflow_name_ = name
    return obj


def _blame_params(exc: BaseException, params: dict[str, Any]) -> str:
    """The parameters a factory's error mentions (as words), with the arrays holding them."""
    text = str(exc)
    named = []
    for k, v in params.items():
        if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w])", text):
            named.append(f"field {'params.' + k!r}")
            if isinstance(v, dict) and isinstance(v.get("__array__"), str):
                named.append(f"array {v['__array__']!r}")
    return ", ".join(named) if named else "field 'params'"


#: how a ``_protoflow_set_state`` hook names what it refuses (see `load`)
_NAMED_FIELD = re.compile(r"saved value '([^']+)'")
_NAMED_ARRAY = re.compile(r"saved (?:weight|array) '([^']+)'")
_NAMED_PARAM = re.compile(r"parameter '([^']+)'")


def _blame(exc: BaseException, meta: dict[str, Any], data: dict[str, np.ndarray]) -> str:
    """The saved arrays, fields and parameters an error message names, else the whole 'state'."""
    text = str(exc)
    arrays = [k for k in sorted(data) if k.startswith("state:") and f"'{k[len('state:'):]}'" in text]
    arrays += [f"state:{a}" for a in _NAMED_ARRAY.findall(text) if f"state:{a}" not in arrays]
    fields = [f"state.{p}" for p in _field_paths(meta["state"]) if f"'{p}'" in text]
    fields += [f"state.{f}" for f in _NAMED_FIELD.findall(text) if f"state.{f}" not in fields]
    fields += [f"params.{p}" for p in _NAMED_PARAM.findall(text)]
    named = [f"array {a!r}" for a in arrays] + [f"field {f!r}" for f in dict.fromkeys(fields)]
    return ", ".join(named) if named else "field 'state'"


def _field_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the keys of nested JSON objects: ``['a', 'a.b', ...]``."""
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(prefix + k)
            out += _field_paths(v, prefix + k + ".")
    return out


def _check_width(path: Path, obj: Any, attr: str) -> int | None:
    if not hasattr(obj, attr):
        return None
    value = getattr(obj, attr)
    if isinstance(value, np.integer):
        value = int(value)
    if not _is_int(value) or not 1 <= value <= MAX_WIDTH:
        raise _corrupt(
            path, f"field 'state.{attr}'",
            f"is {value!r} ({_type_name(value)}); it must be a positive integer (at most {MAX_WIDTH})",
        )
    return value


def _array_name(data: dict[str, np.ndarray], attr: str) -> str:
    return f"array {'state:' + attr!r}" if f"state:{attr}" in data else f"value {attr!r}"


def _check_prototypes(path: Path, where: str, P: Any) -> None:
    """Prototypes must be a non-empty, finite, 2-D floating-point array."""
    if not isinstance(P, np.ndarray) or P.ndim != 2 or P.dtype.kind != "f":
        shape = getattr(P, "shape", None)
        dtype = getattr(P, "dtype", type(P).__name__)
        raise _corrupt(path, where, f"has shape {shape} and dtype {dtype}; prototypes must be a 2-D "
                       "floating-point array (n_units, n_features)")
    if P.shape[0] < 1 or P.shape[1] < 1:
        raise _corrupt(path, where, f"is empty (shape {P.shape}); a model needs at least one prototype")
    if not np.isfinite(P).all():
        raise _corrupt(path, where, f"holds {int((~np.isfinite(P)).sum())} NaN or infinite value(s)")


def _check_fitted(obj: Any, path: Path, meta: dict[str, Any], data: dict[str, np.ndarray]) -> None:
    """The fitted-state checks of `load` (steps 4 and 5)."""
    n_features = _check_width(path, obj, "n_features_in_")
    n_components = _check_width(path, obj, "n_components_")
    fitted = bool(meta["state"] or meta["state_arrays"])
    if fitted and meta["kind"] == "model" and not hasattr(obj, "prototypes_"):
        raise _corrupt(path, "array 'state:prototypes_'", "is missing: the file holds fitted values "
                       f"({sorted(meta['state'])}) but the restored {meta['class']} has no prototypes")
    if fitted and meta["kind"] == "encoder" and n_features is None:
        raise _corrupt(path, "field 'state.n_features_in_'", "is missing: the file holds fitted values "
                       f"({sorted(meta['state'])}) but the restored {meta['class']} is not fitted")
    P = getattr(obj, "prototypes_", None) if hasattr(obj, "prototypes_") else None
    if hasattr(obj, "prototypes_"):
        where = _array_name(data, "prototypes_")
        _check_prototypes(path, where, P)
        for attr in ("topology_", "n_features_in_"):  # what every fitted model sets
            if meta["kind"] == "model" and not hasattr(obj, attr):
                raise _corrupt(path, f"field {'state.' + attr!r}", f"is missing: a fitted "
                               f"{meta['class']} has prototypes, a topology and n_features_in_")
        topo = getattr(obj, "topology_", None)
        if hasattr(obj, "topology_"):
            if not isinstance(topo, Topology):
                raise _corrupt(path, "field 'state.topology_'", f"is a {type(topo).__name__}, not a topology")
            if topo.n_units != P.shape[0]:
                raise _corrupt(
                    path, f"field 'state.topology_' and {where}",
                    f"disagree: the topology has {topo.n_units} units, there are {P.shape[0]} prototypes",
                )
        encoder = getattr(obj, "encoder", None)
        enc_features = getattr(encoder, "n_features_in_", None) if encoder is not None else None
        if encoder is not None and enc_features is not None:
            enc_width = getattr(encoder, "n_components_", None)
            if n_features is not None and enc_features != n_features:
                raise _corrupt(path, "field 'state.n_features_in_'", f"is {n_features} but the model's encoder "
                               f"reads {enc_features} features")
            if enc_width is not None and enc_width != P.shape[1]:
                raise _corrupt(path, where, f"has width {P.shape[1]} but the model's encoder makes codes of "
                               f"width {enc_width}")
        elif n_features is not None and n_features != P.shape[1]:
            raise _corrupt(
                path, f"field 'state.n_features_in_' and {where}",
                f"disagree: n_features_in_ is {n_features}, the prototypes have {P.shape[1]} columns",
            )
    _trial_use(obj, path, meta, data, P, n_features, n_components)


def _trial_use(
    obj: Any, path: Path, meta: dict[str, Any], data: dict[str, np.ndarray],
    P: np.ndarray | None, n_features: int | None, n_components: int | None,
) -> None:
    """Step 5 of `load`: use the object on a few rows; blame the saved values it used."""
    watched = set(meta["state"]) | set(meta["state_arrays"])
    if P is not None and callable(getattr(obj, "activations", None)):
        _trial(obj, path, meta, data, watched, "activations", P[:3], (min(3, len(P)), P.shape[0]),
               ["prototypes_"])
    if n_features is None or n_features > 100_000 or not callable(getattr(obj, "encode", None)):
        return
    width, source = (P.shape[1], "prototypes_") if P is not None else (n_components, "n_components_")
    for rows in (5, 1):  # two sizes: a wrong-shape array may broadcast at one of them
        X = np.linspace(-1.0, 1.0, rows * n_features).reshape(rows, n_features)
        E = _trial(obj, path, meta, data, watched, "encode", X, (rows, width), [source])
        if meta["kind"] == "encoder" and callable(getattr(obj, "decode", None)):
            _trial(obj, path, meta, data, watched, "decode", E, (rows, n_features), ["n_features_in_"])


def _trial(
    obj: Any, path: Path, meta: dict[str, Any], data: dict[str, np.ndarray], watched: set[str],
    what: str, arg: np.ndarray, shape: tuple[int, int | None], sources: list[str],
) -> np.ndarray:
    """``obj.what(arg)`` must give finite numbers of `shape` (None: any width); returns them."""
    used: list[str] = []
    error: Exception | None = None
    with _tracing(obj, watched, used), np.errstate(all="ignore"):
        try:
            out = np.asarray(getattr(obj, what)(arg))
        except ImportError:
            raise
        except Exception as exc:
            error = exc
    if error is None:
        expected = (shape[0], out.shape[1] if shape[1] is None and out.ndim == 2 else shape[1])
        if out.dtype.kind in "biuf" and out.shape == expected and np.isfinite(out).all():
            return out
        if out.shape != expected:
            problem = f"gives output of shape {out.shape} (expected {expected})"
            used = used + sources
        elif out.dtype.kind in "biuf":
            problem = "gives NaN or infinite values"
        else:
            problem = f"gives output of dtype {out.dtype}"
    else:
        problem = f"fails ({type(error).__name__}: {error})"
        missing = getattr(error, "name", None) if isinstance(error, AttributeError) else None
        if isinstance(missing, str) and missing.endswith("_") and missing not in watched:
            raise _corrupt(path, f"field {'state.' + missing!r}", f"is missing: the restored "
                           f"{meta['class']}'s {what} needs it") from error
    suspects = _suspects(data, used, meta)
    raise _corrupt(
        path, suspects,
        f"{'are' if ',' in suspects else 'is'} inconsistent: the restored "
        f"{meta['class']}'s {what} on {shape[0]} rows {problem}",
    ) from error


def _suspects(data: dict[str, np.ndarray], used: list[str], meta: dict[str, Any]) -> str:
    """Name what a failed trial points at: saved arrays holding NaN/inf, else the (up to three)
    saved values the call read last, else the whole state."""
    bad = [k for k, a in sorted(data.items()) if a.dtype.kind == "f" and a.size and not np.isfinite(a).all()]
    if bad:
        return ", ".join(f"array {k!r}" for k in bad)
    last = list(dict.fromkeys(reversed(used)))[:3]
    if last:
        return ", ".join(
            f"array {'state:' + n!r}" if n in meta["state_arrays"] else f"field {'state.' + n!r}" for n in last
        )
    return "field 'state'"


@contextlib.contextmanager
def _tracing(obj: Any, watched: set[str], used: list[str]) -> Any:
    """Record, in `used`, which attributes named in `watched` `obj` reads meanwhile."""
    cls = type(obj)
    base_get = cls.__getattribute__

    def __getattribute__(self: Any, name: str) -> Any:
        if name in watched:
            used.append(name)
        return base_get(self, name)

    try:
        traced = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__})
        obj.__class__ = traced
    except TypeError:  # a class whose instances cannot change class (slots, C types)
        yield
        return
    try:
        yield
    finally:
        obj.__class__ = cls
