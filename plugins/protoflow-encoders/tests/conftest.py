"""Tests run torch on one thread: the networks are tiny, and threads only add contention."""

import pytest

from protoflow.backend import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield
