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
