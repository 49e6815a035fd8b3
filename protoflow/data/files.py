"""The user's own arrays: ``.npy``, ``.npz`` and ``.csv`` files.

Every problem with a file raises `~protoflow.errors.ValidationError` naming the file and the
cause (a CSV problem also names the row and column, 1-based as an editor shows them), never a
raw ``ValueError``, ``EOFError`` or zip error.
"""

from __future__ import annotations

import csv
import math
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.data._dataset import Dataset
from protoflow.errors import ConfigError, DataNotFoundError, ValidationError

SUFFIXES = (".npy", ".npz", ".csv")
#: what np.load raises for a damaged, truncated or pickled file
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def _read_error(path: Path, exc: BaseException) -> ValidationError:
    if "allow_pickle" in str(exc) or "pickle" in str(exc):
        cause = "it holds Python objects, which would need pickle (never used for safety)"
        fix = "Save plain numeric arrays (np.save(path, X.astype(float)))."
    else:
        cause = f"{type(exc).__name__}: {exc}"
        fix = "The file is truncated or corrupt, or not written by NumPy; write it again."
    return ValidationError(f"{path} could not be read as a NumPy file ({cause}). {fix}")


def _load_npy(path: Path, what: str) -> np.ndarray:
    """An array from a ``.npy`` file, without pickle."""
    try:
        arr = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    if not isinstance(arr, np.ndarray):  # an .npz given where an .npy was expected
        arr.close()
        raise ValidationError(f"{path} is an .npz archive, not a single {what} array; use a .npy file")
    return arr


def _check_dtype(path: Path, where: str, arr: np.ndarray, *, labels: bool = False) -> None:
    """Data must be numbers; labels may also be strings. Complex numbers are refused."""
    kind = arr.dtype.kind
    if kind == "c":
        raise ValidationError(
            f"{path}: {where} holds complex numbers ({arr.dtype}); protoflow works on real data. "
            "Save the part you mean explicitly, e.g. X.real, np.abs(X), or "
            "np.concatenate([X.real, X.imag], axis=1)."
        )
    allowed = "biufUS" if labels else "biuf"
    if kind not in allowed:
        what = {"U": "strings", "S": "byte strings", "O": "Python objects", "V": "structured records",
                "M": "dates", "m": "time spans"}.get(kind, f"dtype {arr.dtype}")
        raise ValidationError(
            f"{path}: {where} holds {what} ({arr.dtype}), not numbers. Convert it to a numeric "
            "array before saving."
        )


def _check_finite(path: Path, where: str, arr: np.ndarray) -> None:
    """NaN/inf in numeric data: name the first position (0-based NumPy index) and the count."""
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValidationError(
            f"{path}: {where} has {int(bad.sum())} missing (NaN) or infinite value(s), the first at "
            f"index {list(first)} (0-based). Fill or drop them before loading."
        )


def _load_npz(path: Path, key: str | None, labels: Any) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    if isinstance(npz, np.ndarray):
        raise ValidationError(f"{path} is a single .npy array, not an .npz archive; rename it to .npy")
    with npz:
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
        out = []
        for k in (key, label_key):
            if k is None:
                out.append(None)
                continue
            try:
                out.append(npz[k])
            except _READ_ERRORS as exc:
                err = _read_error(path, exc)
                raise ValidationError(f"array {k!r} of {err}") from exc
        return out[0], out[1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(1-based line number, fields) of the non-blank, non-comment (``#``) lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path} is not UTF-8 text ({exc}); save the CSV as UTF-8") from exc
    rows = []
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        for line_no, fields in enumerate(reader, start=1):
            if not fields or (all(not f.strip() for f in fields) and len(fields) <= 1):
                continue
            if fields[0].lstrip().startswith("#"):
                continue
            rows.append((line_no, fields))
    except csv.Error as exc:
        raise ValidationError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from exc
    return rows


def _first_csv_row(path: Path, delimiter: str) -> tuple[int, list[str]] | None:
    """(1-based line number, fields) of the first non-blank, non-comment line, or None."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                return line_no, next(csv.reader([line], delimiter=delimiter))
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path} is not UTF-8 text ({exc}); save the CSV as UTF-8") from exc
    except csv.Error as exc:
        raise ValidationError(f"{path}: its first row is not valid CSV ({exc})") from exc
    return None


def _fast_csv(path: Path, delimiter: str, skip: int, width: int) -> np.ndarray | None:
    """The table by NumPy's parser when the file is clean (all numbers, all finite, `width`
    columns), else None (the caller's slow path then names the problem)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the slow path says it
            table = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, comments="#",
                               encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        return None
    if table.shape[0] == 0 or table.shape[1] != width or not np.isfinite(table).all():
        return None
    return table


def _load_csv(
    path: Path, labels: Any, delimiter: str, header: bool | None
) -> tuple[np.ndarray, np.ndarray | None]:
    if labels is not None and (isinstance(labels, bool) or not isinstance(labels, int)):
        raise ConfigError(f"parameter 'labels' must be a column index for a CSV file, got {labels!r}")
    first_row = _first_csv_row(path, delimiter)
    if first_row is None:
        raise ValidationError(f"{path} holds no data rows (it is empty or only comments)")
    first_line, first = first_row
    width = len(first)
    label_col = None if labels is None else labels % width if -width <= labels < width else None
    if labels is not None and label_col is None:
        raise ConfigError(
            f"parameter 'labels': column {labels} does not exist; {path} has {width} columns "
            f"(use 0..{width - 1}, or -1 for the last)"
        )
    if header is None:  # a header only if its row holds text that is not a number
        header = any(
            f.strip() and not _is_number(f) for j, f in enumerate(first) if j != label_col or width == 1
        )
    elif not isinstance(header, bool):
        raise ConfigError(f"parameter 'header' must be true, false or omitted (auto), got {header!r}")
    fast = _fast_csv(path, delimiter, first_line if header else 0, width)
    if fast is not None and label_col is None:
        return fast, None
    if fast is not None:
        return np.delete(fast, label_col, axis=1), fast[:, label_col]
    rows = _csv_rows(path, delimiter)  # the slow path: finds and names the problem
    if header:
        rows = rows[1:]
        if not rows:
            raise ValidationError(f"{path} has a header row but no data rows")
    table = np.empty((len(rows), width))
    label_text: list[str] = []
    for i, (line_no, fields) in enumerate(rows):
        if len(fields) != width:
            raise ValidationError(
                f"{path}, row {line_no}: {len(fields)} fields, but row {rows[0][0]} has {width}; "
                "every row needs the same number of columns"
            )
        for j, field in enumerate(fields):
            cell = field.strip()
            where = f"{path}, row {line_no}, column {j + 1}"
            if not cell:
                raise ValidationError(f"{where}: missing value. Fill it in or drop the row.")
            if j == label_col:
                label_text.append(cell)
                continue
            try:
                value = float(cell)
            except ValueError:
                hint = (" (a header row? pass header=True)" if i == 0 and header is False else "")
                raise ValidationError(f"{where}: {cell!r} is not a number{hint}") from None
            if math.isnan(value):
                raise ValidationError(f"{where}: missing value ({cell!r}). Fill it in or drop the row.")
            if math.isinf(value):
                raise ValidationError(f"{where}: infinite value ({cell!r})")
            table[i, j] = value
    if label_col is None:
        return table, None
    y: np.ndarray
    if all(_is_number(t) for t in label_text):
        y = np.array([float(t) for t in label_text])
    else:
        y = np.array(label_text)
    return np.delete(table, label_col, axis=1), y


def load_file(
    path: str,
    labels: Any = None,
    key: str | None = None,
    image_shape: list[int] | None = None,
    delimiter: str = ",",
    header: bool | None = None,
) -> Dataset:
    """Load X (and optionally labels) from a file.

    Parameters
    ----------
    path : str
        A ``.npy`` (X only), ``.npz`` (arrays ``X`` and ``y`` by default) or ``.csv`` file.
    labels : int, str or None
        CSV: index of the label column (e.g. -1); NPZ: name of the label array (default
        "y" when present); NPY: the path of a second ``.npy`` holding the labels.
    key : str or None
        NPZ: name of the data array (default "X", or the only array).
    image_shape : list of int or None
        (height, width[, channels]) when each row is an image.
    delimiter : str
        CSV field separator.
    header : bool or None
        CSV: whether the first row is a header. None (default) detects it: the first row is a
        header only if one of its fields (the label column aside) is text that is not a
        number, so a row such as ``1,,3`` is a data row (with a missing value, an error).

    Returns
    -------
    Dataset
        X of shape (n_samples, n_features) (float64), y of shape (n_samples,) or None.

    Raises
    ------
    ValidationError
        The file is truncated or corrupt, holds objects (pickle is never used), strings or
        complex numbers, or a missing (empty or NaN) or infinite value. CSV errors name the
        row and column, 1-based as an editor shows them (the header is row 1, comment lines
        count).
    ConfigError
        A parameter is wrong (``key``, ``labels``, ``header``, the file suffix).
    DataNotFoundError
        A file does not exist.
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
    if header is not None and p.suffix != ".csv":
        raise ConfigError(f"parameter 'header' applies to .csv files only, not {p.name}")
    y: Any = None
    y_path = p
    if p.suffix == ".npy":
        X = _load_npy(p, "data")
        if labels is not None:
            y_path = Path(labels).expanduser()
            if not y_path.is_file():
                raise DataNotFoundError(f"no labels file at {y_path.resolve()} (parameter 'labels')")
            y = _load_npy(y_path, "labels")
    elif p.suffix == ".npz":
        X, y = _load_npz(p, key, labels)
    else:
        X, y = _load_csv(p, labels, delimiter, header)
    _check_dtype(p, "the data", X)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim > 2:  # images stored as (n, h, w[, c])
        image_shape = image_shape or list(X.shape[1:])
        X = X.reshape(len(X), -1)
    if X.ndim != 2:
        raise ValidationError(f"{p} holds an array of shape {X.shape}; expected (n_samples, n_features)")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValidationError(f"{p} holds an empty array of shape {X.shape}; expected at least one value")
    _check_finite(p, "the data", X)
    if y is not None:
        y = np.asarray(y)
        _check_dtype(y_path, "the labels", y, labels=True)
        _check_finite(y_path, "the labels", y)
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
    return Dataset(X=X, y=y, image_shape=image_shape, name=p.name)
