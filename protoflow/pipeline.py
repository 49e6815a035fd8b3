"""`run`: the config-driven pipeline behind ``protoflow run``.

Stages: load data -> fit encoder -> fit model -> inversion check -> trajectories -> metrics ->
artifacts. Everything is built through the registry by name, so any installed plugin is a
backbone. A model that learns its own encoder (DESOM) exposes it as ``model.encoder`` after fit;
the pipeline then works in that model's latent space and decodes through it.

The same configuration and seed give byte-identical ``metrics.json``; wall-clock timings go to
``timings.json`` instead.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from protoflow import progress
from protoflow.config import ComponentSpec, PairSpec, RunConfig, load_config, parse_config
from protoflow.data import Dataset
from protoflow.errors import ConfigError, MetricNotApplicableError, ValidationError
from protoflow.inversion import Inverter
from protoflow.io import atomic_write_text
from protoflow.protocols import check_target_supported, target_kind
from protoflow.runs import check_output_folder, staged_run_folder, write_manifest

__all__ = ["Backbone", "RunResult", "run"]


@attrs.frozen(eq=False)
class Backbone:
    """One fitted backbone: its model, the encoder into its latent space and derived data.

    Attributes
    ----------
    label : the backbone's name in metrics and figures (the model's name, or a compare label)
    model : the fitted prototype model
    encoder : the fitted encoder from data to the model's latent space
    Z_train, Z_test : latent codes of the train and test split, (n_train, n_features) and
        (n_test, n_features)
    y_train : labels of the train split (n_train,), or None
    unit_labels : the majority training label of each unit (n_units,), or None
    classifier : the latent-space classifier trained for the confidence curves, or None
    """

    label: str
    model: Any
    encoder: Any
    Z_train: np.ndarray
    Z_test: np.ndarray
    y_train: np.ndarray | None
    unit_labels: np.ndarray | None
    classifier: Any


@attrs.frozen(eq=False)
class RunResult:
    """What `run` returns: the metrics (as written to ``metrics.json``), the timings, the fitted
    backbones by label, the trajectories ``{(backbone, pair_index, controller): Trajectory}``
    and the output folder (None when nothing was written)."""

    config: RunConfig
    metrics: dict[str, Any]
    timings: dict[str, float]
    backbones: dict[str, Backbone]
    trajectories: dict[tuple[str, int, str], Any]
    dataset: Dataset
    out: Path | None


class _Identity:
    """The encoder of a config without [encoder]: latent space = data space."""

    def encode(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def decode(self, Z: Any) -> np.ndarray:
        return np.asarray(Z, dtype=np.float64)


@attrs.frozen
class _Chain:
    """A separate encoder followed by the model's own (DESOM on top of PCA, say)."""

    first: Any
    second: Any

    def encode(self, X: Any) -> np.ndarray:
        return self.second.encode(self.first.encode(X))

    def decode(self, Z: Any) -> np.ndarray:
        return self.first.decode(self.second.decode(Z))


def run(
    config_or_path: RunConfig | Mapping[str, Any] | str | Path,
    out: str | Path | None = None,
    *,
    overrides: Iterable[str] = (),
    quiet: bool = True,
    registry: Any = None,
    write: bool = True,
    overwrite: bool = False,
) -> RunResult:
    """Run a configuration and write its artifacts.

    Parameters
    ----------
    config_or_path : a TOML file, its parsed data (dict) or a `RunConfig`.
    out : output folder; default the config's ``[run] out``, else ``runs/<config name>``.
    overrides : ``"table.key=value"`` strings, as ``--set`` takes them.
    quiet : no progress output on stderr.
    registry : the plugin registry (default: the installed plugins).
    write : False to compute everything but write no files.
    overwrite : replace an existing non-empty output folder whole (otherwise it is refused
        with `OutputExistsError` before anything is computed). The run is written into a
        hidden staging folder and published only when complete, with ``manifest.json``
        (see `protoflow.runs`).

    Returns
    -------
    RunResult
    """
    overrides = list(overrides)
    if isinstance(config_or_path, RunConfig):
        config = config_or_path
        if overrides:
            raise ConfigError("overrides apply to a file or dict, not to a parsed RunConfig")
    elif isinstance(config_or_path, Mapping):
        config = parse_config(config_or_path, overrides=overrides, registry=registry)
    else:
        config = load_config(config_or_path, overrides, registry=registry)
    folder = None
    if write:
        folder = check_output_folder(_out_folder(config, out), overwrite=overwrite)
    with progress.quiet(quiet):  # components' own bars and messages obey --quiet too
        return _Run(config, registry, quiet, overwrite).execute(folder)


def _out_folder(config: RunConfig, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    if config.run.out:
        return Path(config.run.out)
    stem = Path(config.source).stem if config.source not in ("<config>", "") else "run"
    return Path("runs") / stem


class _Run:
    def __init__(self, config: RunConfig, registry: Any, quiet: bool, overwrite: bool = False) -> None:
        if registry is None:
            from protoflow.registry import get_registry

            registry = get_registry()
        self.config = config
        self.registry = registry
        self.quiet = quiet
        self.overwrite = overwrite
        self.timings: dict[str, float] = {}
        self.notes: list[str] = []
        self.seed = config.run.seed

    # -- helpers ------------------------------------------------------------------------------

    def stage(self, message: str) -> None:
        progress.stage(message, enabled=not self.quiet)

    def timed(self, key: str, t0: float) -> None:
        elapsed = time.perf_counter() - t0
        self.timings[key] = self.timings.get(key, 0.0) + elapsed
        if elapsed >= 1.0:  # say how long every stage that took a second or more took
            self.stage(f"{key.split(':')[0]} took {elapsed:.1f} s")

    def create(self, kind: str, spec: ComponentSpec) -> Any:
        return self.registry.create(kind, spec.name, **dict(spec.params))

    # -- stages -------------------------------------------------------------------------------

    def load_data(self) -> tuple[Dataset, np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        spec = self.config.data
        params = dict(spec.params)
        path = params.get("path")
        if isinstance(path, str) and self.config.base_dir and not Path(path).expanduser().exists():
            alt = Path(self.config.base_dir) / path
            if alt.exists():  # relative to the config file
                params["path"] = str(alt)
        self.stage(f"loading data {spec.name!r}")
        data = self.registry.create("dataset", spec.name, **params)
        if not isinstance(data, Dataset):
            raise ValidationError(f"dataset loader {spec.name!r} returned {type(data).__name__}")
        n = data.n_samples
        n_test = max(1, round(self.config.run.test_size * n))
        if n - n_test < 2:
            raise ValidationError(f"the dataset has {n} samples: too few to split for training")
        perm = np.random.default_rng(self.seed).permutation(n)
        self.timed("data", t0)
        return data, np.sort(perm[n_test:]), np.sort(perm[:n_test])

    def fit_encoder(self, spec: ComponentSpec | None, X: np.ndarray, cache: dict[str, Any]) -> Any:
        key = json.dumps(spec.to_dict(), sort_keys=True, default=repr) if spec else "<no encoder>"
        if key not in cache:
            if spec is None:
                cache[key] = _Identity()
            else:
                t0 = time.perf_counter()
                self.stage(f"fitting encoder {spec.name!r}")
                cache[key] = self.create("encoder", spec).fit(X)
                self.timed("encoder", t0)
        return cache[key]

    def fit_backbone(
        self, label: str, spec: ComponentSpec, encoder: Any, data: Dataset,
        train: np.ndarray, test: np.ndarray,
    ) -> Backbone:
        t0 = time.perf_counter()
        Z_train = encoder.encode(data.X[train])
        self.stage(f"fitting model {label!r} ({spec.name}) on {Z_train.shape[0]} x {Z_train.shape[1]}")
        model = self.create("model", spec).fit(Z_train)
        self.timed(f"fit:{label}", t0)
        own = getattr(model, "encoder", None)
        if own is not None:  # the model learned its own encoder: work in its latent space
            encoder = own if isinstance(encoder, _Identity) else _Chain(encoder, own)
            Z_train = encoder.encode(data.X[train])
        Z_test = encoder.encode(data.X[test])
        unit_labels = classifier = None
        if data.y is not None:
            unit_labels = _unit_labels(model, Z_train, data.y[train])
            classifier = self.fit_classifier(Z_train, data.y[train])
        y_train = None if data.y is None else data.y[train]
        return Backbone(label, model, encoder, Z_train, Z_test, y_train, unit_labels, classifier)

    def fit_classifier(self, Z: np.ndarray, y: np.ndarray) -> Any:
        kind = self.config.run.classifier
        if kind == "none" or len(np.unique(y)) < 2:
            return None
        self.stage(f"fitting the {kind} classifier for the confidence curves")
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.neural_network import MLPClassifier
        except ImportError:
            self.notes.append("scikit-learn is not installed: no classifier, no confidence metrics")
            return None
        t0 = time.perf_counter()
        if kind == "mlp":
            clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=200, early_stopping=True,
                                random_state=self.seed)
        else:
            clf = LogisticRegression(max_iter=2000)
        clf.fit(Z, y)
        self.timed("classifier", t0)
        return clf

    # -- the whole run ------------------------------------------------------------------------

    def execute(self, out: Path | None) -> RunResult:
        t_start = time.perf_counter()
        cfg = self.config
        data, train, test = self.load_data()
        self.reference_rows = (data, train)  # the manifold path metrics' reference set
        encoders: dict[str, Any] = {}
        entries = [(cfg.model.name, cfg.model, cfg.encoder)]
        entries += [(c.label, c.model, c.encoder or cfg.encoder) for c in cfg.compare]
        backbones: dict[str, Backbone] = {}
        metrics: dict[str, Any] = {
            "config": cfg.to_dict(),
            "data": _data_summary(data, train, test),
            "backbones": {},
        }
        trajectories: dict[tuple[str, int, str], Any] = {}
        for label, model_spec, enc_spec in entries:
            encoder = self.fit_encoder(enc_spec, data.X[train], encoders)
            bb = self.fit_backbone(label, model_spec, encoder, data, train, test)
            backbones[label] = bb
            entry: dict[str, Any] = {"model": _model_summary(model_spec, bb)}
            t0 = time.perf_counter()
            self.stage(f"checking the inversion of {label!r}")
            entry["inversion"] = self.inversion_check(bb)
            self.timed("inversion", t0)
            t0 = time.perf_counter()
            self.stage(f"map-quality metrics of {label!r}")
            entry["map_quality"] = self.map_quality(bb, data.y[test] if data.y is not None else None)
            if bb.classifier is not None:
                acc = float(np.mean(bb.classifier.predict(bb.Z_test) == data.y[test]))
                entry["classifier"] = {"kind": cfg.run.classifier, "test_accuracy": acc}
            self.timed("metrics", t0)
            entry["trajectories"] = self.trajectories(bb, data, test, trajectories)
            metrics["backbones"][label] = entry
        metrics["notes"] = self.notes
        self.timings["total"] = time.perf_counter() - t_start
        result = RunResult(cfg, _jsonable(metrics), dict(self.timings), backbones,
                           trajectories, data, out)
        if out is not None:
            with staged_run_folder(out, overwrite=self.overwrite) as stage:
                self.write(result, stage, encoders)
                write_manifest(stage, config=metrics["config"], components=self.components_used())
            self.stage(f"done: {out}")
        return result

    def components_used(self) -> list[dict[str, Any]]:
        """Kind, name and provenance of every component the config names (for the manifest)."""
        cfg = self.config
        specs = [("dataset", cfg.data), ("encoder", cfg.encoder), ("model", cfg.model),
                 ("controller", cfg.controller), *(("controller", b) for b in cfg.run.baselines)]
        for c in cfg.compare:
            specs += [("model", c.model), ("encoder", c.encoder)]
        out, seen = [], set()
        for kind, spec in specs:
            if spec is None or (kind, spec.name) in seen:
                continue
            seen.add((kind, spec.name))
            info = self.registry.get(kind, spec.name)
            out.append({"kind": kind, "name": spec.name, "plugin": info.plugin,
                        "distribution": info.distribution, "version": info.version})
        return out

    # -- inversion ------------------------------------------------------------------------------

    def inversion_check(self, bb: Backbone) -> dict[str, Any]:
        W = np.asarray(bb.model.prototypes_, dtype=np.float64)
        Z = bb.Z_test[: self.config.run.inversion_samples]
        inv = Inverter(W, allow_underdetermined=True)
        Z_hat = inv.invert(bb.model.activations(Z))
        rel = np.linalg.norm(Z_hat - Z, axis=1) / np.maximum(np.linalg.norm(Z, axis=1), 1e-300)
        spans = inv.rank == W.shape[1]
        n_curve = 40 if W.shape[1] <= 64 else 10  # one least-squares solve per point and n
        out: dict[str, Any] = {
            "spans": bool(spans),
            **inv.diagnostics(),
            "n_points": len(Z),
            "max_relative_error": float(rel.max()),
            "median_relative_error": float(np.median(rel)),
            "error_vs_n": _error_vs_n(inv, bb.model.activations(Z[:n_curve]), Z[:n_curve]),
        }
        if not spans:
            out["note"] = (
                f"the {W.shape[0]} prototypes do not affinely span the {W.shape[1]}-dimensional "
                f"latent space (rank {inv.rank}): activations do not determine the point, the "
                "errors above are of the minimum-norm answer. Reduce the latent dimension or use "
                "more prototypes."
            )
        return out

    # -- map quality -----------------------------------------------------------------------------

    def map_quality(self, bb: Backbone, y_test: np.ndarray | None) -> dict[str, Any]:
        try:
            mq = _metric_module("map_quality")
        except ImportError:
            return {"note": "protoflow.metrics.map_quality is not available: skipped"}
        out: dict[str, Any] = {}
        notes: dict[str, str] = {}
        wanted = [("quantization_error", ()), ("topographic_error", ())]
        if y_test is not None:
            wanted += [("purity", (y_test,)), ("nmi", (y_test,))]
        for name, extra in wanted:
            fn = getattr(mq, name, None)
            if fn is None:
                notes[name] = "not available in this version"
                continue
            try:
                out[name] = float(fn(bb.model, bb.Z_test, *extra))
            except MetricNotApplicableError as exc:
                out[name] = None
                notes[name] = str(exc)
        if notes:
            out["notes"] = notes
        return out

    # -- trajectories ------------------------------------------------------------------------------

    def trajectories(
        self, bb: Backbone, data: Dataset, test: np.ndarray,
        store: dict[tuple[str, int, str], Any],
    ) -> dict[str, Any]:
        cfg = self.config
        controllers = ([cfg.controller] if cfg.controller is not None else []) + list(cfg.run.baselines)
        if not cfg.run.pairs or not controllers:
            return {}
        pairs_out = []
        names = _unique_labels([c.name for c in controllers])
        with progress.Progress(len(cfg.run.pairs) * len(controllers), f"paths {bb.label}",
                                enabled=not self.quiet) as bar:
            for p_i, pair in enumerate(cfg.run.pairs):
                starts, target, target_label = self.resolve_pair(pair, bb, data, test)
                z0 = bb.encoder.encode(data.X[starts])
                per_ctrl: dict[str, Any] = {}
                for name, spec in zip(names, controllers):
                    t0 = time.perf_counter()
                    ctrl = self.create("controller", spec)
                    check_target_supported(ctrl, target_kind(target), spec.name)
                    traj = ctrl.run(bb.model, z0, target, cfg.run.steps)
                    self.timed(f"trajectories:{name}", t0)
                    store[(bb.label, p_i, name)] = traj
                    t0 = time.perf_counter()
                    per_ctrl[name] = self.path_metrics(bb, data, traj, target, target_label)
                    self.timed("metrics", t0)
                    bar.update()
                pairs_out.append({
                    "pair": pair.describe(),
                    "start_samples": [int(s) for s in starts],
                    "target_units": np.atleast_1d(target).astype(int).tolist(),
                    "controllers": per_ctrl,
                })
        summary = {n: _mean_dicts([p["controllers"][n]["mean"] for p in pairs_out]) for n in names}
        return {"pairs": pairs_out, "summary": summary}

    def resolve_pair(
        self, pair: PairSpec, bb: Backbone, data: Dataset, test: np.ndarray
    ) -> tuple[np.ndarray, Any, Any]:
        """(dataset indices of the starts, controller target, target label or None)."""
        if pair.source_index is not None:
            if pair.source_index >= data.n_samples:
                raise ConfigError(f"[run] pairs: source_index {pair.source_index} is past the "
                                  f"{data.n_samples} samples")
            starts = np.array([pair.source_index])
        else:
            y = _need_labels(data, "source")
            pool = test[y[test] == pair.source]
            if len(pool) == 0:
                pool = np.flatnonzero(y == pair.source)
            if len(pool) == 0:
                raise ConfigError(f"[run] pairs: no sample has the source label {pair.source!r}")
            rng = np.random.default_rng(self.seed)
            starts = np.sort(rng.permutation(pool)[: self.config.run.starts])
        n_units = bb.model.prototypes_.shape[0]
        if pair.target_unit is not None or pair.target_units is not None:
            units = [pair.target_unit] if pair.target_unit is not None else list(pair.target_units or ())
            if max(units) >= n_units:
                raise ConfigError(f"[run] pairs: unit {max(units)} is past the model's {n_units} units")
            target: Any = units[0] if pair.target_unit is not None else units
            labels = None if bb.unit_labels is None else {int(bb.unit_labels[u]) for u in units}
            return starts, target, (labels.pop() if labels and len(labels) == 1 else None)
        label = pair.target if pair.target is not None else pair.target_cluster
        _need_labels(data, "target")
        assert bb.unit_labels is not None
        if pair.target_cluster is not None:
            units = np.flatnonzero(bb.unit_labels == label)
            if len(units) == 0:
                raise ConfigError(f"[run] pairs: no unit of {bb.label!r} represents label {label!r}")
            return starts, units.tolist(), label
        return starts, _best_unit(bb, label), label

    def path_metrics(
        self, bb: Backbone, data: Dataset, traj: Any, target: Any, target_label: Any
    ) -> dict[str, Any]:
        P = np.asarray(traj.points)
        B = np.asarray(traj.bmus)
        if P.ndim == 2:
            P, B = P[None], B[None]
        W = np.asarray(bb.model.prototypes_)
        goal = W[np.atleast_1d(target)].mean(axis=0)
        paths, curves = [], {}
        for k in range(P.shape[0]):
            path_curves: dict[str, Any] = {}
            paths.append(self.one_path(bb, data, P[k], B[k], goal, target_label, target,
                                       path_curves))
            if k == 0:
                curves = path_curves
        out: dict[str, Any] = {"paths": paths, "mean": _mean_dicts(paths)}
        if curves:  # along the first path, for the report's manifold figure
            out["curves"] = curves
        return out

    def reference(self) -> np.ndarray:
        """The training rows without missing values (float64), computed once."""
        if not hasattr(self, "_reference"):
            data, train = self.reference_rows
            X = np.asarray(data.X[train], dtype=np.float64)
            self._reference = X[np.isfinite(X).all(axis=1)]
        return self._reference

    def manifold_metrics(
        self, bb: Backbone, P: np.ndarray, B: np.ndarray, goal: np.ndarray, target: Any,
        curves: dict[str, Any],
    ) -> dict[str, Any]:
        """Whether a path stays on the data and arrives (`protoflow.metrics.manifold`).

        Decoded through the backbone's encoder and measured in input space against the
        training data: out-of-range fraction (relative to the training data's min and max,
        margin 5%), exact nearest-training-sample distance, and latent consistency
        ``||E(D(z)) - z||`` (always computed: ~0 for an exact-inverse encoder, which then
        doubles as a check). Arrival: first step whose BMU is in the target; stalls: steps
        closing less than 0.1% of the remaining distance to the target point.
        """
        try:
            mm = _metric_module("manifold")
        except ImportError:
            self._note_once("protoflow.metrics.manifold is not available: manifold metrics skipped")
            return {}
        if not callable(getattr(bb.encoder, "decode", None)):
            self._note_once(f"the encoder of {bb.label!r} cannot decode: manifold metrics skipped")
            return {}
        ref = self.reference()
        decoded = np.asarray(bb.encoder.decode(P), dtype=np.float64)
        m: dict[str, Any] = {}
        if len(ref) and decoded.ndim == 2 and decoded.shape[1] == ref.shape[1]:
            oor = mm.out_of_range_fraction(decoded, float(ref.min()), float(ref.max()))
            near = mm.nearest_sample_distance(decoded, ref)
            m.update({
                "out_of_range_fraction": oor["overall"],
                "out_of_range_max_excess": oor["max_excess"],
                "nearest_sample_distance_mean": float(near.mean()),
                "nearest_sample_distance_max": float(near.max()),
                "nearest_sample_distance_final": float(near[-1]),
            })
            curves["nearest_sample_distance"] = near.tolist()
        else:
            self._note_once(f"out-of-range and nearest-sample metrics of {bb.label!r} skipped: "
                            "its decoded paths do not match the training data's width, or no "
                            "training row is complete")
        lc = mm.latent_consistency(P, bb.encoder)
        m["latent_consistency_mean"] = float(lc.mean())
        m["latent_consistency_max"] = float(lc.max())
        arrival = mm.arrival_step(B, target)
        m["arrival_step"] = None if arrival < 0 else arrival
        m["arrived"] = arrival >= 0
        curves["arrival_step"] = m["arrival_step"]
        stall = mm.stall_steps(P, goal)
        m["stall_steps"] = stall["n_stalled"]
        m["longest_stall"] = stall["longest"]
        return m

    def one_path(
        self, bb: Backbone, data: Dataset, P: np.ndarray, B: np.ndarray,
        goal: np.ndarray, target_label: Any, target: Any = None,
        curves: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        m: dict[str, Any] = {}
        try:
            tm = _metric_module("trajectory")
            m.update(tm.trajectory_summary(P, B))
        except ImportError:
            self._note_once("protoflow.metrics.trajectory is not available: path metrics skipped")
        m["final_distance_to_target"] = float(np.linalg.norm(P[-1] - goal))
        if target is not None:
            m.update(self.manifold_metrics(bb, P, B, goal, target, {} if curves is None else curves))
        try:
            sm = _metric_module("semantic")
        except ImportError:
            self._note_once("protoflow.metrics.semantic is not available: semantic metrics skipped")
            return m
        ref = bb.Z_train[:5000]
        k = min(self.config.run.manifold_k, len(ref))
        m["manifold_distance"] = float(sm.manifold_distance(P, ref, k=k).mean())
        if data.image_shape is not None and len(data.image_shape) >= 2 and min(data.image_shape[:2]) >= 3:
            images = bb.encoder.decode(P)
            m["sharpness"] = float(sm.sharpness(images, data.image_shape).mean())
        if bb.classifier is not None and target_label is not None:
            conf = sm.classifier_confidence(bb.classifier, P, target_label)
            m.update({
                "confidence_mean": conf["mean"],
                "confidence_min": conf["min"],
                "first_target_step": conf["first_target_step"],
                "detour_steps": conf["detour_steps"],
                "reached_target_class": bool(conf["predicted"][-1] == target_label),
            })
        return m

    def _note_once(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    # -- artifacts ---------------------------------------------------------------------------------

    def write(self, result: RunResult, out: Path, encoders: dict[str, Any]) -> None:
        from protoflow import io
        from protoflow.errors import PersistenceError

        t0 = time.perf_counter()
        saved: dict[str, str] = {}
        if self.config.run.save_models:
            main = self.config.model.name
            for label, bb in result.backbones.items():
                name = "model" if label == main else f"model-{_slug(label)}"
                try:
                    saved[label] = io.save(bb.model, out / f"{name}.npz").name
                except (PersistenceError, TypeError) as exc:
                    self._note_once(f"model {label!r} was not saved: {exc}")
            enc = next((e for e in encoders.values() if not isinstance(e, _Identity)), None)
            if enc is not None:
                try:
                    io.save(enc, out / "encoder.npz")
                except (PersistenceError, TypeError) as exc:
                    self._note_once(f"the encoder was not saved: {exc}")
        _save_trajectories(result.trajectories, out / "trajectories.npz")
        result.metrics["notes"] = list(self.notes)
        result.metrics["artifacts"] = {"models": saved}
        if self.config.run.figures or self.config.run.report:
            self.stage("drawing figures and the report")
            from protoflow.report import write_report

            write_report(result, out, figures=self.config.run.figures,
                         html=self.config.run.report, notes=self.notes)
        atomic_write_text(out / "metrics.json", _dumps(result.metrics))
        self.timed("artifacts", t0)
        atomic_write_text(out / "timings.json", _dumps({k: round(v, 4) for k, v in self.timings.items()}))


# -- small pure helpers -----------------------------------------------------------------------------


def _metric_module(name: str) -> Any:
    """A metrics module, imported when first needed (it may not be installed yet)."""
    import importlib

    return importlib.import_module(f"protoflow.metrics.{name}")


def _unique_labels(names: list[str]) -> list[str]:
    """Controller names, with a number appended to repeats ("linear", "linear-2")."""
    out: list[str] = []
    for n in names:
        label, k = n, 1
        while label in out:
            k += 1
            label = f"{n}-{k}"
        out.append(label)
    return out


def _need_labels(data: Dataset, what: str) -> np.ndarray:
    if data.y is None:
        raise ConfigError(f"[run] pairs: a {what} given by label needs a labelled dataset; "
                          f"use source_index / target_unit instead")
    return data.y


def _unit_labels(model: Any, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Majority label of each unit's training points; units without any take the label of the
    nearest unit that has some (in latent space)."""
    classes, codes = np.unique(y, return_inverse=True)
    b = model.bmu(Z)
    K = model.prototypes_.shape[0]
    counts = np.zeros((K, len(classes)), dtype=np.int64)
    np.add.at(counts, (b, codes), 1)
    labels = classes[counts.argmax(axis=1)]
    empty = counts.sum(axis=1) == 0
    if empty.any() and (~empty).any():
        W = np.asarray(model.prototypes_)
        from protoflow.inversion import bmu as nearest

        filled = np.flatnonzero(~empty)
        labels[empty] = labels[filled[nearest(W[empty], W[filled])]]
    return labels


def _best_unit(bb: Backbone, label: Any) -> int:
    """The unit that best represents a label: among units of that majority label, the one
    whose prototype is nearest the label's mean latent point."""
    assert bb.unit_labels is not None
    y_train = bb.y_train
    if y_train is None or not np.any(y_train == label):
        raise ConfigError(f"[run] pairs: no training sample has the target label {label!r}")
    centre = bb.Z_train[y_train == label].mean(axis=0)
    candidates = np.flatnonzero(bb.unit_labels == label)
    if len(candidates) == 0:
        candidates = np.arange(len(bb.unit_labels))
    W = np.asarray(bb.model.prototypes_)
    return int(candidates[np.argmin(np.linalg.norm(W[candidates] - centre, axis=1))])


def _error_vs_n(inv: Inverter, A: np.ndarray, Z: np.ndarray) -> list[dict[str, float]]:
    """Median relative inversion error using only the n nearest prototypes, for a few n
    around the latent dimension D (the paper's error-versus-n curve)."""
    K, D = inv.n_units, inv.n_features
    grid = sorted({n for n in (1, 2, D // 2, D - 1, D, D + 1, D + 2, 2 * D, 4 * D, K) if 1 <= n <= K})
    norms = np.maximum(np.linalg.norm(Z, axis=1), 1e-300)
    rows = []
    for n in grid:
        Z_hat = inv.invert(A, n_nearest=n)
        rel = np.linalg.norm(Z_hat - Z, axis=1) / norms
        rows.append({"n": int(n), "median": float(np.median(rel)), "max": float(rel.max())})
    return rows


def _data_summary(data: Dataset, train: np.ndarray, test: np.ndarray) -> dict[str, Any]:
    return {
        "name": data.name,
        "n_train": len(train),
        "n_test": len(test),
        "n_features": data.n_features,
        "n_classes": None if data.y is None else len(np.unique(data.y)),
        "image_shape": None if data.image_shape is None else list(data.image_shape),
    }


def _model_summary(spec: ComponentSpec, bb: Backbone) -> dict[str, Any]:
    W = bb.model.prototypes_
    topo = getattr(bb.model, "topology_", None)
    return {
        "name": spec.name,
        "n_units": int(W.shape[0]),
        "latent_dim": int(W.shape[1]),
        "topology": topo.to_dict() if topo is not None else None,
        "own_encoder": getattr(bb.model, "encoder", None) is not None,
    }


def _mean_dicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise mean of numeric entries (NaN and None ignored; booleans as fractions)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and k not in ("paths", "mean")]
    out: dict[str, Any] = {}
    for k in keys:
        vals = [float(r[k]) for r in rows if isinstance(r.get(k), int | float) and r.get(k) is not None]
        vals = [v for v in vals if math.isfinite(v)]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in label)


def _jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become None (JSON has no such numbers)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n"


def _save_trajectories(trajs: dict[tuple[str, int, str], Any], path: Path) -> None:
    import io as _io

    from protoflow.io import atomic_write_bytes

    arrays = {}
    for (label, p_i, ctrl), traj in trajs.items():
        key = f"{_slug(label)}__pair{p_i}__{ctrl}"
        arrays[f"{key}__points"] = np.asarray(traj.points)
        arrays[f"{key}__bmus"] = np.asarray(traj.bmus)
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
