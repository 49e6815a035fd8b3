"""Stage 2: fit encoders, each distinct ``[encoder]`` spec once (a cache shared by backbones)."""

from __future__ import annotations

import json
import time
from typing import Any

import attrs
import numpy as np

from protoflow.config import ComponentSpec
from protoflow.pipeline.context import RunContext

__all__ = ["EncoderCache", "fit_encoder"]


class _Identity:
    """The encoder of a config without [encoder]: latent space = data space."""

    def encode(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def decode(self, Z: Any) -> np.ndarray:
        return np.asarray(Z, dtype=np.float64)


@attrs.frozen
class _Chain:
    """A separate encoder followed by the model's own (DESOM on top of PCA, say)."""

    first: Any
    second: Any

    def encode(self, X: Any) -> np.ndarray:
        return self.second.encode(self.first.encode(X))

    def decode(self, Z: Any) -> np.ndarray:
        return self.first.decode(self.second.decode(Z))


@attrs.define(eq=False)
class EncoderCache:
    """The fitted encoders of a run, by their spec (as canonical JSON).

    Attributes
    ----------
    encoders : spec key -> fitted encoder (an identity for a config without ``[encoder]``)
    """

    encoders: dict[str, Any] = attrs.field(factory=dict)

    def saved_encoder(self) -> Any:
        """The first fitted encoder that is not the identity (the one ``encoder.npz`` holds),
        or None."""
        return next((e for e in self.encoders.values() if not isinstance(e, _Identity)), None)


def fit_encoder(ctx: RunContext, spec: ComponentSpec | None, X: np.ndarray,
                cache: EncoderCache) -> Any:
    """The fitted encoder of `spec`, fitted on `X` the first time the spec is seen.

    Parameters
    ----------
    ctx : the run's context
    spec : the encoder's spec, or None for the identity
    X : the training rows, (n_train, n_features)
    cache : the run's encoders (updated)

    Returns
    -------
    the fitted encoder (``encode`` and ``decode``)
    """
    key = json.dumps(spec.to_dict(), sort_keys=True, default=repr) if spec else "<no encoder>"
    if key not in cache.encoders:
        if spec is None:
            cache.encoders[key] = _Identity()
        else:
            t0 = time.perf_counter()
            ctx.stage(f"fitting encoder {spec.name!r}")
            cache.encoders[key] = ctx.create("encoder", spec).fit(X)
            ctx.timed("encoder", t0)
    return cache.encoders[key]
