"""Public helpers a plugin author builds on: `check_bool`, `check_device` (no torch needed),
and the run-wide quiet switch that silences every component's own progress output."""

from __future__ import annotations

import io

import numpy as np
import pytest

from protoflow import progress
from protoflow.backend import check_device
from protoflow.errors import ConfigError
from protoflow.validation import check_bool


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_check_bool_accepts_booleans(value):
    assert check_bool("flag", value) is bool(value)


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0])
def test_check_bool_refuses_lookalikes(value):
    with pytest.raises(ConfigError, match="parameter 'flag' must be true or false"):
        check_bool("flag", value)


@pytest.mark.parametrize(("device", "expected"), [(None, "cpu"), ("cpu", "cpu"), ("auto", "auto"),
                                                  ("cuda", "cuda"), ("cuda:1", "cuda:1")])
def test_check_device_normalises_without_torch(device, expected, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch would now fail
    assert check_device(device) == expected


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", 0, "CPU"])
def test_check_device_refuses_unknown_devices(device):
    with pytest.raises(ConfigError, match="parameter 'device'"):
        check_device(device)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_silences_bars_and_stages_even_when_asked_for():
    out = _Tty()
    with progress.quiet():
        assert progress.is_quiet()
        with progress.Progress(3, "work", enabled=True, stream=out) as bar:
            bar.update(3)
        progress.stage("hello", enabled=True, stream=out)
    assert out.getvalue() == ""
    assert not progress.is_quiet()
    with progress.quiet(False):
        progress.stage("hello", stream=out)
    assert out.getvalue() == "protoflow: hello\n"


def test_quiet_blocks_nest():
    with progress.quiet():
        with progress.quiet(False):  # an inner no-op does not undo the outer quiet
            assert progress.is_quiet()
    assert not progress.is_quiet()
