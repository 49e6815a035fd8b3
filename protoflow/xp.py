"""One algorithm body for numpy, torch and CuPy arrays: the array-API namespace and the few
operations the standard lacks.

Write a batched kernel once against ``xp = namespace(X)`` (the `array-api-compat
<https://data-apis.org/array-api-compat/>`_ namespace of its arguments: numpy, torch on any
device, CuPy, ...) and call the functions below for what the array API standard does not
offer: matrix products into a preallocated buffer, per-row dot products, scatter-add,
weighted counts, in-place diagonal shifts and batched Cholesky solves. Each dispatches to the
library's native routine in one place; any other array library gets a standard-only fallback.
numpy stays the fast path: its branches call numpy (and scipy) directly, with ``out=``
buffers and no extra copies.

Example::

    from protoflow.xp import asarray_like, matmul, namespace, to_numpy

    xp = namespace(X)                    # numpy, torch or CuPy namespace
    W_dev = asarray_like(W, X)           # W (numpy) where X lives
    scores = matmul(X, W_dev.T)          # (n, n_units), on X's device
    best = to_numpy(xp.argmax(scores, axis=1))

This module is part of the stable plugin API (see docs/plugins.md and docs/backends.md). torch
and CuPy are never imported by it: an array of theirs must already exist.
"""

from __future__ import annotations

import math
import operator
import os
import threading
from typing import Any

import array_api_compat
import numpy as np
import scipy.linalg
from array_api_compat import is_cupy_array, is_numpy_array, is_torch_array
from scipy import sparse

from protoflow import backend

#: the namespace of numpy arrays, looked up once
_NUMPY = array_api_compat.array_namespace(np.empty(0))

__all__ = [
    "Workspace",
    "add_to_diagonal",
    "addmm",
    "asarray_like",
    "bincount",
    "cholesky_solve",
    "copy_into",
    "device",
    "float32_unit_roundoff",
    "is_array",
    "is_numpy",
    "matmul",
    "matvec",
    "namespace",
    "put_rows",
    "rowwise_dot",
    "scatter_add",
    "subtract",
    "take_rows",
    "to_numpy",
    "top_two",
]


def namespace(*arrays: Any) -> Any:
    """The array-API namespace shared by `arrays` (``array_api_compat.array_namespace``).

    numpy arrays give the numpy namespace, torch tensors the torch one (whatever their device),
    CuPy arrays CuPy's; Python scalars and None are ignored. Mixing libraries is a TypeError.
    """
    if all(type(a) is np.ndarray for a in arrays):  # the default backend, in a per-step loop
        return _NUMPY
    return array_api_compat.array_namespace(*arrays)


def device(array: Any) -> Any:
    """The device `array` lives on (``array_api_compat.device``): ``"cpu"`` for numpy, a
    ``torch.device`` for a tensor; pass it as ``device=`` to the namespace's constructors."""
    return array_api_compat.device(array)


def is_array(obj: Any) -> bool:
    """Whether `obj` is an array of a library `namespace` knows (numpy, torch, CuPy, ...);
    lists and scalars are not."""
    return array_api_compat.is_array_api_obj(obj)


def is_numpy(array: Any) -> bool:
    """Whether `array` is a numpy array (or numpy scalar): the fast path of every routine here."""
    return is_numpy_array(array)


def to_numpy(array: Any) -> np.ndarray:
    """`array` (any shape, any library or device) as a numpy array of the same shape and dtype:
    numpy arrays pass through uncopied; tensors are detached from autograd and copied to the
    host when needed."""
    if isinstance(array, np.ndarray):
        return array
    if is_torch_array(array):
        return backend.to_numpy(array)
    if is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def asarray_like(array: Any, like: Any, *, dtype: Any = None) -> Any:
    """`array` (numpy array-like, any shape) in the library and on the device of `like`.

    Without `dtype` the dtype is kept (a dtype of `like`'s library may be given). numpy `like`
    gives ``np.asarray`` (no copy); on the CPU a torch tensor shares the numpy buffer (a
    read-only array is copied first: tensors are always writable); other devices copy.
    """
    if is_numpy_array(like):
        return np.asarray(array, dtype=dtype)
    if is_torch_array(like):
        if is_torch_array(array):
            return array.to(device=like.device, dtype=dtype)
        tensor = backend.as_tensor(array, like.device)
        return tensor if dtype is None else tensor.to(dtype)
    xp = namespace(like)
    return xp.asarray(to_numpy(array), dtype=dtype, device=device(like))


def matmul(a: Any, b: Any, *, out: Any = None) -> Any:
    """``a @ b`` (shapes as ``matmul``: (..., n, k) @ (..., k, m) -> (..., n, m)), written into
    `out` when given (numpy, CuPy and torch write in place, reusing the buffer across calls)."""
    return _binary("matmul", "matmul", operator.matmul, a, b, out)


def subtract(a: Any, b: Any, *, out: Any = None) -> Any:
    """``a - b`` (broadcasting), written into `out` when given (numpy, torch and CuPy write in
    place; another library computes the difference and copies it in)."""
    return _binary("subtract", "sub", operator.sub, a, b, out)


def _binary(name: str, torch_name: str, fallback: Any, a: Any, b: Any, out: Any) -> Any:
    """numpy's / CuPy's `name` or torch's `torch_name` of (a, b) with ``out=``; for any other
    library `fallback(a, b)` copied into `out`."""
    if is_numpy_array(a):
        return getattr(np, name)(a, b, out=out)
    if is_torch_array(a):
        import torch

        return getattr(torch, torch_name)(a, b, out=out)
    if is_cupy_array(a):
        return getattr(_cupy(), name)(a, b, out=out)
    return _into(fallback(a, b), out)


def take_rows(a: Any, index: Any, *, out: Any = None, checked: bool = True) -> Any:
    """``a[index]`` for a (n, ...) and an integer array index (m,) -> (m, ...), written into
    `out` when given (numpy ``take``, torch ``index_select``, CuPy ``take``).

    checked=False is for indices known to lie in 0..n-1 (e.g. from an argmax): numpy then
    skips the range check, which with `out` would also copy the result through a buffer
    (out-of-range entries would be clipped, not reported).
    """
    if is_numpy_array(a):
        return np.take(a, index, axis=0, out=out, mode="raise" if checked else "clip")
    if is_torch_array(a):
        import torch

        return torch.index_select(a, 0, index, out=out)
    if is_cupy_array(a):
        return _cupy().take(a, index, axis=0, out=out)
    return _into(namespace(a).take(a, index, axis=0), out)


def copy_into(out: Any, value: Any) -> Any:
    """Write `value` into the array (or view) `out` of the same shape, converted to out's
    dtype; returns out. numpy, CuPy and torch cast while copying; another array-API library
    (where assignment needs equal dtypes) converts first."""
    if is_numpy_array(out) or is_cupy_array(out):
        out[...] = value
    elif is_torch_array(out):
        out.copy_(value)
    else:
        out[...] = namespace(out).astype(value, out.dtype)
    return out


def put_rows(a: Any, index: Any, values: Any) -> Any:
    """``a[index] = values`` for a (n,) or (n, ...), a sorted integer array index (m,) without
    repeats and values (m, ...); returns the result (a itself where the library writes in
    place: numpy, CuPy, torch). Another array-API library, whose standard has no integer-array
    assignment, gets a new array: each row finds its position in `index` by searchsorted."""
    if is_numpy_array(a) or is_cupy_array(a) or is_torch_array(a):
        a[index] = values
        return a
    xp = namespace(a)
    if index.shape[0] == 0:
        return a
    rows = xp.arange(a.shape[0], dtype=index.dtype, device=device(a))
    pos = xp.clip(xp.searchsorted(index, rows), max=index.shape[0] - 1)
    hit = xp.take(index, pos) == rows
    hit = xp.reshape(hit, (-1,) + (1,) * (a.ndim - 1))
    return xp.where(hit, xp.take(values, pos, axis=0), a)


def _into(result: Any, out: Any) -> Any:
    if out is None:
        return result
    return copy_into(out, result)


class Workspace:
    """Scratch arrays handed out again from one call to the next.

    A loop of small steps (the epochs of a SOM on a few thousand rows) that allocates the same
    large temporaries every time (a (rows, n_units) block of scores, a kernel) makes the
    allocator return their pages to the system and fault them in again on the next step; on
    digits 20x20 that made the whole fit about twice as slow (100 ms against 52 ms). A
    Workspace keeps one array per name and returns it while the shape, dtype, library and
    device asked for match (else it allocates a new one under that name).

    Only a routine's own temporaries belong here: an array returned to a caller must not
    be a workspace array, since the next call overwrites it. A name belongs to one routine
    (e.g. "bmu.scores" to `protoflow.inversion.bmu_search`). Not thread-safe: use one per
    thread (`for_thread`).

    numpy arrays are carved out of one arena (`ARENA_MIN_BYTES` at least, so that numpy asks
    the kernel for transparent huge pages, and starting on a 2 MiB boundary): the first touch
    of a fresh buffer then faults in 2 MiB at a time instead of 4 kB. The arena grows by
    starting a larger one; arrays already handed out stay valid (each view keeps its arena
    alive).

    max_bytes : arrays are kept while their total stays within this many bytes; a larger
        request is served by a fresh array that is not kept.
    """

    #: the smallest numpy arena: numpy advises huge pages for allocations of 4 MiB and more
    ARENA_MIN_BYTES = 1 << 22
    #: offsets in the arena are multiples of this (a cache line, and SIMD friendly)
    _ALIGN = 64
    #: the arena starts on a huge-page boundary (the kernel forms huge pages on aligned 2 MiB)
    _HUGE_PAGE = 1 << 21

    def __init__(self, max_bytes: int = 1 << 26) -> None:
        self.max_bytes = int(max_bytes)
        self._arrays: dict[str, Any] = {}
        self._arena: np.ndarray | None = None
        self._used = 0

    def empty(self, name: str, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
        """An uninitialised array `shape` of `dtype` in the library and on the device of
        `like`: the one this workspace last gave out under `name` while it fits (the same
        trailing dimensions and at least as many rows: then its first ``shape[0]`` rows, a
        contiguous view), else a new one, kept under `name` if the budget allows."""
        a = self._arrays.get(name)
        if (a is None or a.ndim != len(shape) or tuple(a.shape[1:]) != tuple(shape[1:])
                or a.shape[0] < shape[0] or a.dtype != dtype or type(a) is not type(like)
                or device(a) != device(like)):
            self._arrays.pop(name, None)
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize if is_numpy_array(like) else None
            if nbytes is not None and self.nbytes + nbytes <= self.max_bytes:
                a = self._carve(shape, np.dtype(dtype), nbytes)
            else:
                a = namespace(like).empty(shape, dtype=dtype, device=device(like))
            if self.nbytes + _nbytes(a) <= self.max_bytes:
                self._arrays[name] = a
        return a[: shape[0], ...] if len(shape) else a  # the standard wants every axis indexed

    def _carve(self, shape: tuple[int, ...], dtype: np.dtype, nbytes: int) -> np.ndarray:
        """A numpy array `shape` of `dtype` (`nbytes` bytes) from the arena. A full arena is
        replaced by one twice the size of everything kept, which the kept arrays then move
        into lazily (each one when next asked for, as a cheap reallocation)."""
        size = -(-max(nbytes, 1) // self._ALIGN) * self._ALIGN
        if self._arena is None or self._used + size > self._arena.nbytes:
            capacity = max(self.ARENA_MIN_BYTES, 2 * (self.nbytes + size))
            # unused address space beyond the aligned start costs no memory
            self._arena = np.empty(capacity + self._HUGE_PAGE, dtype=np.uint8)
            self._used = (-self._arena.ctypes.data) % self._HUGE_PAGE
            self._arrays.clear()  # the old arena lives on while a caller holds one of its views
        a = self._arena[self._used : self._used + nbytes].view(dtype).reshape(shape)
        self._used += size
        return a

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept arrays."""
        return sum(_nbytes(a) for a in self._arrays.values())

    def clear(self) -> None:
        """Drop every kept array and the arena (their memory goes back to the allocator)."""
        self._arrays.clear()
        self._arena, self._used = None, 0

    @classmethod
    def for_thread(cls) -> Workspace:
        """The calling thread's shared workspace for numpy work (64 MB at most), used by the
        routines that take ``workspace=None`` (`protoflow.inversion.bmu_search`): repeated
        calls from one thread (predictions, epochs of different models) reuse its buffers."""
        ws = getattr(_THREAD, "workspace", None)
        if ws is None:
            ws = _THREAD.workspace = cls()
        return ws


def _nbytes(array: Any) -> int:
    nbytes = getattr(array, "nbytes", None)  # numpy, CuPy and torch arrays have it
    if nbytes is not None:
        return int(nbytes)
    # any other array-API library: the standard has no nbytes, but dtypes know their size
    # (finfo of a complex dtype describes one of its two real parts; bool has no info)
    xp, dtype = namespace(array), array.dtype
    if xp.isdtype(dtype, "bool"):
        itemsize = 1
    elif xp.isdtype(dtype, "complex floating"):
        itemsize = 2 * xp.finfo(dtype).bits // 8
    elif xp.isdtype(dtype, "real floating"):
        itemsize = xp.finfo(dtype).bits // 8
    else:
        itemsize = xp.iinfo(dtype).bits // 8
    return math.prod(array.shape) * itemsize


_THREAD = threading.local()


def addmm(bias: Any, a: Any, b: Any, *, alpha: float = 1.0) -> Any:
    """``bias + alpha * (a @ b)`` for a (n, k), b (k, m) and bias broadcasting to (n, m); one
    fused ``addmm`` on torch, on numpy the product's own buffer scaled and shifted in place
    (no temporaries beyond the (n, m) result)."""
    if is_torch_array(a):
        import torch  # `a` is a tensor: torch is imported already

        return torch.addmm(bias, a, b, alpha=alpha)
    out = matmul(a, b)
    if not is_numpy_array(out):
        return bias + alpha * out
    if alpha == -1.0:  # one pass, and bit for bit ``bias - a @ b``
        return np.subtract(bias, out, out=out)
    if alpha != 1.0:
        out *= alpha
    out += bias
    return out


def matvec(a: Any, v: Any) -> Any:
    """Batched matrix-vector products ``a @ v``: a (..., m, k), v (..., k) -> (..., m). numpy,
    torch and CuPy through their ``einsum`` (strided views of a, e.g. a transpose, are not
    copied); any other array-API library through the standard's batched ``matmul``."""
    if is_numpy_array(a):
        return np.einsum("...mk,...k->...m", a, v)
    if is_torch_array(a):
        import torch  # `a` is a tensor: torch is imported already

        return torch.einsum("...mk,...k->...m", a, v)
    if is_cupy_array(a):
        return _cupy().einsum("...mk,...k->...m", a, v)
    return (a @ v[..., None])[..., 0]


def rowwise_dot(a: Any, b: Any) -> Any:
    """``sum(a * b, axis=-1)`` for a, b of the same shape (..., d) -> (...), without the
    (..., d) temporary on numpy (``einsum``)."""
    if is_numpy_array(a):
        return np.einsum("...i,...i->...", a, b)
    return namespace(a, b).sum(a * b, axis=-1)


def scatter_add(index: Any, values: Any, n: int, *, out: Any = None) -> Any:
    """Row sums by index: ``out[k] = sum of values[i] over the i with index[i] == k``.

    index : integer array (m,) with entries in 0..n-1; values : array (m, d) (or (m,)).
    Returns float64 (n, d) (or (n,)) in values' library and device; with `out` (that shape,
    float64) the sums are added to it in place. Sums are in float64 whatever values' dtype.
    numpy multiplies a sparse one-hot (n, m) by values (O(m d), no dense indicator), torch uses
    ``index_add_`` (atomics on CUDA: the last bits may vary between runs), CuPy
    ``cupyx.scatter_add``.
    """
    if is_numpy_array(values):
        m = index.shape[0]
        # column i holds a single 1 in row index[i]: built directly in CSC form (no COO
        # conversion), the product adds the rows in the same order as a loop over i would
        onehot = sparse.csc_matrix((np.ones(m), index, np.arange(m + 1)), shape=(n, m))
        v64 = values.astype(np.float64, copy=False)
        sums = np.asarray(onehot @ (v64 if v64.ndim == 2 else v64[:, None]))
        sums = sums.reshape((n, *values.shape[1:]))
        if out is None:
            return sums
        out += sums
        return out
    xp = namespace(values)
    if out is None:
        out = xp.zeros((n, *values.shape[1:]), dtype=xp.float64, device=device(values))
    v64 = xp.astype(values, xp.float64, copy=False)
    if is_torch_array(values):
        return out.index_add_(0, index, v64)
    if is_cupy_array(values):
        import cupyx

        cupyx.scatter_add(out, index, v64)
        return out
    # any other library: a dense one-hot (n, m) product, O(n m d), standard operations only
    units = xp.arange(n, device=device(values))
    onehot = xp.astype(units[:, None] == index[None, :], xp.float64)
    sums = onehot @ (v64 if v64.ndim == 2 else v64[:, None])
    out[...] = out + xp.reshape(sums, out.shape)
    return out


def top_two(scores: Any) -> tuple[Any, Any, Any]:
    """Per row of `scores` (m, k): the index of the largest entry (m,) int64, that entry (m,)
    and the largest of the others (m,; -inf when k == 1), in scores' library and dtype.

    May overwrite the largest entry of each row (numpy writes -inf there instead of copying
    the (m, k) block); torch uses ``topk``.
    """
    if is_torch_array(scores):
        if scores.shape[1] == 1:
            import torch

            return (torch.zeros(scores.shape[0], dtype=torch.int64, device=scores.device),
                    scores[:, 0], torch.full_like(scores[:, 0], -float("inf")))
        vals, idx = scores.topk(2, dim=1)
        return idx[:, 0], vals[:, 0], vals[:, 1]
    xp = namespace(scores)
    idx = xp.argmax(scores, axis=1)
    if is_numpy_array(scores) and scores.flags.c_contiguous:
        flat = scores.reshape(-1)  # a view: flat positions are cheaper than put_along_axis
        starts = np.arange(0, flat.size, scores.shape[1])
        pos = starts + idx
        first = flat[pos]
        flat[pos] = -np.inf
        # the runner-up by a second argmax and a gather: numpy's argmax along rows is up to
        # twice as fast as its max there (rows of a few hundred entries)
        second = flat[starts + scores.argmax(axis=1)]
        return idx.astype(np.int64, copy=False), first, second
    # standard operations only: a masked copy
    first = xp.take_along_axis(scores, idx[:, None], axis=1)[:, 0]
    cols = xp.arange(scores.shape[1], device=device(scores))
    rest = xp.where(cols[None, :] == idx[:, None], -xp.inf, scores)
    return xp.astype(idx, xp.int64), first, xp.max(rest, axis=1)


def float32_unit_roundoff(like: Any) -> float | None:
    """The unit roundoff (2**-24) of a float32 matrix product in the library and on the device
    of `like`, or None where such products may run at reduced precision: torch on CUDA with
    TF32 allowed (``torch.backends.cuda.matmul.allow_tf32`` or a float32 matmul precision
    below "highest"), CuPy with ``CUPY_TF32`` set."""
    if is_torch_array(like) and like.device.type == "cuda":
        import torch

        if torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest":
            return None
    if is_cupy_array(like):
        if os.environ.get("CUPY_TF32", "0") not in ("", "0"):
            return None
    return 2.0**-24


def bincount(index: Any, n: int) -> Any:
    """How often each of 0..n-1 occurs in the integer array `index` (m,): float64 (n,), in
    index's library and device."""
    if is_numpy_array(index):
        return np.bincount(index, minlength=n).astype(np.float64)
    xp = namespace(index)
    if is_torch_array(index) or is_cupy_array(index):
        return xp.astype(xp.bincount(index, minlength=n), xp.float64)
    return scatter_add(index, xp.ones(index.shape, dtype=xp.float64, device=device(index)), n)


def add_to_diagonal(G: Any, value: float) -> Any:
    """``G + value * I`` for a stack of square matrices G (..., m, m), in place for numpy, torch
    and CuPy (G is returned); other libraries return a new array."""
    m = G.shape[-1]
    if is_numpy_array(G) or is_cupy_array(G):
        r = np.arange(m) if is_numpy_array(G) else _cupy().arange(m)
        G[..., r, r] += value
        return G
    if is_torch_array(G):
        G.diagonal(dim1=-2, dim2=-1).add_(value)
        return G
    xp = namespace(G)
    return G + value * xp.eye(m, dtype=G.dtype, device=device(G))


def cholesky_solve(G: Any, rhs: Any) -> Any:
    """Solve ``G x = rhs`` for a stack of symmetric positive definite G (..., m, m) and right
    sides rhs (..., m, k); returns x (..., m, k). One Cholesky factorisation per matrix
    (numpy/scipy, torch); other libraries use ``linalg.solve`` (exact, not SPD-specialised)."""
    if is_numpy_array(G):
        return scipy.linalg.cho_solve((np.linalg.cholesky(G), True), rhs)
    if is_torch_array(G):
        import torch

        return torch.cholesky_solve(rhs, torch.linalg.cholesky(G))
    return namespace(G, rhs).linalg.solve(G, rhs)


def _cupy() -> Any:
    import cupy  # only reached with a CuPy array in hand

    return cupy
