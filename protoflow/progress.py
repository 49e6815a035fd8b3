"""A tiny dependency-free progress bar on stderr.

It draws only when enabled (not ``--quiet``) and stderr is a terminal; in logs and pipes it
stays silent, so captured output is stable. `stage` messages are printed (not drawn) whenever
enabled, one line each.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """``with Progress(total, "trajectories") as bar: bar.update()``.

    total : number of units of work; desc : label; enabled : False for ``--quiet``.
    """

    def __init__(self, total: int, desc: str = "", *, enabled: bool = True,
                 stream: TextIO | None = None, width: int = 28) -> None:
        self.total = max(int(total), 0)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self._start = time.monotonic()
        self._last = 0.0
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled and isatty is not None and isatty())

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and self.done < self.total:
            return  # redraw at most ten times a second
        self._last = now
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self._start
        self.stream.write(f"\r{self.desc:<14} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False


def stage(message: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Print one status line (``protoflow: fitting model ...``) unless disabled."""
    if enabled:
        out = stream if stream is not None else sys.stderr
        out.write(f"protoflow: {message}\n")
        out.flush()
