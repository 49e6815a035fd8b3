"""The plugin template's own tests pass both from the checkout and once the template is
installed (its entry point then registers it in every process, which used to make the tests'
own registration fail with pluggy's "Plugin already registered under a different name").

Installing is simulated faithfully and cheaply: a ``.dist-info`` folder with the template's
entry point on ``sys.path`` is exactly what importlib.metadata reads for an installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "examples" / "plugin-template"


def _fake_install(site: Path) -> None:
    info = site / "protoflow_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: protoflow-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[protoflow]\nexample = protoflow_example.plugin\n")
    (site / "protoflow_example.pth").write_text(str(TEMPLATE / "src") + "\n")


def _run_template_tests(extra_path: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_path is not None:
        code = (f"import site, sys; site.addsitedir({str(extra_path)!r}); "
                "import pytest; sys.exit(pytest.main(sys.argv[1:]))")
    else:
        code = "import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, str(TEMPLATE), "-q", "-p", "no:cacheprovider", "-x"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("installed", [False, True], ids=["from-the-checkout", "installed"])
def test_the_template_tests_pass(tmp_path, installed):
    if installed:
        _fake_install(tmp_path)
        probe = subprocess.run(
            [sys.executable, "-c", f"import site; site.addsitedir({str(tmp_path)!r}); "
             "import protoflow; print(sorted(protoflow.get_registry().models))"],
            capture_output=True, text=True, timeout=120)
        assert "random-samples" in probe.stdout, probe.stdout + probe.stderr  # really "installed"
    proc = _run_template_tests(tmp_path if installed else None)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout
