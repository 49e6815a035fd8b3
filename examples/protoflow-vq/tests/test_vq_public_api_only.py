"""protoflow-vq uses only protoflow's public API: no ``protoflow._*`` module, no other plugin
distribution's package, and no torch import at module level (``import protoflow_vq`` must work
without torch)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
OWN_PACKAGE = "protoflow_vq"


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every import (or ``protoflow._x`` attribute use) in `source` that leaves the public API.

    Flags: ``import protoflow._x``, ``from protoflow._x import ...``, ``from protoflow import
    _x``, attribute access ``protoflow._x``, any package ``protoflow_*`` other than this one
    (another plugin distribution), and ``torch`` imported at module level.
    """
    tree = ast.parse(source, filename)
    problems: list[str] = []

    def check_module(name: str, lineno: int) -> None:
        parts = name.split(".")
        if parts[0] == "protoflow" and any(p.startswith("_") for p in parts[1:]):
            problems.append(f"{filename}:{lineno}: private module {name}")
        elif parts[0].startswith("protoflow_") and parts[0] != OWN_PACKAGE:
            problems.append(f"{filename}:{lineno}: another plugin's package {name}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports stay inside protoflow_vq
                continue
            module = node.module or ""
            check_module(module, node.lineno)
            if module.split(".")[0] == "protoflow":
                for alias in node.names:
                    if alias.name.startswith("_"):
                        problems.append(f"{filename}:{node.lineno}: private name {module}.{alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if isinstance(node.value, ast.Name) and node.value.id == "protoflow":
                problems.append(f"{filename}:{node.lineno}: private attribute protoflow.{node.attr}")
    for node in tree.body:  # module level only: torch must be imported lazily
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        for name in names:
            if name.split(".")[0] == "torch":
                problems.append(f"{filename}:{node.lineno}: module-level import of {name}")
    return problems


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_there_are_sources_to_check():
    names = {p.name for p in _sources()}
    assert {"__init__.py", "model.py", "plugin.py"} <= names


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_source_uses_only_the_public_api(path: Path):
    problems = forbidden_imports(path.read_text(encoding="utf-8"), path.relative_to(SRC).as_posix())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import protoflow._arrays",
        "import protoflow.metrics._helpers as h",
        "from protoflow._builtin import x",
        "from protoflow import _arrays",
        "import protoflow\nprotoflow._arrays.readonly",
        "import protoflow_som",
        "from protoflow_encoders.torch_training import train",
        "import torch",
        "from torch import nn",
    ],
)
def test_the_checker_catches_violations(source: str):
    assert forbidden_imports(source), f"not flagged: {source!r}"


@pytest.mark.parametrize(
    "source",
    [
        "import protoflow",
        "from protoflow.backend import require_torch",
        "from protoflow import Graph, NoTopology",
        "from protoflow_vq.model import VQSGD",
        "from . import model",
        "def f():\n    import torch\n",
        "import protoflow\nprotoflow.__version__",
    ],
)
def test_the_checker_allows_the_public_api(source: str):
    assert forbidden_imports(source) == []
