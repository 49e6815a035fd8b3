"""``protoflow serve RUN_DIR``: a local web explorer over a finished run folder.

The explorer loads a run's ``model.npz`` and ``encoder.npz`` (after checking the folder against
its manifest with `protoflow.runs.verify_run`), re-loads the dataset named in the run's config
and re-makes the run's train/test split, then serves one page: the map (the prototypes decoded
as images when the data are images, else the U-matrix), a gallery of test samples to start
from, a target (a unit, or a class label: the units whose majority label is that class) and
the MUSIC controller's settings. Each request runs MUSIC (with the run's controller settings,
the page's values on top) and the linear baseline, and answers with both paths' numbers and
their figures (decoded strips, classifier confidence, distance to the data, the paths on the
map) as PNG images.

The web framework (Starlette, served by uvicorn) is the optional extra ``serve``
(``pip install 'protoflow-core[serve]'``) and is imported only by `create_app` and `serve`,
so ``import protoflow`` stays light.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.errors import ConfigError, ProtoflowError, ValidationError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Explorer", "create_app", "serve"]

#: where `serve` listens unless told otherwise (only this machine can reach it)
DEFAULT_HOST = "127.0.0.1"
#: the default port of `serve`
DEFAULT_PORT = 8765

_SERVE_MISSING = (
    "protoflow serve needs the optional web framework (Starlette and uvicorn): "
    "pip install 'protoflow-core[serve]'"
)
_MAX_STEPS = 1000
_GALLERY = 24
_STRIP_FRAMES = 10


def _framework() -> Any:
    try:
        import starlette
    except ImportError as exc:
        raise ImportError(_SERVE_MISSING) from exc
    return starlette


def _png(fig: Any, dpi: int = 80) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # no tight bbox: it would draw the figure twice
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _jsonable_label(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


class Explorer:
    """The state behind the explorer's page: a finished run's model, encoder, data and labels.

    Parameters
    ----------
    run_dir : a run folder written by ``protoflow run`` (or `protoflow.run`); it is checked
        against its manifest and never written to.

    Attributes
    ----------
    model : the run's fitted prototype model (``model.npz``)
    encoder : the run's fitted encoder (``encoder.npz``), or None when the run has none
    config : the run's configuration (a dict, from ``manifest.json``)
    unit_labels : majority training label of each unit, or None for unlabelled data
    classifier : a logistic regression on the training latent codes, or None
    startup_s : seconds the loading took

    Raises
    ------
    ValidationError
        The folder is not an intact, complete run with a saved model.
    """

    def __init__(self, run_dir: str | Path) -> None:
        t0 = time.perf_counter()
        from protoflow.data import load_dataset
        from protoflow.io import load
        from protoflow.runs import read_manifest, verify_run

        self.run_dir = Path(run_dir)
        if not (self.run_dir / "manifest.json").is_file():
            raise ValidationError(f"{self.run_dir} is not a run folder (no manifest.json)")
        problems = verify_run(self.run_dir)
        if problems:
            raise ValidationError(f"{self.run_dir} does not match its manifest: " + "; ".join(problems))
        manifest = read_manifest(self.run_dir)
        if not (self.run_dir / "model.npz").is_file():
            raise ValidationError(f"{self.run_dir} has no model.npz (was the run made with "
                                  "[run] save_models = false?)")
        self.config: dict[str, Any] = manifest["config"]
        self.model = load(self.run_dir / "model.npz")
        enc_path = self.run_dir / "encoder.npz"
        self.encoder = load(enc_path) if enc_path.is_file() else None
        own = getattr(self.model, "encoder", None)
        if own is not None:  # a model that learned its own encoder (DESOM): its latent space
            self.encoder = own if self.encoder is None else _Chain(self.encoder, own)

        data_cfg = dict(self.config["data"])
        self.data = load_dataset(data_cfg.pop("name"), **data_cfg)
        run_cfg = self.config.get("run", {})
        n = self.data.n_samples
        n_test = max(1, round(float(run_cfg.get("test_size", 0.2)) * n))
        perm = np.random.default_rng(run_cfg.get("seed", 0)).permutation(n)
        self.train, self.test = np.sort(perm[n_test:]), np.sort(perm[:n_test])
        self.Z_train = self.encode(self.data.X[self.train])
        self.W = np.asarray(self.model.prototypes_, dtype=np.float64)
        self.n_units = int(self.W.shape[0])
        self.image_shape = tuple(self.data.image_shape) if self.data.image_shape else None

        self.unit_labels = self.classifier = None
        self.classes: list[Any] = []
        y = self.data.y
        if y is not None:
            from protoflow.pipeline import _unit_labels

            self.unit_labels = _unit_labels(self.model, self.Z_train, y[self.train])
            self.classes = [_jsonable_label(c) for c in np.unique(y[self.train])]
            if len(self.classes) >= 2:
                try:
                    from sklearn.linear_model import LogisticRegression
                except ImportError:  # no scikit-learn: no confidence curves
                    pass
                else:
                    self.classifier = LogisticRegression(max_iter=2000).fit(self.Z_train, y[self.train])

        # the run's own controller and its first baseline (the core names no controller)
        ctrl = self.config.get("controller")
        if not isinstance(ctrl, dict) or "name" not in ctrl:
            raise ConfigError(f"{self.run_dir} has no [controller] in its config: the explorer "
                              "runs the run's controller (add one and run it again)")
        self.controller_name = ctrl["name"]
        self.controller_settings = {k: v for k, v in ctrl.items() if k != "name"}
        baselines = [b if isinstance(b, dict) else {"name": b} for b in run_cfg.get("baselines", [])]
        self.baseline = baselines[0] if baselines else None
        self.steps = int(run_cfg.get("steps", 40))
        self._lock = threading.Lock()
        self._map_png: str | None = None
        self.startup_s = time.perf_counter() - t0

    # -- helpers ---------------------------------------------------------------------------------

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Latent codes of data rows (the identity when the run has no encoder)."""
        X = np.asarray(X, dtype=np.float64)
        return X if self.encoder is None else np.asarray(self.encoder.encode(X))

    def decode(self, Z: np.ndarray) -> np.ndarray:
        """Data rows of latent codes (the identity when the run has no encoder)."""
        Z = np.asarray(Z, dtype=np.float64)
        return Z if self.encoder is None else np.asarray(self.encoder.decode(Z))

    def controller_defaults(self) -> dict[str, Any]:
        """The run controller's constructor defaults (name -> value; empty if it has none)."""
        import inspect

        from protoflow.registry import get_registry

        factory = get_registry().get("controller", self.controller_name).factory
        try:
            params = inspect.signature(factory).parameters.values()
        except (TypeError, ValueError):  # a factory without an inspectable signature
            return {}
        return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}

    def schema(self) -> Any:
        """The MUSIC controller's declared `protoflow.params.Schema` (None if it has none)."""
        from protoflow.params import declared_schema
        from protoflow.registry import get_registry

        return declared_schema(get_registry().get("controller", self.controller_name).factory)

    def info(self) -> dict[str, Any]:
        """What the page needs to draw its controls: units, classes, gallery, defaults."""
        schema = self.schema()
        defaults = self.controller_defaults()
        tunable = {}
        for name in ("gamma", "lam", "trust"):
            if name in self.controller_settings or (schema is not None and name in schema):
                doc = schema[name].doc if schema is not None and name in schema else ""
                # a setting the run's config left out shows the controller's own default
                tunable[name] = {"value": self.controller_settings.get(name, defaults.get(name)), "doc": doc}
        y = self.data.y
        gallery = [{"index": int(i), "label": None if y is None else _jsonable_label(y[i])}
                   for i in self.test[:_GALLERY]]
        return {
            "run": str(self.run_dir),
            "model": self.config["model"]["name"],
            "dataset": self.config["data"]["name"],
            "n_units": self.n_units,
            "n_samples": int(self.data.n_samples),
            "classes": self.classes,
            "unit_labels": None if self.unit_labels is None else
            [_jsonable_label(v) for v in self.unit_labels],
            "images": self.image_shape is not None,
            "controller": self.controller_name,
            "baseline": None if self.baseline is None else self.baseline["name"],
            "settings": self.controller_settings,
            "tunable": tunable,
            "steps": min(self.steps, 40),
            "max_steps": _MAX_STEPS,
            "gallery": gallery,
            "startup_s": round(self.startup_s, 3),
        }

    def sample_png(self, index: int) -> bytes:
        """One dataset sample as a small grey PNG (image data only)."""
        index = self._check_index(index, self.data.n_samples, "sample")
        if self.image_shape is None:
            raise ValidationError("the run's data are not images")
        import matplotlib.image as mpimg

        img = np.asarray(self.data.X[index]).reshape(self.image_shape)
        buf = io.BytesIO()
        mpimg.imsave(buf, img, cmap="gray_r", format="png")
        return buf.getvalue()

    def map_png(self) -> str:
        """The map as a PNG data URI: the decoded prototypes for image data, else the
        U-matrix (computed once)."""
        from protoflow import plot

        with self._lock:
            if self._map_png is None:
                fig = _figure((5, 5))
                ax = fig.subplots()
                if self.image_shape is not None:
                    plot.prototypes_as_images(self.model, self.image_shape, self.encoder, ax=ax)
                else:
                    plot.umatrix(self.model, ax=ax)
                self._map_png = _png(fig, dpi=90)
            return self._map_png

    def warm_up(self) -> None:
        """Draw the map and one short request's figures, so that the first real request does
        not pay matplotlib's start-up costs (fonts, caches)."""
        self.map_png()
        request: dict[str, Any] = {"start": {"unit": 0}, "target": {"unit": self.n_units - 1},
                                   "steps": 2}
        self.paths(request)

    @staticmethod
    def _check_index(value: Any, n: int, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValidationError(f"{what} must be an integer, got {value!r}")
        if not 0 <= int(value) < n:
            raise ValidationError(f"{what} must be in 0..{n - 1}, got {value}")
        return int(value)

    def resolve(self, request: dict[str, Any]) -> tuple[np.ndarray, Any, Any, int, dict[str, Any]]:
        """Check a path request; (z0, target, target label or None, steps, MUSIC settings).

        Parameters
        ----------
        request : ``{"start": {"sample": i} or {"unit": u}, "target": {"unit": u} or
            {"label": c}, "steps": n, "params": {"gamma": .., "lam": .., "trust": ..}}``

        Returns
        -------
        tuple

        Raises
        ------
        ValidationError, ConfigError
            A bad index, label, step count or parameter, with a message saying which.
        """
        if not isinstance(request, dict):
            raise ValidationError("the request must be a JSON object")
        unknown = sorted(set(request) - {"start", "target", "steps", "params"})
        if unknown:
            raise ValidationError(f"unknown request field(s): {', '.join(unknown)}")
        start = request.get("start")
        if not isinstance(start, dict) or len(start) != 1 or next(iter(start)) not in ("sample", "unit"):
            raise ValidationError('start must be {"sample": INDEX} or {"unit": INDEX}')
        if "sample" in start:
            i = self._check_index(start["sample"], self.data.n_samples, "start sample")
            z0 = self.encode(self.data.X[[i]])[0]
        else:
            z0 = self.W[self._check_index(start["unit"], self.n_units, "start unit")].copy()
        target = request.get("target")
        if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in ("unit", "label"):
            raise ValidationError('target must be {"unit": INDEX} or {"label": CLASS}')
        label = None
        if "unit" in target:
            goal: Any = self._check_index(target["unit"], self.n_units, "target unit")
            if self.unit_labels is not None:
                label = _jsonable_label(self.unit_labels[goal])
        else:
            if self.unit_labels is None:
                raise ValidationError("the run's data have no labels: choose a target unit")
            matches = [c for c in self.classes if str(c) == str(target["label"])]
            if not matches:
                raise ValidationError(f"target label {target['label']!r} is not one of "
                                      f"{', '.join(map(str, self.classes))}")
            label = matches[0]
            units = np.flatnonzero(self.unit_labels == label)
            if len(units) == 0:
                raise ValidationError(f"no unit has the majority label {label!r}")
            goal = units.tolist()
        steps = request.get("steps", 40)
        steps = self._check_index(steps, _MAX_STEPS + 1, "steps")
        if steps < 1:
            raise ValidationError(f"steps must be in 1..{_MAX_STEPS}, got {steps}")
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise ValidationError("params must be a JSON object")
        for k, v in params.items():
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise ValidationError(f"parameter {k!r} must be a number, got {v!r}")
        settings = {**self.controller_settings, **params}
        schema = self.schema()
        if isinstance(goal, list) and schema is not None and "mode" in schema:
            settings["mode"] = "cluster"  # a class label: steer toward all of its units
        if schema is not None:
            settings = schema.validate(settings)  # ConfigError naming the parameter
        return z0, goal, label, steps, settings

    def paths(self, request: dict[str, Any], *, figures: bool = True) -> dict[str, Any]:
        """Run MUSIC and the linear baseline for a request (see `resolve`).

        Parameters
        ----------
        request : the page's JSON request
        figures : also draw the figures (PNG data URIs); False for the numbers only

        Returns
        -------
        dict
            ``{"target": [...], "target_label": .., "steps": n, "settings": {...},
            "controllers": {"music": {...}, "linear": {...}}, "figures": {...}, "elapsed_s": s}``;
            each controller's entry has its ``points``, ``bmus``, ``final_bmu``,
            ``path_length`` and, with a classifier, ``confidence`` (of the predicted class) and
            ``target_probability`` along the path.
        """
        from protoflow.protocols import check_target_supported, target_kind
        from protoflow.registry import create_controller

        t0 = time.perf_counter()
        z0, goal, label, steps, settings = self.resolve(request)
        trajs = {}
        runs = [(self.controller_name, settings)]
        if self.baseline is not None:
            runs.append((self.baseline["name"], {k: v for k, v in self.baseline.items() if k != "name"}))
        for name, params in runs:
            ctrl = create_controller(name, **params)
            check_target_supported(ctrl, target_kind(goal), name)
            trajs[name] = ctrl.run(self.model, z0, goal, steps)
        out: dict[str, Any] = {
            "target": np.atleast_1d(goal).astype(int).tolist(),
            "target_label": label,
            "steps": steps,
            "settings": settings,
            "controllers": {},
        }
        for name, traj in trajs.items():
            P = np.asarray(traj.points, dtype=np.float64)
            B = np.asarray(traj.bmus).astype(int)
            entry: dict[str, Any] = {
                "points": P.tolist(),
                "bmus": B.tolist(),
                "final_bmu": int(B[-1]),
                "path_length": float(np.linalg.norm(np.diff(P, axis=0), axis=1).sum()),
                "n_steps": int(traj.n_steps),
            }
            if self.classifier is not None:
                proba = self.classifier.predict_proba(P)
                entry["confidence"] = proba.max(axis=1).tolist()
                entry["predicted"] = [_jsonable_label(c) for c in
                                      self.classifier.classes_[proba.argmax(axis=1)]]
                if label is not None:
                    col = [i for i, c in enumerate(self.classifier.classes_) if c == label]
                    if col:
                        entry["target_probability"] = proba[:, col[0]].tolist()
            out["controllers"][name] = entry
        if figures:
            out["figures"] = self.figures(trajs, goal)
        out["elapsed_s"] = time.perf_counter() - t0
        return out

    def figures(self, trajs: dict[str, Any], goal: Any) -> dict[str, str]:
        """The request's figures as PNG data URIs: ``strips`` (both paths decoded, image data
        only), ``maps`` (both paths on the U-matrix) and ``curves`` (classifier confidence, when
        there is a classifier, and distance to the nearest training sample along both paths)."""
        from protoflow import plot

        figs: dict[str, str] = {}
        names = list(trajs)
        with self._lock:
            if self.image_shape is not None:
                fig = _figure((8, 3.4))
                axes = fig.subplots(len(names), 1)
                fig.subplots_adjust(left=0.08, right=0.99, top=0.92, bottom=0.1, hspace=0.75)
                for ax, name in zip(axes, names):
                    plot.decoded_strip(trajs[name], self.encoder, self.image_shape,
                                       n=_STRIP_FRAMES, ax=ax, label=name,
                                       title=f"{name}: decoded path ({trajs[name].n_steps} steps)")
                figs["strips"] = _png(fig)
            fig = _figure((8, 3.8))
            axes = fig.subplots(1, len(names))
            fig.subplots_adjust(left=0.06, right=0.98, top=0.86, bottom=0.12, wspace=0.2)
            for ax, name in zip(axes, names):
                plot.trajectory_on_map(self.model, trajs[name], ax=ax, colorbar=False)
            figs["maps"] = _png(fig)
            fig = _figure((8, 2.8))
            axes = fig.subplots(1, 2 if self.classifier is not None else 1, squeeze=False)[0]
            fig.subplots_adjust(left=0.08, right=0.98, top=0.86, bottom=0.17, wspace=0.3)
            if self.classifier is not None:
                plot.confidence_curves(trajs, self.classifier, ax=axes[0])
            plot.manifold_curves(trajs, self.data.X[self.train], decoder=self.encoder,
                                 target=goal, ax=axes[-1])
            figs["curves"] = _png(fig)
        return figs


class _Chain:
    """An outer encoder followed by a model's own (the pipeline's chaining, for DESOM runs)."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    def encode(self, X: Any) -> np.ndarray:
        return np.asarray(self.second.encode(self.first.encode(X)))

    def decode(self, Z: Any) -> np.ndarray:
        return np.asarray(self.first.decode(self.second.decode(Z)))


def _static(name: str) -> bytes:
    return resources.files("protoflow.serve").joinpath("static", name).read_bytes()


def create_app(run_dir: str | Path | Explorer) -> Any:
    """The explorer's ASGI application (Starlette) over a run folder.

    Parameters
    ----------
    run_dir : a run folder, or an `Explorer` already made over one

    Returns
    -------
    starlette.applications.Starlette
        Routes: ``GET /`` (the page), ``GET /static/{name}``, ``GET /api/info``,
        ``GET /api/map`` (``{"png": data URI}``), ``GET /api/sample/{index}.png`` and
        ``POST /api/paths`` (JSON, see `Explorer.paths`). Bad input is answered with a 4xx
        JSON ``{"error": message}``; an unexpected failure with a 500 JSON message, never a
        traceback.

    Raises
    ------
    ImportError
        The ``serve`` extra is not installed (the message has the pip command).
    """
    _framework()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    explorer = run_dir if isinstance(run_dir, Explorer) else Explorer(run_dir)
    types = {"js": "text/javascript", "css": "text/css", "html": "text/html"}

    def bad(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def index(request: Request) -> Response:
        return Response(_static("index.html"), media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("app.js", "style.css"):
            return bad(f"no static file {name!r}", 404)
        return Response(_static(name), media_type=types[name.rsplit(".", 1)[1]])

    async def info(request: Request) -> Response:
        return JSONResponse(explorer.info())

    def map_(request: Request) -> Response:
        return JSONResponse({"png": explorer.map_png()})

    def sample(request: Request) -> Response:
        text = request.path_params["index"]
        if not text.isdigit():
            return bad(f"sample index must be a non-negative integer, got {text!r}")
        return Response(explorer.sample_png(int(text)), media_type="image/png")

    async def paths(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            return bad(f"the request body is not JSON: {exc}")
        from starlette.concurrency import run_in_threadpool

        figures = request.query_params.get("figures", "1") != "0"
        return JSONResponse(await run_in_threadpool(explorer.paths, body, figures=figures))

    async def on_protoflow_error(request: Request, exc: Exception) -> Response:
        return bad(str(exc), 422 if isinstance(exc, ConfigError) else 400)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return bad(str(exc.detail), exc.status_code)

    async def on_error(request: Request, exc: Exception) -> Response:
        return bad(f"internal error: {type(exc).__name__}: {exc}", 500)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/static/{name}", static),
            Route("/api/info", info),
            Route("/api/map", map_),
            Route("/api/sample/{index}.png", sample),
            Route("/api/paths", paths, methods=["POST"]),
        ],
        exception_handlers={ProtoflowError: on_protoflow_error, HTTPException: on_http_error,
                            Exception: on_error},
    )
    app.state.explorer = explorer
    return app


def serve(run_dir: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          quiet: bool = False) -> None:
    """Serve the explorer over a run folder until interrupted (Ctrl+C).

    Parameters
    ----------
    run_dir : a finished run folder
    host : address to listen on (default 127.0.0.1: this machine only)
    port : port to listen on (default 8765)
    quiet : no start-up line and no request log

    Raises
    ------
    ImportError
        The ``serve`` extra is not installed (the message has the pip command).
    """
    _framework()
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(_SERVE_MISSING) from exc
    t0 = time.perf_counter()
    app = create_app(run_dir)
    explorer: Explorer = app.state.explorer
    explorer.warm_up()  # the map drawn and matplotlib warmed now, so that the page is quick
    if not quiet:
        print(f"protoflow explorer for {run_dir} on http://{host}:{port}/ "
              f"(ready in {time.perf_counter() - t0:.1f} s; Ctrl+C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning" if quiet else "info")
