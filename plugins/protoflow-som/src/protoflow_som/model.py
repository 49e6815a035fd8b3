"""The self-organizing map model (rectangular or hexagonal lattice, optionally a torus)."""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import numpy as np

from protoflow.backend import BACKENDS, as_tensor, resolve_device
from protoflow.base import PrototypeModelBase
from protoflow.errors import ConfigError, TopologyError
from protoflow.inversion import PreparedRows
from protoflow.missing import NAN_POLICIES, MissingDataMixin, check_observed, mean_impute
from protoflow.neighborhood import exponential_temperature
from protoflow.params import Any_, Bool, Choice, Device, Float, Int, Schema, Seed
from protoflow.progress import Progress
from protoflow.scale import is_chunked
from protoflow.topology import Lattice
from protoflow.validation import (
    check_array,
    check_choice,
    check_memory,
    check_seed,
)
from protoflow.xp import Workspace, asarray_like, is_numpy, namespace, to_numpy
from protoflow_som import batch, rules
from protoflow_som.init import INIT_CHOICES, initial_prototypes

ALGORITHMS = ("batch", "minibatch", "online")
#: default learning rates: Adam's step for "minibatch" (Keras' default, as in DESOM), the
#: starting rate of the online rule (MiniSom's default)
DEFAULT_LEARNING_RATE = {"minibatch": 1e-3, "online": 0.5}
#: the online rule's rate decays exponentially to this fraction of `learning_rate`
ONLINE_FINAL_RATE = 0.01
#: default temperatures as fractions of the map's longer side (see the class docstring)
T_MAX_FRACTION, T_MIN_FRACTION = 0.5, 0.05


class SOM(MissingDataMixin, PrototypeModelBase):
    """Kohonen self-organizing map.

    Neighbourhood ``h(j, k) = exp(-d(j, k)^2 / T^2)`` on the lattice's map distance d
    (Manhattan steps on "rect", hexagonal steps on "hex", wrapped on a torus), with
    ``T = t_max * (t_min / t_max)^(t / t_total)`` decaying from t_max at the first update to
    t_min at the last (`protoflow.neighborhood`, shared with DESOM).

    Parameters
    ----------
    rows, cols : int
        Map size; units are numbered row-major (unit = row * cols + col).
    kind : "rect" | "hex"
        Lattice: 4 neighbours, or 6 ("odd-r" layout; a hexagonal torus needs even rows).
    toroidal : bool
        Wrap both map axes (no border units).
    epochs : int
        Passes over the data.
    algorithm : "batch" | "minibatch" | "online"
        "batch": Kohonen's batch rule, one vectorised update per epoch (the default; fastest).
        "minibatch": the DESOM paper's rule, an Adam step per minibatch on the
        neighbourhood-weighted distortion ``mean_i sum_k h(b_i, k) ||z_i - w_k||^2``.
        "online": the classic rule ``w_k += a(t) h(b, k) (z - w_k)`` sample by sample
        (slow; for parity with other libraries).
    t_max, t_min : float or None
        Temperature range. None gives 0.5 and 0.05 times max(rows, cols) (t_min at least 0.5).
        The final width t_min trades quantization error against topographic error: raise it
        for a smoother map (lower TE), lower it for lower QE (measurements against MiniSom and
        somoclu: ``docs/benchmarks.md``). The DESOM paper's schedule,
        ``t_max=max(rows, cols), t_min=0.1``, ends with almost no neighbourhood: lower
        quantization error, higher topographic error.
    init : "random" | "pca" | array of shape (rows * cols, n_features)
        "pca" (default): a grid on the plane of the first two principal components;
        "random": distinct random samples.
    dtype : "float64" | "float32"
        Working precision of the prototypes and the distance products (float32 is about twice
        as fast; sums are accumulated in float64 either way).
    learning_rate : float or None
        "minibatch": Adam's step size (None: 1e-3, the DESOM paper's; it is in data units, so
        scale it with your data). "online": the starting rate, decaying exponentially to 1% of
        it (None: 0.5). Unused by "batch".
    batch_size : int
        Minibatch size for "minibatch" (the DESOM paper's 256).
    seed : int or None
        Seeds the initialisation and the sample order.
    backend : "numpy" | "torch"
        Array library of the "batch" and "minibatch" epochs ("online" is numpy only). Both run
        one implementation over the array-API namespace (`protoflow.xp`): same schedule, same
        seeded sample order; the backends agree to about 1e-12 in float64 on the CPU.
        prototypes_ stays a numpy array either way.
    device : "cpu" | "cuda" | "cuda:N" | "auto" | None
        torch device (None: "cpu"; "auto": CUDA when available). Asking for CUDA where it is
        unavailable is a ConfigError; with backend="numpy" only "cpu"/None are accepted.
    nan_policy : "raise" | "omit"
        "raise" (default): NaN in the data is a ValidationError. "omit": NaN marks a missing
        entry (`protoflow.missing`): BMU search uses the observed coordinates only, with the
        squared distance rescaled by the observed fraction, and every algorithm updates the
        observed coordinates only (the batch rule per feature over the rows that observe it).
        A row without any observed value is a ValidationError. init="pca" then uses the
        principal plane of the mean-imputed data, init="random" mean-imputed random rows.
        Data with missing entries trains with backend="numpy" and in memory (chunked input is
        refused). `activations`/`bmu` of data with NaN use the same rescaled distances;
        `impute` fills missing entries from the BMU's prototype.

    Attributes
    ----------
    prototypes_ : ndarray (rows * cols, n_features) in `dtype`
    topology_ : Lattice
    n_features_in_ : int
    n_iter_ : int, epochs run (fit: `epochs`; each partial_fit call adds one)
    quantization_error_history_ : ndarray (n_iter_,), each epoch's mean distance to the BMU,
        measured with the prototypes of that epoch as the data went by (before its update)
    """

    parameters = Schema(
        rows=Int(1, doc="map height"),
        cols=Int(1, doc="map width"),
        kind=Choice("rect", "hex"),
        toroidal=Bool(),
        epochs=Int(1),
        algorithm=Choice(*ALGORITHMS),
        t_max=Float(0.0, strict_min=True, optional=True),
        t_min=Float(0.0, strict_min=True, optional=True),
        init=Any_(lambda name, v: _check_init(v), optional=False),
        dtype=Any_(lambda name, v: _check_dtype(v), optional=False),
        learning_rate=Float(0.0, strict_min=True, optional=True),
        batch_size=Int(1),
        seed=Seed(),
        backend=Choice(*BACKENDS),
        device=Device(),
        nan_policy=Choice(*NAN_POLICIES, doc='"raise": NaN is an error; "omit": NaN is missing'),
    )

    def __init__(
        self,
        rows: int = 10,
        cols: int = 10,
        kind: str = "rect",
        toroidal: bool = False,
        epochs: int = 10,
        algorithm: str = "batch",
        t_max: float | None = None,
        t_min: float | None = None,
        init: Any = "pca",
        dtype: str = "float64",
        learning_rate: float | None = None,
        batch_size: int = 256,
        seed: int | None = None,
        backend: str = "numpy",
        device: str | None = None,
        nan_policy: str = "raise",
    ) -> None:
        self.rows = rows
        self.cols = cols
        self.kind = kind
        self.toroidal = toroidal
        self.epochs = epochs
        self.algorithm = algorithm
        self.t_max = t_max
        self.t_min = t_min
        self.init = init
        self.dtype = dtype
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.seed = seed
        self.backend = backend
        self.device = device
        self.nan_policy = nan_policy

    # -- parameters --------------------------------------------------------------------------

    def _lattice(self) -> Lattice:
        p = self.validated_params()
        try:
            return Lattice(p["rows"], p["cols"], kind=p["kind"], toroidal=p["toroidal"])
        except TopologyError as exc:
            raise ConfigError(f"parameter 'rows': {exc}") from exc

    def _config(self) -> dict[str, Any]:
        p = self.validated_params()  # the declared checks: the same as `config validate`
        side = max(p["rows"], p["cols"])
        algorithm = p["algorithm"]
        t_max = T_MAX_FRACTION * side if p["t_max"] is None else p["t_max"]
        t_min = max(0.5, T_MIN_FRACTION * side) if p["t_min"] is None else p["t_min"]
        lr = DEFAULT_LEARNING_RATE.get(algorithm, 1.0) if p["learning_rate"] is None else p["learning_rate"]
        return {
            "epochs": p["epochs"],
            "algorithm": algorithm,
            "t_max": t_max,
            "t_min": t_min,
            "learning_rate": lr,
            "batch_size": p["batch_size"],
            "dtype": p["dtype"],
            "omit": p["nan_policy"] == "omit",
            **self._compute_config(algorithm),
        }

    def _compute_config(self, algorithm: str) -> dict[str, Any]:
        """{"device": the torch device, or None for the numpy backend} (validated)."""
        device = resolve_device(self.backend, self.device)
        if device is not None and algorithm == "online":
            raise ConfigError(
                "parameter 'backend': backend='torch' runs the 'batch' and 'minibatch' "
                "algorithms; the sample-by-sample 'online' rule needs backend='numpy'."
            )
        return {"device": device}

    @staticmethod
    def _on_device(X: np.ndarray, cfg: dict[str, Any]) -> Any:
        """The training data where the epochs compute: X itself for numpy, else a tensor."""
        return X if cfg["device"] is None else as_tensor(X, cfg["device"])

    # -- training ----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> SOM:
        """Train from scratch for `epochs` epochs.

        X : array-like of shape (n_samples, n_features), or chunked data (a dask array or a list
        of .npy files): then each batch epoch is a Dask map-reduce
        (`protoflow_som.chunked`). y is ignored. Returns self.
        """
        if is_chunked(X):
            from protoflow_som.chunked import fit_chunked

            return fit_chunked(self, X)
        cfg = self._config()
        X = self._start(X, cfg)
        missing = self._has_missing(X, cfg)
        X = self._on_device(X, cfg)  # moved to the device once, not per epoch
        prepared = self._prepared_rows(X, cfg, missing)
        # a bar with ETA on a terminal only; silent in pipes and under protoflow.progress.quiet()
        with Progress(cfg["epochs"], "som epochs") as bar:
            for _ in range(cfg["epochs"]):
                self._epoch(X, cfg, missing, prepared)
                bar.update()
        return self

    #: `PreparedRows` (the BMU search's float32 copy of the data) up to this size; larger
    #: data is centred and rounded block by block in every epoch instead
    PREPARED_MAX_BYTES = 256 << 20

    def _prepared_rows(self, X: Any, cfg: dict[str, Any], missing: bool) -> PreparedRows | None:
        """The batch epochs' float32 rows of float64 data X, made once for the whole fit
        (None for other algorithms, float32 or missing data, or data above
        PREPARED_MAX_BYTES)."""
        if (cfg["algorithm"] != "batch" or missing or X.dtype != namespace(X).float64
                or PreparedRows.nbytes(*X.shape) > self.PREPARED_MAX_BYTES):
            return None
        return PreparedRows(X)

    def partial_fit(self, X: Any, y: Any = None) -> SOM:
        """One epoch of the chosen algorithm on this chunk of data.

        The first call initialises the map from the chunk. The temperature follows the same
        schedule as `fit`, one step per call: after `epochs` calls it stays at t_min. For the
        exact batch epoch over data too large for memory, add up `protoflow_som.batch.accumulate`
        over the chunks and call `protoflow_som.batch.update` once.

        X : array-like of shape (n_samples, n_features). Returns self.
        """
        cfg = self._config()
        if getattr(self, "prototypes_", None) is None:
            X = self._start(X, cfg)
        else:
            X = check_array(X, name="X", n_features=self.n_features_in_, allow_float32=True,
                            allow_nan=cfg["omit"])
        X = X.astype(cfg["dtype"], copy=False)
        missing = self._has_missing(X, cfg)
        self._epoch(self._on_device(X, cfg), cfg, missing)
        return self

    @staticmethod
    def _has_missing(X: np.ndarray, cfg: dict[str, Any]) -> bool:
        """Whether X (n_samples, n_features) holds NaN to omit (checked: no all-NaN row)."""
        if not cfg["omit"] or not np.isnan(X).any():
            return False
        check_observed(X, "X")
        if cfg["device"] is not None:
            raise ConfigError(
                "parameter 'backend': data with missing entries (nan_policy='omit') trains "
                "with backend='numpy'; impute the data first to train with torch."
            )
        return True

    def _start(self, X: Any, cfg: dict[str, Any]) -> np.ndarray:
        lattice = self._lattice()
        X = check_array(X, name="X", allow_float32=True, allow_nan=cfg["omit"])
        K, D = lattice.n_units, X.shape[1]
        # the largest buffers: map distances and neighbourhood kernels (K x K), prototypes and
        # their updates (K x D), one block of activations (rows of K)
        check_memory(8.0 * (4 * K * K + 4 * K * D + 4096 * K),
                     f"a {lattice.rows}x{lattice.cols} SOM on {D} features",
                     hint="Use a smaller map (rows, cols).")
        self._rng = check_seed(self.seed)
        # with missing entries, the initialisation sees the mean-imputed data
        X_init = mean_impute(X) if self._has_missing(X, cfg) else X
        W = initial_prototypes(X_init, lattice, self.init, self._rng)
        self.topology_ = lattice
        self.n_features_in_ = int(X.shape[1])
        self.prototypes_ = W.astype(cfg["dtype"])
        self.n_iter_ = 0
        self.quantization_error_history_ = np.empty(0)
        self._adam = rules.Adam(W.shape, cfg["learning_rate"])
        return X.astype(cfg["dtype"], copy=False)

    def _epoch(self, X: Any, cfg: dict[str, Any], missing: bool = False,
               prepared: PreparedRows | None = None) -> None:
        """Epoch number n_iter_ of `epochs`: updates prototypes_, the history and n_iter_.

        X : (n_samples, n_features) in the working dtype; a tensor on cfg["device"] for torch.
        missing : X holds NaN entries to omit (numpy only). prepared : X's `PreparedRows`.
        """
        e, E = self.n_iter_, cfg["epochs"]
        table = self._kernel_table(X)
        W = self.prototypes_
        if not hasattr(self, "_rng"):  # restored from disk: continue with a fresh seeded stream
            self._rng = check_seed(self.seed)
        if cfg["algorithm"] == "batch":
            # one update per epoch: epoch e sits at e / (E - 1) of the schedule
            T = exponential_temperature(e, E - 1, cfg["t_max"], cfg["t_min"])
            # numpy: the thread's buffers, reused across epochs and fits (no page faults per
            # epoch); torch's caching allocator does that itself
            ws = Workspace.for_thread() if is_numpy(X) else None
            kernel = table(T, workspace=ws)
            if missing:
                mstats = batch.accumulate_masked(X, W)
                self.prototypes_ = batch.update_masked(W, mstats, kernel)
                err = mstats.error
            else:  # one body for numpy and torch: W goes where X is, the result comes back
                Wx = asarray_like(W, X)
                stats = batch.accumulate(X, Wx, workspace=ws, prepared=prepared)
                self.prototypes_ = to_numpy(batch.update(Wx, stats, kernel))
                err = stats.error
        else:
            err = self._sample_epoch(X, W, table, cfg, missing)
        self.quantization_error_history_ = np.append(
            self.quantization_error_history_, err / X.shape[0]
        )
        self.n_iter_ = e + 1

    def _kernel_table(self, X: Any) -> batch.KernelTable:
        """The kernel lookup of topology_'s map distances in X's library and on its device,
        built once per topology and device (not saved; the distances are not even asked for
        again: `Lattice.distances` checks the memory each call). For numpy and a small map
        the table is shared by every model with an equal topology (`batch.shared_kernel_table`)."""
        cached = getattr(self, "_kernel_cache", None)
        if cached is None or cached[0] is not self.topology_ or _where(cached[1].like) != _where(X):
            table = batch.shared_kernel_table(self.topology_) if is_numpy(X) else None
            if table is None:
                table = batch.KernelTable(self.topology_.distances(), like=X)
            cached = self._kernel_cache = (self.topology_, table)
        return cached[1]

    def _sample_epoch(self, X: Any, W: np.ndarray, table: batch.KernelTable, cfg: dict[str, Any],
                      missing: bool = False) -> float:
        """A minibatch or online epoch; the schedule runs over every update of every epoch."""
        e, E, algorithm = self.n_iter_, cfg["epochs"], cfg["algorithm"]
        order = self._rng.permutation(X.shape[0])
        n_steps = math.ceil(len(order) / cfg["batch_size"]) if algorithm == "minibatch" else len(order)
        total = E * n_steps - 1

        def temperature(i: int) -> float:
            return exponential_temperature(e * n_steps + i, total, cfg["t_max"], cfg["t_min"])

        W64 = W.astype(np.float64)
        lr0 = cfg["learning_rate"]
        if algorithm == "minibatch":
            if getattr(self, "_adam", None) is None:
                self._adam = rules.Adam(W.shape, lr0)
            err = rules.minibatch_epoch(W64, X, order, table, temperature, cfg["batch_size"],
                                        self._adam, missing=missing)
        else:

            def rate(i: int) -> float:
                return exponential_temperature(e * n_steps + i, total, lr0, lr0 * ONLINE_FINAL_RATE)

            err = rules.online_epoch(W64, X, order, table.distances, temperature, rate, missing=missing)
        self.prototypes_ = W64.astype(W.dtype)
        return err


def _where(array: Any) -> tuple[type, Any]:
    """The library (array type) and device of an array, e.g. (ndarray, "cpu")."""
    return type(array), getattr(array, "device", None)


def _check_dtype(value: Any) -> np.dtype:
    """float64 or float32, given as a name or a numpy dtype."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in ("float64", "float32"):
        raise ConfigError(f"parameter 'dtype' must be one of 'float64', 'float32'; got {value!r}.")
    return dtype


def _check_init(value: Any) -> Any:
    """"pca", "random", or an array of starting prototypes (its shape is checked in fit)."""
    if isinstance(value, str):
        return check_choice("init", value, INIT_CHOICES)
    arr = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
    if arr is None or arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(f"parameter 'init' must be 'random', 'pca' or a 2-D array of prototypes; "
                          f"got {value!r}.")
    return value


def _with_toroidal_default(init: Any) -> Any:
    """`init` with the parameter ``toroidal`` defaulting to True; the signature (which
    get_params, repr and configs read) says so, and nothing else is repeated."""
    sig = inspect.signature(init)
    sig = sig.replace(parameters=[
        p.replace(default=True) if p.name == "toroidal" else p for p in sig.parameters.values()
    ])

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(*bound.args, **bound.kwargs)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    return __init__


class ToroidalSOM(SOM):
    """A `SOM` whose map wraps around on both axes by default (``toroidal=True``): no border
    units, as the DESOM paper trains its MNIST maps. Parameters as `SOM`."""

    __init__ = _with_toroidal_default(SOM.__init__)
