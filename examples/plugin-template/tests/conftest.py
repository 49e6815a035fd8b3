"""Test setup for the template plugin.

* ``src`` goes on ``sys.path``, so the tests also run from a checkout without installing.
* ``example_registry`` is a fresh plugin registry holding only this plugin, made the default
  registry for the test that asks for it (`protoflow.testing.registry_fixture`). Installed or
  not, nothing clashes: the registry loads no entry points, so the installed copy of the plugin
  is not registered a second time.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from protoflow.testing import registry_fixture  # noqa: E402

example_registry = registry_fixture("protoflow_example.plugin")
