"""protoflow-music: the MUSIC controller and its baselines.

Everything here needs only a model's ``prototypes_``, ``topology_`` and activations, so it
runs unchanged on every prototype model protoflow knows.
"""

from protoflow_music.baselines import LinearController, RadialController, step_lengths_of
from protoflow_music.controller import MUSIC
from protoflow_music.solver import ROUTES, solve_regularized

__all__ = [
    "MUSIC",
    "ROUTES",
    "LinearController",
    "RadialController",
    "solve_regularized",
    "step_lengths_of",
]
