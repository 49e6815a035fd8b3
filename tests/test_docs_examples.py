"""Every fenced code block in README.md, docs/*.md and the plugins' and examples' READMEs runs as printed.

Rules, by the block's language tag (every block must have one):

* ``python`` / ``py``: exec'd. The blocks of one file share a namespace and run in order, in a
  temporary working directory in which ``examples/`` (a link to the repository's) resolves, and
  against a fresh plugin registry, so whatever a block registers does not leak into other tests.
  The example plugin template (``examples/plugin-template/src``) is importable, as in its own
  conftest.
* ``bash`` / ``sh`` / ``shell`` / ``console``: every line (after a ``$`` prompt, without
  comments) must be a ``protoflow ...`` command, optionally after ``NAME=value`` environment
  assignments; each runs through the installed CLI in that
  working directory and must exit 0 (or the code written at the end of the line as
  ``# exits N``). Any other command (``make``, ``pip install``, ``git``, a benchmark) makes the
  block fail here until it is marked, see below: there is no silent heuristic.
* ``toml``: parsed with tomllib; a complete run configuration (``[data]`` and ``[model]``
  tables) is also validated with `protoflow.config.load_config` (plugins, keys, types), and a
  plugin's ``pyproject.toml`` (a ``[project]`` table) must depend on ``protoflow-core`` (never
  ``protoflow``) and declare ``[project.entry-points.protoflow]``.
* ``text``: output, diagrams, synopses: not code, not run.

A block that cannot run here (it installs packages, needs a GPU, runs for minutes) is preceded
by the marker, on the last non-blank line before the fence::

    <!-- no-test: the reason -->

Each marked block is reported as a skipped test item with its file, line and reason (pytest
``-ra`` lists them). A block that needs an optional package that CI installs is preceded by
``<!-- needs: module -->`` instead: it runs wherever the module is importable and is reported as
skipped, naming the module, where it is not.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        *sorted(ROOT.glob("plugins/*/README.md")), *sorted(ROOT.glob("examples/*/README.md"))]
TEMPLATE_SRC = ROOT / "examples" / "plugin-template" / "src"

PYTHON = {"python", "py"}
SHELL = {"bash", "sh", "shell", "console"}
TOML = {"toml"}
TEXT = {"text"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*no-test:\s*(?P<reason>\S.*?)\s*-->\s*$")
# <!-- needs: somoclu --> runs the block where the module is installed (CI installs it) and
# skips it, saying so, where it is not
_NEEDS = re.compile(r"^\s*<!--\s*needs:\s*(?P<modules>[\w.]+(?:\s*,\s*[\w.]+)*)\s*-->\s*$")


def _needs_skip(line: str) -> str | None:
    m = _NEEDS.match(line)
    if not m:
        return None
    import importlib.util

    missing = [mod.strip() for mod in m.group("modules").split(",")
               if importlib.util.find_spec(mod.strip()) is None]
    return f"needs {', '.join(missing)}, which is not installed" if missing else None
_EXITS = re.compile(r"#\s*exits\s+(?P<code>\d+)\s*$")
_ASSIGN = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the no-test reason

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their language and no-test marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        lang = m.group("info").strip().split()[0].lower() if m.group("info").strip() else ""
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.match(prev)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence[0] * len(fence)) and not lines[j].strip().strip(fence[0])
        ):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path}:{i + 1}: unclosed code fence")
        skip = marker.group("reason") if marker else _needs_skip(prev)
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", skip))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for p in DOCS for b in parse_blocks(p)]


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("protoflow")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("protoflow")
    return [found] if found else [sys.executable, "-m", "protoflow.cli"]


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return work


def shell_commands(block: Block) -> list[tuple[list[str], dict[str, str], int, str]]:
    """(argv, environment variables, expected exit code, line) for each command of a shell
    block; a command may start with ``NAME=value`` assignments, as in a shell."""
    out = []
    for raw in block.code.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:].strip()
        if not line or line.startswith("#"):
            continue
        exits = _EXITS.search(line)
        argv = shlex.split(line, comments=True)
        env = {}
        while argv and _ASSIGN.match(argv[0]):
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
        if not argv or argv[0] != "protoflow":
            raise AssertionError(
                f"{block.where}: {line!r} is not a `protoflow ...` command; mark the block "
                "with <!-- no-test: reason --> if it cannot run in the test suite"
            )
        out.append((argv, env, int(exits.group("code")) if exits else 0, line))
    return out


def _run_shell(block: Block, work: Path) -> None:
    for argv, extra_env, expected, line in shell_commands(block):
        env = dict(os.environ, PYTHONUNBUFFERED="1", **extra_env)
        proc = subprocess.run(
            _cli() + argv[1:], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == expected, (
            f"{block.where}: `{line}` exited {proc.returncode} (expected {expected})\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )


def _check_toml(block: Block, work: Path, index: int) -> None:
    try:
        data = tomllib.loads(block.code)
    except tomllib.TOMLDecodeError as exc:
        raise AssertionError(f"{block.where}: invalid TOML: {exc}") from exc
    if "project" in data:  # a plugin's pyproject.toml: the two rules every plugin follows
        deps = [re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0] for d in data["project"].get("dependencies", [])]
        assert "protoflow" not in deps, f"{block.where}: depend on protoflow-core, not protoflow"
        assert "protoflow-core" in deps, f"{block.where}: a plugin depends on protoflow-core"
        assert data["project"].get("entry-points", {}).get("protoflow"), (
            f"{block.where}: a plugin declares [project.entry-points.protoflow]"
        )
    if "data" in data and "model" in data:  # a complete run configuration
        from protoflow.config import load_config

        path = work / f"block-{index}.toml"
        path.write_text(block.code, encoding="utf-8")
        load_config(path)


def _run_python(block: Block, namespace: dict) -> None:
    code = compile(block.code, block.where, "exec")
    exec(code, namespace)


def test_every_block_has_a_known_language() -> None:
    known = PYTHON | SHELL | TOML | TEXT
    bad = [f"{b.where}: {b.lang or '(none)'}" for b in ALL_BLOCKS if b.lang not in known]
    assert not bad, (
        "code blocks need a language tag this test knows (python, bash, toml, text); "
        "add a rule to tests/test_docs_examples.py for a new one:\n" + "\n".join(bad)
    )
    empty = [b.where for b in ALL_BLOCKS if b.skip is not None and not b.skip.strip()]
    assert not empty


def test_markers_stand_before_code_blocks() -> None:
    # a no-test marker that precedes no fence would silently mark nothing
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if _MARKER.match(line) or _NEEDS.match(line):
                nxt = next((x for x in lines[i + 1:] if x.strip()), "")
                assert _FENCE.match(nxt), f"{path.relative_to(ROOT)}:{i + 1}: marker before no code block"


def _runnable(path: Path) -> list[Block]:
    return [b for b in ALL_BLOCKS if b.path == path and b.skip is None and b.lang not in TEXT]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", [p for p in DOCS if _runnable(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_code_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _runnable(path)
    from protoflow.registry import load_registry, using_registry

    work = _workdir(tmp_path)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(TEMPLATE_SRC))
    namespace: dict = {"__name__": "__docs__"}
    with using_registry(load_registry()):
        for index, block in enumerate(blocks):
            if block.lang in PYTHON:
                _run_python(block, namespace)
            elif block.lang in SHELL:
                _run_shell(block, work)
            elif block.lang in TOML:
                _check_toml(block, work, index)


_SKIPPED = [b for b in ALL_BLOCKS if b.skip is not None]


@pytest.mark.parametrize("block", _SKIPPED, ids=lambda b: b.where)
def test_marked_blocks_are_reported(block: Block) -> None:
    pytest.skip(f"no-test {block.where} ({block.lang}): {block.skip}")


def test_the_rules_themselves(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(textwrap.dedent("""
        <!-- no-test: installs packages -->
        ```bash
        pip install protoflow-core
        ```

        ```console
        $ PROTOFLOW_LOAD_PLUGINS=protoflow-som protoflow plugins --json   # exits 3
        ```

        ```bash
        make demo
        ```
    """))
    marked, prompt, unmarked = parse_blocks(doc)
    assert (marked.lang, marked.skip, marked.line) == ("bash", "installs packages", 3)
    assert prompt.skip is None
    assert shell_commands(prompt) == [(
        ["protoflow", "plugins", "--json"], {"PROTOFLOW_LOAD_PLUGINS": "protoflow-som"}, 3,
        "PROTOFLOW_LOAD_PLUGINS=protoflow-som protoflow plugins --json   # exits 3",
    )]
    with pytest.raises(AssertionError, match="is not a `protoflow"):
        shell_commands(unmarked)
