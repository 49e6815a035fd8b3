"""Run folders that never mix or lose results: staged writing, whole publication, a manifest.

A run writes every artifact into a hidden staging folder beside its output folder and, only
when everything has been written, publishes it by renaming it into place; ``manifest.json``
is written last, into the staging folder, so a folder without one never looks complete. An
existing non-empty output folder is refused (`OutputExistsError`) unless ``overwrite=True``,
which replaces it whole: the old folder is moved aside, the new one renamed in, the old one
deleted, so no file of the first run is ever left beside the second's. A killed run leaves
only its hidden staging folder, which the next run to the same output removes.

`verify_run` (``protoflow inspect RUN_DIR``) recomputes every artifact's checksum against
the manifest and lists each missing, changed or unexpected file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from protoflow.errors import OutputExistsError, PersistenceError
from protoflow.io import atomic_write_text

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "protoflow-run"
MANIFEST_VERSION = 1
_STAGING = ".staging-"
_REPLACED = ".replaced-"

__all__ = [
    "MANIFEST",
    "check_output_folder",
    "file_sha256",
    "read_manifest",
    "staged_run_folder",
    "verify_run",
    "write_manifest",
]


def check_output_folder(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Refuse, before anything is computed, an output folder a run may not write.

    An existing non-empty folder needs ``overwrite=True``; an existing file is never replaced.
    Returns `out` as a Path. Raises `OutputExistsError` saying what is there and what to do.
    """
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputExistsError(
            f"the output path {out} exists and is not a folder; choose another --out."
        )
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        what = "a complete protoflow run" if (out / MANIFEST).is_file() else "files"
        raise OutputExistsError(
            f"the output folder {out} already holds {what}. Pass --overwrite "
            "(overwrite=True) to replace it whole, or choose another --out."
        )
    return out


def _remove_stale(out: Path) -> None:
    """Delete staging/replaced folders of `out` left behind by runs that were killed."""
    prefixes = (f".{out.name}{_STAGING}", f".{out.name}{_REPLACED}")
    if not out.parent.is_dir():
        return
    for entry in out.parent.iterdir():
        if not entry.name.startswith(prefixes) or not entry.is_dir():
            continue
        pid = entry.name.rsplit("-", 2)[-2] if entry.name.count("-") >= 2 else ""
        if pid.isdigit() and _alive(int(pid)):
            continue  # another run to the same folder is still writing
        shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers from an earlier, failed call
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def staged_run_folder(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """``with staged_run_folder(out) as stage:`` write into `stage`; on a clean exit the folder
    is published as `out` whole, on an exception it is deleted and `out` is left untouched.

    Raises `OutputExistsError` (see `check_output_folder`) and `PersistenceError` when the
    folder cannot be created or published.
    """
    out = check_output_folder(out, overwrite=overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(out)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{_STAGING}{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise PersistenceError(f"cannot create the run folder beside {out}: {exc}") from exc
    try:
        yield stage
        _publish(stage, out, overwrite)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _publish(stage: Path, out: Path, overwrite: bool) -> None:
    check_output_folder(out, overwrite=overwrite)  # again: another run may have published
    try:
        if out.is_dir():
            old = out.parent / f".{out.name}{_REPLACED}{os.getpid()}-{os.urandom(4).hex()}"
            os.rename(out, old)
            try:
                os.rename(stage, out)
            except OSError:
                os.rename(old, out)  # put the old run back rather than lose it
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(stage, out)
    except OSError as exc:
        raise PersistenceError(f"cannot publish the run folder {out}: {exc}") from exc


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _artifacts(folder: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel != MANIFEST:
            out[rel] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    return out


def _versions(distributions: Iterable[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for dist in sorted({"protoflow-core", "numpy", "scipy", *distributions}):
        try:
            found[dist] = md.version(dist)
        except md.PackageNotFoundError:
            found[dist] = None
    return found


def write_manifest(
    folder: str | os.PathLike[str],
    *,
    config: dict[str, Any],
    components: list[dict[str, Any]],
) -> dict[str, Any]:
    """Write ``manifest.json`` into `folder`, last: status, creation time, the config, the
    components used (kind, name, plugin, distribution, version), the versions of protoflow,
    every plugin distribution used, numpy, scipy and Python, and the SHA-256 and size of every
    other file in the folder. Returns what was written."""
    folder = Path(folder)
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "status": "complete",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": _versions(c["distribution"] for c in components if c.get("distribution")),
        "components": components,
        "config": config,
        "artifacts": _artifacts(folder),
    }
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a run folder; `PersistenceError` when it is missing or malformed."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise PersistenceError(
            f"{folder} has no {MANIFEST}: it is not a complete protoflow run (the run failed, "
            "was interrupted, or this is not a run folder)."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PersistenceError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise PersistenceError(f"{path} is not a protoflow run manifest")
    if not isinstance(manifest.get("artifacts"), dict):
        raise PersistenceError(f"{path}: the field 'artifacts' is missing or not a table")
    return manifest


def verify_run(folder: str | os.PathLike[str]) -> list[str]:
    """Check a run folder against its manifest; returns one line per problem (empty: intact).

    Problems: a listed file missing or with another checksum, a file the manifest does not
    list, a status other than "complete". Raises `PersistenceError` when there is no valid
    manifest at all.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    problems = []
    if manifest.get("status") != "complete":
        problems.append(f"status is {manifest.get('status')!r}, not 'complete'")
    listed = manifest["artifacts"]
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    for rel in sorted(set(listed) - present):
        problems.append(f"missing: {rel}")
    for rel in sorted(present - set(listed)):
        problems.append(f"not part of the run: {rel}")
    for rel in sorted(present & set(listed)):
        entry = listed[rel]
        if not isinstance(entry, dict) or file_sha256(folder / rel) != entry.get("sha256"):
            problems.append(f"changed since the run: {rel}")
    return problems
