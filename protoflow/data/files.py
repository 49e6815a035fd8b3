"""The user's own arrays: ``.npy``, ``.npz`` and ``.csv`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from protoflow.data._dataset import Dataset
from protoflow.errors import ConfigError, DataNotFoundError, ValidationError

SUFFIXES = (".npy", ".npz", ".csv")


def _load_npz(path: Path, key: str | None, labels: Any) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path, allow_pickle=False) as npz:
        names = list(npz.files)
        if key is None:
            key = "X" if "X" in names else (names[0] if len(names) == 1 else None)
        if key is None or key not in names:
            raise ConfigError(
                f"parameter 'key': {path} holds arrays {names}; name the data array with key=..."
            )
        label_key = labels if isinstance(labels, str) else ("y" if "y" in names else None)
        if label_key is not None and label_key not in names:
            raise ConfigError(f"parameter 'labels': {path} has no array {label_key!r} ({names})")
        return npz[key], (npz[label_key] if label_key is not None else None)


def _load_csv(path: Path, labels: Any, delimiter: str) -> tuple[np.ndarray, np.ndarray | None]:
    with path.open() as fh:
        first = fh.readline()
    try:
        [float(v) for v in first.strip().split(delimiter)]
        skip = 0
    except ValueError:  # a header row
        skip = 1
    try:
        table = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2)
    except ValueError as exc:
        raise ValidationError(f"{path} is not a numeric table: {exc}") from exc
    if labels is None:
        return table, None
    if isinstance(labels, bool) or not isinstance(labels, int):
        raise ConfigError(f"parameter 'labels' must be a column index for a CSV file, got {labels!r}")
    col = labels % table.shape[1]
    return np.delete(table, col, axis=1), table[:, col]


def load_file(
    path: str,
    labels: Any = None,
    key: str | None = None,
    image_shape: list[int] | None = None,
    delimiter: str = ",",
) -> Dataset:
    """Load X (and optionally labels) from a file.

    Parameters
    ----------
    path : a ``.npy`` (X only), ``.npz`` (arrays ``X`` and ``y`` by default) or ``.csv`` file.
    labels : CSV: index of the label column (e.g. -1); NPZ: name of the label array (default
        "y" when present); NPY: the path of a second ``.npy`` holding the labels.
    key : NPZ: name of the data array (default "X", or the only array).
    image_shape : (height, width[, channels]) when each row is an image.
    delimiter : CSV field separator.

    Returns a Dataset with X of shape (n_samples, n_features).
    """
    p = Path(path).expanduser()
    if p.suffix not in SUFFIXES:
        raise ConfigError(f"parameter 'path' must end in one of {SUFFIXES}, got {str(p)!r}")
    if not p.is_file():
        raise DataNotFoundError(
            f"no data file at {p.resolve()}; pass path=\"FILE\" in [data] with an existing "
            ".npy, .npz or .csv file (relative paths are taken from the working folder, then "
            "from the config file's folder)"
        )
    y: Any = None
    if p.suffix == ".npy":
        X = np.load(p, allow_pickle=False)
        if labels is not None:
            y = np.load(Path(labels).expanduser(), allow_pickle=False)
    elif p.suffix == ".npz":
        X, y = _load_npz(p, key, labels)
    else:
        X, y = _load_csv(p, labels, delimiter)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim > 2:  # images stored as (n, h, w[, c])
        image_shape = image_shape or list(X.shape[1:])
        X = X.reshape(len(X), -1)
    if X.ndim != 2:
        raise ValidationError(f"{p} holds an array of shape {X.shape}; expected (n_samples, n_features)")
    if y is not None:
        y = np.asarray(y)
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
    return Dataset(X=X, y=y, image_shape=image_shape, name=p.name)
