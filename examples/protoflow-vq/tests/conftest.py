"""Make protoflow-vq importable without installing it, and keep torch to one thread."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny problems gain nothing from threads, and spinning OpenMP threads slow busy hosts."""
    from protoflow.backend import torch_threads

    with torch_threads(1):
        yield
