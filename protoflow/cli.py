"""The ``protoflow`` command."""

from __future__ import annotations

import argparse
import json
import sys

from protoflow.registry import get_registry


def _cmd_plugins(args: argparse.Namespace) -> int:
    reg = get_registry()
    if args.json:
        out = reg.available()
        out["failures"] = [
            {"plugin": f.plugin, "distribution": f.distribution, "error": repr(f.error)}
            for f in reg.failures
        ]
        print(json.dumps(out, indent=2))
        return 0
    for kind, items in reg.available().items():
        print(f"{kind}s:")
        for it in items:
            print(f"  {it['name']:<16} {it['distribution'] or '-'} {it['version'] or ''}  {it['summary']}")
    for f in reg.failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="protoflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plugins", help="list installed plugins and load failures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plugins)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
