"""`RunContext`: what every stage of a run shares (config, registry, progress, timings, notes)."""

from __future__ import annotations

import time
from typing import Any

import attrs

from protoflow import progress
from protoflow.config import ComponentSpec, RunConfig

__all__ = ["RunContext"]


@attrs.define(eq=False)
class RunContext:
    """The state shared by the stages of one run.

    Attributes
    ----------
    config : the parsed configuration
    registry : the plugin registry components are created from
    quiet : no stage messages or progress bars on stderr
    overwrite : replace an existing output folder
    timings : wall-clock seconds by stage key (``timings.json``)
    notes : human-readable notes collected along the run (``metrics.json`` ``notes``)
    """

    config: RunConfig
    registry: Any = None
    quiet: bool = True
    overwrite: bool = False
    timings: dict[str, float] = attrs.field(factory=dict)
    notes: list[str] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        if self.registry is None:
            from protoflow.registry import get_registry

            self.registry = get_registry()

    @property
    def seed(self) -> int:
        """The run's seed (``[run] seed``)."""
        return self.config.run.seed

    def stage(self, message: str) -> None:
        """Print a stage message on stderr unless quiet.

        Parameters
        ----------
        message : the message
        """
        progress.stage(message, enabled=not self.quiet)

    def timed(self, key: str, t0: float) -> None:
        """Add the time since `t0` to ``timings[key]``; say so when it took a second or more.

        Parameters
        ----------
        key : the timings key (``"fit:som"``, ``"metrics"``)
        t0 : the `time.perf_counter` value at the stage's start
        """
        elapsed = time.perf_counter() - t0
        self.timings[key] = self.timings.get(key, 0.0) + elapsed
        if elapsed >= 1.0:  # say how long every stage that took a second or more took
            self.stage(f"{key.split(':')[0]} took {elapsed:.1f} s")

    def create(self, kind: str, spec: ComponentSpec) -> Any:
        """Create a component from the registry by its spec.

        Parameters
        ----------
        kind : ``"model"``, ``"encoder"``, ``"controller"``, ...
        spec : the component's name and parameters

        Returns
        -------
        the component
        """
        return self.registry.create(kind, spec.name, **dict(spec.params))

    def note_once(self, note: str) -> None:
        """Append a note unless it is already there.

        Parameters
        ----------
        note : the note
        """
        if note not in self.notes:
            self.notes.append(note)


def metrics_module(name: str) -> Any:
    """The module ``protoflow.metrics.<name>``, imported when a stage first needs it, so that
    ``import protoflow`` (which imports the pipeline for `protoflow.run`) stays light: the
    metrics pull in scipy's sparse graph code."""
    import importlib

    return importlib.import_module(f"protoflow.metrics.{name}")
