"""Registers the MUSIC controller and its baselines (imports are lazy: listing plugins stays cheap)."""

from __future__ import annotations

from protoflow.hookspecs import hookimpl


@hookimpl
def protoflow_register_controllers(registry):
    from protoflow_music.baselines import LinearController, RadialController
    from protoflow_music.controller import MUSIC

    registry.add_controller(
        "music", MUSIC, summary="MUSIC: Tikhonov-regularised activation control (informed, cluster, free)."
    )
    registry.add_controller(
        "linear", LinearController, summary="Baseline: straight line to the target prototype or cluster mean."
    )
    registry.add_controller(
        "radial", RadialController, summary="Baseline: unconstrained steps along -(z - w_t)."
    )
