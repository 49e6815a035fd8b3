"""Hook implementations only: the entry point ``vq = "protoflow_vq.plugin"`` loads this module.

The model module is imported when the hook runs, and torch only when a model is fitted.
"""

from __future__ import annotations

import protoflow


@protoflow.hookimpl
def protoflow_register_models(registry: protoflow.Registrar) -> None:
    """Register the ``"vq-sgd"`` model.

    Parameters
    ----------
    registry : protoflow.Registrar
        The registration view protoflow passes to every ``protoflow_register_*`` hook.
    """
    from protoflow_vq.model import VQSGD

    registry.add_model(
        "vq-sgd",
        VQSGD,
        summary="Vector quantiser trained by Adam in PyTorch; no topology or a k-NN prototype graph.",
    )
