"""Every hook specification is documented in docs/plugins.md with its exact signature."""

import inspect
from pathlib import Path

from protoflow import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_every_hookspec_is_documented() -> None:
    text = DOC.read_text()
    names = [n for n in dir(hookspecs) if n.startswith("protoflow_")]
    assert names
    for name in names:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({params})`" in text, f"{name} is not documented in {DOC.name}"


def test_readme_python_example_runs(capsys) -> None:
    # The README's ten-line example is what a newcomer copies first: it must run as printed.
    import re

    import pytest

    pytest.importorskip("sklearn")
    import protoflow

    needed = {"toroidal-som"} <= set(protoflow.get_registry().models) and {
        "music"} <= set(protoflow.get_registry().controllers)
    if not needed:
        pytest.skip("the som and music plugins are not installed")
    readme = (DOC.parents[1] / "README.md").read_text()
    block = re.search(r"## Python in ten lines\s+```python\n(.*?)```", readme, re.S)
    assert block, "README lost its Python example"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    error = float(capsys.readouterr().out.split()[-1])
    assert error < 1e-10
    path = namespace["path"]
    assert path.points.shape == (41, 40)
