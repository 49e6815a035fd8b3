"""The API reference (docs/api) builds with warnings as errors.

A public class, function, method or property without a docstring, a public name that no page
documents, a malformed docstring and an unresolved cross-reference are all Sphinx warnings
(see docs/api/_ext/require_docstrings.py), so this test fails with the warning text.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")

# napoleon and myst-parser still use APIs that Sphinx 9 deprecates; not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:The mapping interface for autodoc options"),
    pytest.mark.filterwarnings("ignore:.*is deprecated. Check CHANGES for Sphinx API"),
]

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"


def _build(src: Path, out: Path, *extra: str) -> tuple[int, str]:
    """Build with warnings as errors in a separate process; returns (status, everything Sphinx
    printed).

    A separate process because autodoc changes the objects it documents (with
    ``autodoc_preserve_defaults`` it replaces signature defaults by placeholders) and conf.py
    changes sys.path: neither may leak into the tests that run later.
    """
    args = ["-W", "--keep-going", "-q", "-j", "1", "-E", "-b", "html",
            "-d", str(out / "doctrees"), *extra, str(src), str(out / "html")]
    proc = subprocess.run([sys.executable, "-m", "sphinx", *args], capture_output=True,
                          text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
def test_api_reference_builds_without_warnings(tmp_path: Path) -> None:
    status, output = _build(API, tmp_path)
    assert status == 0, "the API reference has warnings (docs/api, make docs):\n" + output
    assert (tmp_path / "html" / "index.html").is_file()


def test_every_guide_is_in_the_reference() -> None:
    # docs/NAME.md appears in the HTML through docs/api/guides/NAME.md (an include), listed
    # in the index's toctree
    guides = {p.stem for p in (ROOT / "docs").glob("*.md")}
    wrappers = {p.stem for p in (API / "guides").glob("*.md")}
    assert guides == wrappers, f"add or remove docs/api/guides/*.md: {sorted(guides ^ wrappers)}"
    index = (API / "index.rst").read_text()
    missing = [g for g in sorted(guides) if f"guides/{g}\n" not in index]
    assert not missing, f"add to the toctree of docs/api/index.rst: {missing}"


def test_missing_docstring_and_undocumented_name_fail_the_build(tmp_path: Path) -> None:
    # the checks themselves, on a two-function module: one documented, one not
    pkg = tmp_path / "src" / "docless"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        """A module."""
        __all__ = ["documented", "bare", "forgotten"]
        def documented():
            """Has one."""
        def bare():
            pass
        def forgotten():
            """Documented, but no page lists it."""
    '''))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text(textwrap.dedent(f'''
        import sys
        sys.path[:0] = [{str(API / "_ext")!r}, {str(tmp_path / "src")!r}]
        extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "require_docstrings"]
        nitpicky = True
        protoflow_public_modules = ["docless"]
    '''))
    (docs / "index.rst").write_text(
        "Docless\n=======\n\n.. automodule:: docless\n   :members: documented, bare\n"
    )
    status, output = _build(docs, tmp_path / "out")
    assert status != 0
    assert "missing docstring: function docless.bare" in output
    assert "public name docless.forgotten is not documented" in output
    assert "docless.documented" not in output
