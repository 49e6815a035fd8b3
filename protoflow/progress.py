"""Progress reporting for long work: a tiny dependency-free progress bar on stderr, one-line
stage messages, and a run-wide quiet switch. Part of the public plugin API.

A bar draws only when enabled and stderr is a terminal; in logs and pipes it stays silent, so
captured output is stable. `stage` messages are printed (not drawn) whenever enabled, one line
each. Inside ``with quiet():`` (what ``protoflow run --quiet`` and ``protoflow.run(quiet=True)``
use) neither draws nor prints, whatever a component asked for, so a plugin's own
``progress=True`` parameter never breaks a quiet run.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("protoflow_quiet", default=False)

__all__ = ["Progress", "is_quiet", "quiet", "stage"]


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence every `Progress` bar and `stage` message inside the block (``enabled=False``
    makes it a no-op, for code that passes a flag through)."""
    token = _QUIET.set(_QUIET.get() or enabled)
    try:
        yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    """True inside a `quiet` block: components should then print nothing on their own."""
    return _QUIET.get()


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
        self.enabled = bool(enabled and not is_quiet() and isatty is not None and isatty())

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count `n` more steps done and redraw (at most ten times a second)."""
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
        """Draw the final state and end the line (nothing when disabled)."""
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False


def stage(message: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Print one status line (``protoflow: fitting model ...``) unless disabled."""
    if enabled and not is_quiet():
        out = stream if stream is not None else sys.stderr
        out.write(f"protoflow: {message}\n")
        out.flush()
