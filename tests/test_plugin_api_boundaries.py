"""The plugin platform's two boundaries, enforced on the source tree.

1. Plugins are third parties: every module under plugins/ and examples/ imports only the core's
   public API (no ``protoflow._*`` module, no ``_private`` name) and nothing private of another
   distribution (DESOM may use the encoders plugin's public API only).
2. The core names no concrete component: no string literal in core code (docstrings aside)
   equals the name of a component that a plugin distribution registers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "protoflow"


def _python_files(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in sorted(folder.rglob("*.py")) if ".venv" not in p.parts)


def _distribution_packages() -> dict[Path, set[str]]:
    """Each plugin distribution folder -> the top-level packages its src/ holds."""
    out: dict[Path, set[str]] = {}
    for pyproject in sorted([*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("examples/*/pyproject.toml")]):
        src = pyproject.parent / "src"
        out[pyproject.parent] = {p.name for p in src.iterdir() if (p / "__init__.py").exists()} if src.is_dir() else set()
    return out


def _own_packages(path: Path, dists: dict[Path, set[str]]) -> set[str]:
    for folder, packages in dists.items():
        if folder in path.parents:
            return packages
    return set()


def _imports(tree: ast.AST) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every import; ``import a.b`` gives ("a.b", [])."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT) if ROOT in path.parents else path


def _private(parts: list[str]) -> bool:
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts)


def import_violations(path: Path, own: set[str], others: set[str]) -> list[str]:
    """What `path` imports that a third party is not offered."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for line, module, names in _imports(tree):
        top, *rest = module.split(".")
        if top == "protoflow" or top in others - own:
            whose = "the core" if top == "protoflow" else f"another distribution ({top})"
            if _private(rest):
                found.append(f"{_rel(path)}:{line}: imports {module}, a private module of {whose}")
            for name in names:
                if _private([name]):
                    found.append(f"{_rel(path)}:{line}: imports {name} from {module}, "
                                 f"a private name of {whose}")
    return found


def test_plugins_and_examples_import_only_public_api() -> None:
    dists = _distribution_packages()
    assert len(dists) >= 6, "the built-in plugins were not found"
    all_packages = set().union(*dists.values())
    violations = []
    files = list(_python_files(ROOT / "plugins", ROOT / "examples"))
    assert len(files) > 20
    for path in files:
        violations += import_violations(path, _own_packages(path, dists), all_packages)
    assert not violations, "plugins must use only public API:\n" + "\n".join(violations)


@pytest.mark.parametrize(("source", "expected"), [
    ("from protoflow._backend import x", "private module of the core"),
    ("from protoflow import _progress", "private name of the core"),
    ("import protoflow._arrays", "private module of the core"),
    ("from protoflow.config import _parameters", "private name of the core"),
    ("from other_plugin._torch import train", "private module of another distribution"),
    ("from other_plugin import _torch", "private name of another distribution"),
])
def test_the_import_check_catches_each_kind_of_leak(tmp_path, source, expected) -> None:
    target = tmp_path / "probe.py"
    target.write_text(source + "\n")
    found = import_violations(target, {"mine"}, {"mine", "other_plugin"})
    assert len(found) == 1 and expected in found[0]


def test_the_import_check_allows_public_api_and_own_private_modules(tmp_path) -> None:
    target = tmp_path / "probe_ok.py"
    target.write_text("from protoflow.backend import as_tensor\nfrom mine._nets import build\n"
                      "from other_plugin.torch_training import train\nimport numpy._core\n")
    assert import_violations(target, {"mine"}, {"mine", "other_plugin"}) == []


# -- the core names no concrete component -----------------------------------------------------


def _registered_names_in_plugin_sources() -> set[str]:
    """Names passed to ``registry.add_*("name", ...)`` by every plugin distribution's source
    (read statically, so it holds even where a plugin is not installed)."""
    names = set()
    for path in _python_files(ROOT / "plugins", ROOT / "examples"):
        if "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr.startswith("add_") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                names.add(node.args[0].value)
    return names


def _plugin_component_names() -> set[str]:
    import protoflow

    names = _registered_names_in_plugin_sources()
    for items in protoflow.registry.load_registry().available().values():
        names |= {i["name"] for i in items if i["distribution"] != "protoflow-core"}
    return names


def _docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def literal_mentions(path: Path, names: set[str]) -> list[str]:
    """String literals (not docstrings) in `path` equal to one of `names`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docs = _docstring_nodes(tree)
    return [f"{_rel(path)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs and node.value in names]


def test_core_code_names_no_plugin_component() -> None:
    names = _plugin_component_names()
    assert {"som", "music", "kmeans", "pca"} <= names, "the built-in plugins' names were not found"
    found = [m for path in _python_files(CORE) for m in literal_mentions(path, names)]
    assert not found, "the core must not name a plugin's component:\n" + "\n".join(found)


def test_the_literal_check_catches_a_comparison_but_not_a_docstring(tmp_path) -> None:
    target = tmp_path / "probe_literal.py"
    target.write_text('"""Mentions "music" freely."""\n\ndef f(name):\n    """music too."""\n'
                      '    return name == "music"\n')
    found = literal_mentions(target, {"music"})
    assert len(found) == 1 and ":5:" in found[0]
