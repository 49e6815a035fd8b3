"""The ``protoflow`` command.

::

    protoflow run CONFIG [--out DIR] [--overwrite] [--set table.key=value ...] [--quiet]
    protoflow config validate CONFIG [--set ...]
    protoflow plugins [--json]
    protoflow inspect FILE|RUN_DIR [--json]
    protoflow invert MODEL (--activations FILE | --points FILE) [--n-nearest N] [--out FILE]
    protoflow explore MODEL (--start FILE | --start-unit U) [--target UNIT[,UNIT...]]
                      --controller NAME [--steps 50] [--set key=value ...] [--out FILE]
    protoflow serve RUN_DIR [--port 8765] [--host 127.0.0.1]

Exit codes: 0 success, 1 the run failed, 2 usage or configuration error, 3 plugin problem
(unknown, missing or broken). Errors are printed as one clean line (one per configuration
problem); ``--debug`` shows the traceback. ``protoflow --version`` prints protoflow-core's
version and each installed plugin distribution's. Output into a pipe that closes early
(``protoflow plugins --json | head -1``) ends quietly with exit code 141 (128 + SIGPIPE, what
the shell reports for a command stopped by a closed pipe), without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from protoflow.errors import (
    ConfigError,
    OutputExistsError,
    PluginError,
    ProtoflowError,
    ValidationError,
)
from protoflow.protocols import check_target_supported, target_kind
from protoflow.registry import get_registry

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PLUGIN = 0, 1, 2, 3
#: the reader of our output went away (128 + SIGPIPE, as the shell reports it)
EXIT_BROKEN_PIPE = 141


# -- plugins ---------------------------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    """List every usable component, every disabled (contested) name and every failed plugin;
    exit 3 when there is any problem, so scripts and CI notice a broken install."""
    reg = get_registry()
    if args.json:
        out: dict[str, Any] = dict(reg.available())
        out["conflicts"] = [
            {"kind": c.kind, "name": c.name, "claimants": c.claimants} for c in reg.conflicts
        ]
        out["failures"] = [
            {"plugin": f.plugin, "distribution": f.distribution, "error": repr(f.error)}
            for f in reg.failures
        ]
        print(json.dumps(out, indent=2))
    else:
        for kind, items in reg.available().items():
            print(f"{kind}s:")
            for it in items:
                print(f"  {it['name']:<16} {it['distribution'] or '-'} {it['version'] or ''}  {it['summary']}")
        for c in reg.conflicts:
            print(f"  DISABLED {c.kind} {c.name!r}: claimed by {' and '.join(c.claimants)}")
        for f in reg.failures:
            print(f"  FAILED   {f}")
    _warn_problems(reg)
    return EXIT_PLUGIN if reg.problems else EXIT_OK


def _warn_problems(reg: Any) -> None:
    """One ``protoflow: warning:`` line on stderr per failed plugin or contested name."""
    for problem in reg.problems:
        print(f"protoflow: warning: {problem}", file=sys.stderr)


def _load_registry_quietly() -> Any:
    """The default registry, with its PluginWarnings turned into our own stderr lines."""
    import warnings

    from protoflow.errors import PluginWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        return get_registry()


# -- run / config ------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from protoflow.pipeline import run

    result = run(args.config, out=args.out, overrides=args.set, quiet=args.quiet,
                 overwrite=args.overwrite)
    if not args.quiet:
        for label, entry in result.metrics["backbones"].items():
            inv = entry["inversion"]
            line = (f"{label}: inversion max relative error {inv['max_relative_error']:.3g}, "
                    f"sigma_min {inv['sigma_min']:.3g}")
            for ctrl, s in (entry.get("trajectories") or {}).get("summary", {}).items():
                if s.get("confidence_min") is not None:
                    line += f"; {ctrl} min confidence {s['confidence_min']:.3f}"
            print(line)
        print(f"wrote {result.out}")
    return EXIT_OK


def _cmd_config_validate(args: argparse.Namespace) -> int:
    from protoflow.config import load_config

    cfg = load_config(args.config, args.set)
    extra = f", {len(cfg.compare)} comparison(s)" if cfg.compare else ""
    print(f"{args.config}: ok (data {cfg.data.name}, model {cfg.model.name}"
          f"{', controller ' + cfg.controller.name if cfg.controller else ''}{extra})")
    return EXIT_OK


# -- saved models --------------------------------------------------------------------------------------


def _cmd_inspect(args: argparse.Namespace) -> int:
    from protoflow.io import read_metadata

    if Path(args.file).is_dir():
        return _inspect_run(args)
    meta = read_metadata(args.file)
    with np.load(args.file, allow_pickle=False) as npz:
        shapes = {k: list(npz[k].shape) for k in npz.files if k != "__protoflow__"}
    if args.json:
        print(json.dumps({**meta, "arrays": shapes}, indent=2))
        return EXIT_OK
    origin = meta.get("distribution") or f"plugin {meta.get('plugin')}"
    print(f"{args.file}: {meta['kind']} {meta['name']!r} ({meta.get('class')}, from {origin} "
          f"{meta.get('distribution_version') or ''})".replace(" )", ")"))
    print(f"  format version {meta.get('format_version')}")
    params = {k: v for k, v in meta.get("params", {}).items() if not isinstance(v, dict)}
    print("  parameters: " + (", ".join(f"{k}={v!r}" for k, v in params.items()) or "none"))
    state = meta.get("state", {})
    topo = next((v["__topology__"] for v in state.values() if isinstance(v, dict) and "__topology__" in v), None)
    if topo:
        print("  topology: " + ", ".join(f"{k}={v}" for k, v in topo.items() if k != "edges"))
    for name, shape in shapes.items():
        print(f"  array {name.removeprefix('state:')}: shape {tuple(shape)}")
    return EXIT_OK


def _inspect_run(args: argparse.Namespace) -> int:
    """Verify a run folder against its manifest: exit 0 when intact, 1 with one line per
    missing, changed or unexpected file otherwise."""
    from protoflow.runs import read_manifest, verify_run

    manifest = read_manifest(args.file)
    problems = verify_run(args.file)
    if args.json:
        print(json.dumps({**manifest, "problems": problems}, indent=2))
    else:
        used = ", ".join(f"{c['kind']} {c['name']!r} ({c.get('distribution') or c.get('plugin')} "
                         f"{c.get('version') or ''})".replace(" )", ")") for c in manifest.get("components", []))
        print(f"{args.file}: protoflow run, {manifest.get('status')}, created {manifest.get('created')}")
        print(f"  protoflow-core {manifest.get('versions', {}).get('protoflow-core')}; components: {used or 'none'}")
        print(f"  {len(manifest['artifacts'])} artifacts, " + ("all intact" if not problems else
              f"{len(problems)} problem(s):"))
        for line in problems:
            print(f"  - {line}")
    return EXIT_FAILED if problems else EXIT_OK


def _read_array(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"{what}: no file {p}")
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    if p.suffix == ".csv":
        return np.loadtxt(p, delimiter=",", ndmin=2)
    raise ValidationError(f"{what}: {p} must be a .npy or .csv file")


def _check_out_suffix(path: str | None, suffixes: tuple[str, ...]) -> None:
    """Refuse, before any work, an --out whose extension says a format we do not write."""
    if path is not None and not path.endswith(suffixes):
        raise ConfigError(f"--out must end in {', '.join(suffixes)}, got {path!r}: the "
                          "extension chooses the format, and nothing is written elsewhere.")


def _write_array(path: str | None, arr: np.ndarray) -> None:
    if path is None:
        np.savetxt(sys.stdout, np.atleast_2d(arr), delimiter=",", fmt="%.17g")
        return
    from protoflow.io import atomic_write_bytes, atomic_write_text

    if path.endswith(".csv"):
        import io

        buf = io.StringIO()
        np.savetxt(buf, np.atleast_2d(arr), delimiter=",", fmt="%.17g")
        atomic_write_text(path, buf.getvalue())
    else:
        import io

        buf = io.BytesIO()
        np.save(buf, arr)
        atomic_write_bytes(path, buf.getvalue())


def _load_model(path: str) -> Any:
    from protoflow.io import load

    model = load(path)
    if not hasattr(model, "prototypes_"):
        raise ValidationError(f"{path} holds a {type(model).__name__}, not a fitted prototype model")
    return model


def _cmd_invert(args: argparse.Namespace) -> int:
    _check_out_suffix(args.out, (".npy", ".csv"))
    model = _load_model(args.model)
    inverter = model.inverter(allow_underdetermined=args.allow_underdetermined)
    D = inverter.n_features
    if args.n_nearest is not None and args.n_nearest <= D and not args.allow_underdetermined:
        raise ConfigError(
            f"--n-nearest {args.n_nearest} uses {args.n_nearest} prototype(s), but a point in "
            f"{D} dimensions is determined only by at least {D + 1} (D + 1); the answer would be "
            f"a minimum-norm guess, not the point. Use --n-nearest {D + 1} or more, or pass "
            "--allow-underdetermined to get the minimum-norm answer anyway."
        )
    if args.points is not None:
        Z = np.atleast_2d(_read_array(args.points, "--points"))
        Z_hat = inverter.invert(model.activations(Z), n_nearest=args.n_nearest)
        err = np.linalg.norm(Z_hat - Z, axis=1) / np.maximum(np.linalg.norm(Z, axis=1), 1e-300)
        print(f"{len(Z)} point(s): max relative error {err.max():.3g}, sigma_min "
              f"{inverter.sigma_min:.3g}", file=sys.stderr)
    else:
        Z_hat = inverter.invert(_read_array(args.activations, "--activations"), n_nearest=args.n_nearest)
    _write_array(args.out, Z_hat)
    return EXIT_OK


def _parse_units(text: str) -> Any:
    try:
        units = [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise ConfigError(f"--target must be a unit index or a comma-separated list, got {text!r}") from None
    if not units:
        raise ConfigError("--target is empty")
    return units[0] if len(units) == 1 and "," not in text else units


def _cmd_explore(args: argparse.Namespace) -> int:
    from protoflow.config import _parameters, parse_override

    _check_out_suffix(args.out, (".npy", ".csv", ".npz"))
    model = _load_model(args.model)
    W = np.asarray(model.prototypes_)
    if args.start is not None:
        z0 = _read_array(args.start, "--start")
        z0 = z0[0] if z0.ndim == 2 and z0.shape[0] == 1 else z0
    else:
        if not 0 <= args.start_unit < W.shape[0]:
            raise ConfigError(f"--start-unit must be in 0..{W.shape[0] - 1}, got {args.start_unit}")
        z0 = W[args.start_unit]
    target = None if args.target is None else _parse_units(args.target)
    params: dict[str, Any] = {}
    for text in args.set:
        path, value = parse_override(f"controller.{text}")
        params[path[-1]] = value
    accepted = _parameters(get_registry().get("controller", args.controller).factory)
    if args.seed is not None and (accepted is None or "seed" in accepted):
        params.setdefault("seed", args.seed)  # only controllers that take a seed get one
    controller = get_registry().create("controller", args.controller, **params)
    check_target_supported(controller, target_kind(target), args.controller)
    traj = controller.run(model, z0, target, args.steps)
    P = np.asarray(traj.points)
    first = P if P.ndim == 2 else P[0]
    length = float(np.linalg.norm(np.diff(first, axis=0), axis=1).sum())
    bmus = np.asarray(traj.bmus)
    print(f"{args.controller}: {traj.n_steps} steps, path length {length:.4g}, BMU "
          f"{int(bmus.reshape(-1, bmus.shape[-1])[0, 0])} -> {int(bmus.reshape(-1, bmus.shape[-1])[0, -1])}",
          file=sys.stderr)
    if args.out is not None and args.out.endswith(".npz"):
        import io

        from protoflow.io import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, points=P, bmus=bmus)
        atomic_write_bytes(args.out, buf.getvalue())
    else:
        _write_array(args.out, P)
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    """The local explorer over a run folder (needs the ``serve`` extra); runs until Ctrl+C."""
    from protoflow.serve import serve

    if not Path(args.run_dir).is_dir():
        raise ConfigError(f"{args.run_dir} is not a folder: give a run folder written by "
                          "`protoflow run`")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    serve(args.run_dir, host=args.host, port=args.port, quiet=args.quiet)
    return EXIT_OK


# -- parser and error handling --------------------------------------------------------------------------


def version_text() -> str:
    """``protoflow-core X.Y.Z`` and one line per installed plugin distribution (found through
    the ``protoflow`` entry points, without importing the plugins)."""
    from importlib import metadata

    from protoflow import __version__

    try:
        core = metadata.version("protoflow-core")
    except metadata.PackageNotFoundError:
        core = __version__
    lines = [f"protoflow-core {core}"]
    plugins: dict[str, str] = {}
    for ep in metadata.entry_points(group="protoflow"):
        dist = getattr(ep, "dist", None)
        name = getattr(dist, "name", None) if dist is not None else None
        if name and name != "protoflow-core":
            plugins[name] = dist.version  # type: ignore[union-attr]
    for name in sorted(plugins):
        lines.append(f"  {name} {plugins[name]}")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """``--version``: print `version_text` and exit 0 (computed only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        sys.stdout.flush()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protoflow", description="Prototype models, exact inversion and MUSIC trajectories.",
        epilog="Exit codes: 0 ok, 1 run failed, 2 usage or config error, 3 plugin problem. "
               "Add --debug anywhere for tracebacks.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of protoflow-core and of each installed plugin")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a TOML configuration and write its artifacts")
    p.add_argument("config", help="the TOML file")
    p.add_argument("--out", help="output folder (default: [run] out, else runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override a config value (parsed as TOML; repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder whole (otherwise it is refused)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    v = csub.add_parser("validate", help="parse and check a configuration without running it")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE")
    v.set_defaults(func=_cmd_config_validate)

    p = sub.add_parser("plugins", help="list installed plugins and load failures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("inspect", help="show a saved model's metadata, or verify a run folder")
    p.add_argument("file", help="a saved .npz, or a run folder (checked against its manifest)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("invert", help="recover latent points from activations with a saved model")
    p.add_argument("model", help="a saved model (.npz)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--activations", help=".npy/.csv of shape (n, n_units): squared distances")
    src.add_argument("--points", help=".npy/.csv of shape (n, n_features): round-trip check")
    p.add_argument("--n-nearest", type=int, default=None, help="use only the n nearest prototypes")
    p.add_argument("--allow-underdetermined", action="store_true",
                   help="minimum-norm answer when the prototypes do not span the space")
    p.add_argument("--out", help="write the points to .npy or .csv (default: CSV on stdout)")
    p.set_defaults(func=_cmd_invert)

    p = sub.add_parser("explore", help="run a controller from a point on a saved model")
    p.add_argument("model", help="a saved model (.npz)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--start", help=".npy/.csv with the start point(s), shape (n_features,) or (n, n_features)")
    src.add_argument("--start-unit", type=int, help="start at this unit's prototype")
    p.add_argument("--target", default=None,
                   help="target unit, or a comma-separated cluster of units; omit it for a "
                        "controller's free mode (one that declares the 'none' target)")
    p.add_argument("--controller", required=True,
                   help="a registered controller (`protoflow plugins` lists them)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="controller parameter (parsed as TOML; repeatable)")
    p.add_argument("--out", help="write points to .npy/.csv, or points and BMUs to .npz (default: CSV on stdout)")
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser("serve", help="a local web explorer over a finished run folder "
                                     "(needs the 'serve' extra)")
    p.add_argument("run_dir", help="a run folder written by `protoflow run`")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--quiet", "-q", action="store_true", help="no start-up line, no request log")
    p.set_defaults(func=_cmd_serve)
    return parser


def _broken_pipe() -> int:
    """The reader of stdout went away (``protoflow plugins | head -1``): point stdout at
    devnull so that the interpreter's final flush cannot fail again (the Python documentation's
    recipe, see the `signal` module's notes on SIGPIPE) and end quietly with 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
        pass
    return EXIT_BROKEN_PIPE


def _exit_code(exc: BaseException) -> int:
    from protoflow.config import ConfigFileError

    if isinstance(exc, ConfigFileError):
        return EXIT_PLUGIN if exc.is_plugin_problem else EXIT_USAGE
    if isinstance(exc, ConfigError | OutputExistsError):
        return EXIT_USAGE
    if isinstance(exc, PluginError):
        return EXIT_PLUGIN
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        args = build_parser().parse_args(argv)  # usage errors exit with 2 (argparse)
    except BrokenPipeError:  # --version or --help into a closed pipe
        return _broken_pipe()
    try:
        reg = _load_registry_quietly()
        if args.func is not _cmd_plugins:  # `plugins` reports them itself
            _warn_problems(reg)
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows up here, while we can still handle it
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        print("protoflow: interrupted", file=sys.stderr)
        return 130
    except (ProtoflowError, ImportError, OSError) as exc:
        if debug:
            traceback.print_exc()
        print(f"protoflow: error: {exc}", file=sys.stderr)
        return _exit_code(exc)
    except Exception as exc:  # a bug somewhere: still one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"protoflow: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
