"""Progress reporting for long work: a tiny dependency-free progress bar on stderr, one-line
stage messages, and a run-wide quiet switch. Part of the public plugin API.

A bar draws only when enabled and stderr is a terminal; in logs and pipes it stays silent, so
captured output is stable. `stage` messages are printed (not drawn) whenever enabled, one line
each. Inside ``with quiet():`` (what ``protoflow run --quiet`` and ``protoflow.run(quiet=True)``
use) neither draws nor prints, whatever a component asked for, so a plugin's own
``progress=True`` parameter never breaks a quiet run.

The bar shows the elapsed time and an estimate of the time left, ``eta = elapsed / done *
(total - done)`` (the mean pace so far; ``eta ?`` before the first step). This small helper is
extended rather than replaced by tqdm or rich because the core takes no dependency for a
progress bar, because every bar must obey the one `quiet` switch whatever a component asked
for, and because a bar here never writes into a pipe or a log (it draws on a terminal only),
so captured output stays byte-for-byte stable.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Callable, Iterator
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

    total : number of units of work; desc : label; enabled : False for ``--quiet``;
    stream : where to draw (stderr); width : characters of the bar; clock : seconds as a float
    (`time.monotonic`; tests pass their own).

    The line reads ``desc [#####-----] done/total elapsed eta``, e.g.
    ``trajectories   [##############--------------] 5/10   2.0s eta 2.0s``.
    """

    def __init__(self, total: int, desc: str = "", *, enabled: bool = True,
                 stream: TextIO | None = None, width: int = 28,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(int(total), 0)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self._clock = clock
        self._start = clock()
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

    def eta(self) -> float | None:
        """Seconds left at the mean pace so far: ``elapsed / done * (total - done)``; 0.0 when
        finished, None before the first step or without a total."""
        if self.total and self.done >= self.total:
            return 0.0
        if not self.total or self.done <= 0:
            return None
        return (self._clock() - self._start) / self.done * (self.total - self.done)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if not force and now - self._last < 0.1 and self.done < self.total:
            return  # redraw at most ten times a second
        self._last = now
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self._start
        if self.total and self.done >= self.total:
            tail = "      "  # finished: the elapsed time says it all (blank the old ETA)
        elif self.done > 0 and self.total:
            tail = f" eta {_seconds(elapsed / self.done * (self.total - self.done))}"
        else:
            tail = " eta ?"
        self.stream.write(f"\r{self.desc:<14} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s"
                          f"{tail:<13}")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line (nothing when disabled)."""
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False


def _seconds(t: float) -> str:
    """A duration for the bar: ``4.2s``, ``3m05s``, ``2h07m``."""
    if t < 60:
        return f"{t:.1f}s"
    if t < 3600:
        m, sec = divmod(round(t), 60)
        return f"{m}m{sec:02d}s"
    h, m = divmod(round(t) // 60, 60)
    return f"{h}h{m:02d}m"


def stage(message: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Print one status line (``protoflow: fitting model ...``) unless disabled."""
    if enabled and not is_quiet():
        out = stream if stream is not None else sys.stderr
        out.write(f"protoflow: {message}\n")
        out.flush()
