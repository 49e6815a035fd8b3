"""Shared by the benchmark scripts: the machine they ran on, and their own section of a
markdown file (docs/benchmarks.md) between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.

Each script replaces only what lies between its own markers, so benchmarks written by different
scripts (SOM, GNG, Dask, MUSIC, inversion) live side by side in one file. The "## Heading" sits
above the begin marker (the convention of benchmarks/bench_music.py).
"""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from protoflow.io import atomic_write_text


def machine() -> str:
    """One line: CPU model, cores, RAM, Python and NumPy versions, UTC date and time."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        ram = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, IndexError, ValueError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{cpu}, {cores} cores{ram}; Python {platform.python_version()}, "
            f"NumPy {np.__version__}; {now}")


def write_section(path: Path, name: str, heading: str, body: str) -> None:
    """Put `body` under `heading` (e.g. "## SOM") between the markers of `name` in `path`.

    Replaces only the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` when both
    exist; otherwise appends heading and markers (the file is created when absent).
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text,
                      count=1, flags=re.S)
    else:
        text = f"{text.rstrip()}\n\n{heading}\n\n{block}\n"
    atomic_write_text(path, text.rstrip("\n") + "\n")
