"""IDX files (MNIST, Fashion-MNIST): found in a folder the user names, ``$PROTOFLOW_DATA`` or
Debian's ``/usr/share/datasets/fashion-mnist/``; read with their magic number and sizes checked.

Both file-name styles are accepted, compressed or not: ``train-images-idx3-ubyte.gz`` and
``train-images.idx3-ubyte.gz`` (and ``t10k-...`` for the test split).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.data._dataset import Dataset
from protoflow.errors import ConfigError, DataNotFoundError, ValidationError
from protoflow.validation import check_choice, check_int, check_seed

ENV_VAR = "PROTOFLOW_DATA"
#: where system packages put data sets (Debian's dataset-fashion-mnist)
SYSTEM_FOLDERS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}
_PREFIX = {"train": "train", "test": "t10k"}
_TITLE = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "idx": "IDX data"}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array of its stored shape.

    Parameters
    ----------
    path : the file; a ``.gz`` suffix means gzip-compressed.

    Returns
    -------
    numpy.ndarray
        The stored array, of the shape its header gives (e.g. (n, 28, 28) images or (n,)
        labels), read-only.

    Raises
    ------
    ValidationError
        Naming the file and the cause: it cannot be read or decompressed (truncated gzip
        stream, corrupt data), its magic number is wrong (not an IDX file), its type code or
        number of dimensions is unsupported, or its size disagrees with its header (truncated
        or with trailing bytes).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationError(
            f"{path} could not be read ({type(exc).__name__}: {exc}); the file is truncated or "
            "corrupt (a download cut short?): fetch it again"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValidationError(
            f"{path} is not an IDX file (bad magic number: it starts with {raw[:4].hex(' ') or 'nothing'}, "
            "an IDX file with 00 00 TYPE NDIM); is it still compressed without a .gz suffix, "
            "or another format?"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _DTYPES or not 1 <= ndim <= 4:
        raise ValidationError(
            f"{path}: unsupported IDX type 0x{type_code:02x} or {ndim} dimensions (types "
            f"{', '.join(f'0x{t:02x}' for t in _DTYPES)} with 1 to 4 dimensions are read)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValidationError(
            f"{path} is truncated (incomplete IDX header: {len(raw)} of {header} bytes); fetch it again"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[type_code])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValidationError(
            f"{path} has {len(raw)} bytes but its header {shape} implies {expected}; "
            "the file is truncated or corrupt: fetch it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _candidate_folders(kind: str, path: Any) -> list[Path]:
    if path is not None:
        base = Path(path).expanduser()
        return [base, base / kind]
    folders: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        for root in env.split(os.pathsep):
            if root:
                folders += [Path(root).expanduser() / kind, Path(root).expanduser()]
    folders += SYSTEM_FOLDERS.get(kind, [])
    return folders


def _find_file(folder: Path, prefix: str, what: str) -> Path | None:
    kind = "idx3" if what == "images" else "idx1"
    for sep in ("-", "."):
        for ext in (".gz", ""):
            candidate = folder / f"{prefix}-{what}{sep}{kind}-ubyte{ext}"
            if candidate.is_file():
                return candidate
    return None


def find_idx_files(kind: str, split: str, path: Any = None) -> tuple[Path, Path]:
    """(images, labels) files of a split, or `DataNotFoundError` saying where it looked."""
    prefix = _PREFIX[split]
    folders = _candidate_folders(kind, path)
    for folder in folders:
        images = _find_file(folder, prefix, "images")
        labels = _find_file(folder, prefix, "labels")
        if images is not None and labels is not None:
            return images, labels
    looked = ", ".join(str(f) for f in folders) or "(nowhere: no folder given)"
    title = _TITLE.get(kind, kind)
    raise DataNotFoundError(
        f"{title} ({split}) not found. Looked in: {looked}. Provide it offline: put "
        f"{prefix}-images-idx3-ubyte.gz and {prefix}-labels-idx1-ubyte.gz (either name style, "
        f"gzipped or not) in a folder and pass path=\"FOLDER\" in [data], or set "
        f"{ENV_VAR}=FOLDER (protoflow also looks in FOLDER/{kind})."
    )


def load_idx(
    path: Any = None,
    kind: str = "mnist",
    split: str = "train",
    n_samples: int | None = None,
    normalize: bool = True,
    seed: Any = None,
) -> Dataset:
    """Load an IDX image set.

    Parameters
    ----------
    path : folder holding the files; default: ``$PROTOFLOW_DATA`` (and its ``KIND/`` subfolder),
        then system folders (``/usr/share/datasets/fashion-mnist/``).
    kind : "mnist", "fashion-mnist", or another folder name to look for.
    split : "train", "test" or "all" (both, train first).
    n_samples : keep a random subset of this size (drawn with `seed`), default all.
    normalize : scale pixels to [0, 1].

    Returns
    -------
    Dataset with X of shape (n_samples, height * width), integer labels y and image_shape.
    """
    split = check_choice("split", split, ["train", "test", "all"])
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"parameter 'kind' must be a folder name such as 'mnist', got {kind!r}")
    parts = ["train", "test"] if split == "all" else [split]
    images, labels = [], []
    for part in parts:
        img_path, lab_path = find_idx_files(kind, part, path)
        img, lab = read_idx(img_path), read_idx(lab_path)
        if img.ndim != 3 or lab.ndim != 1 or img.shape[0] != lab.shape[0]:
            raise ValidationError(
                f"{img_path} holds {img.shape} and {lab_path} holds {lab.shape}: expected "
                "(n, height, width) images and (n,) labels of the same length"
            )
        images.append(img)
        labels.append(lab)
    X8 = np.concatenate(images) if len(images) > 1 else images[0]
    y = np.concatenate(labels) if len(labels) > 1 else labels[0]
    if n_samples is not None:
        n = check_int("n_samples", n_samples, minimum=1, maximum=len(X8))
        keep = np.sort(check_seed(seed).choice(len(X8), size=n, replace=False))
        X8, y = X8[keep], y[keep]
    X = X8.reshape(len(X8), -1).astype(np.float64)
    if normalize:
        X /= 255.0
    return Dataset(X=X, y=y.astype(np.int64), image_shape=X8.shape[1:], name=f"{kind} ({split})")


def load_mnist(
    path: Any = None, split: str = "train", n_samples: int | None = None,
    normalize: bool = True, seed: Any = None,
) -> Dataset:
    """MNIST; see `load_idx`."""
    return load_idx(path, "mnist", split, n_samples, normalize, seed)


def load_fashion_mnist(
    path: Any = None, split: str = "train", n_samples: int | None = None,
    normalize: bool = True, seed: Any = None,
) -> Dataset:
    """Fashion-MNIST; see `load_idx`."""
    return load_idx(path, "fashion-mnist", split, n_samples, normalize, seed)
