"""`RunResult`: what a whole run returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from protoflow.config import RunConfig
from protoflow.data import Dataset
from protoflow.pipeline.evaluate import Evaluation
from protoflow.pipeline.fit import Backbone
from protoflow.pipeline.paths import Paths

__all__ = ["RunResult"]


@attrs.frozen(eq=False)
class RunResult:
    """What `protoflow.pipeline.run` returns.

    Attributes
    ----------
    config : the parsed configuration
    metrics : the metrics, as written to ``metrics.json``
    timings : wall-clock seconds by stage, as written to ``timings.json``
    backbones : the fitted backbones by label
    trajectories : ``{(backbone, pair_index, controller): Trajectory}``
    dataset : the loaded dataset
    out : the output folder (None when nothing was written)
    evaluations : each backbone's evaluation, by label
    paths : each backbone's paths (with the classifier's confidence along them), by label
    """

    config: RunConfig
    metrics: dict[str, Any]
    timings: dict[str, float]
    backbones: dict[str, Backbone]
    trajectories: dict[tuple[str, int, str], Any]
    dataset: Dataset
    out: Path | None
    evaluations: dict[str, Evaluation] = attrs.field(factory=dict)
    paths: dict[str, Paths] = attrs.field(factory=dict)
