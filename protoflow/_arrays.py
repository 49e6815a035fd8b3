"""attrs helpers for frozen value objects that hold NumPy arrays.

A frozen attrs class compares arrays with `==` and leaves them writable by default; these
helpers store read-only copies and compare them element-wise (shape, dtype-insensitive values,
NaNs equal).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np


def readonly(value: Any) -> np.ndarray:
    """Converter: a read-only copy of `value` as an ndarray."""
    arr = np.array(value, copy=True)
    arr.setflags(write=False)
    return arr


def readonly_float(value: Any) -> np.ndarray:
    """Converter: a read-only float64 copy of `value`."""
    arr = np.array(value, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


def arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Element-wise equality with equal shapes; NaNs in the same places count as equal."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(b.dtype, np.floating):
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def array_field(*, dtype_float: bool = True, **kwargs: Any) -> Any:
    """An attrs field that stores a read-only array copy and compares it properly."""
    return attrs.field(
        converter=readonly_float if dtype_float else readonly,
        eq=attrs.cmp_using(eq=arrays_equal),
        **kwargs,
    )
