"""Neighbourhood kernels and temperature schedules shared by every SOM-like trainer
(the SOM plugin and DESOM use the same code)."""

from __future__ import annotations

import numpy as np

from protoflow.errors import ConfigError


def gaussian_kernel(distances: np.ndarray, temperature: float) -> np.ndarray:
    """``exp(-d^2 / T^2)`` elementwise on map distances (``inf`` gives 0).

    Parameters
    ----------
    distances : ndarray of map distances, any shape (usually (n_units, n_units))
    temperature : T > 0
    """
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    d = np.asarray(distances, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = np.exp(-np.square(d) / (temperature * temperature))
    return np.where(np.isfinite(d), out, 0.0)


def exponential_temperature(step: float, total: float, t_max: float, t_min: float) -> float:
    """``T_max * (T_min / T_max) ** (step / total)``: T_max at step 0, T_min at step == total."""
    if not (t_max > 0 and t_min > 0):
        raise ConfigError(f"t_max and t_min must be > 0, got t_max={t_max}, t_min={t_min}")
    if total <= 0:
        return float(t_min)
    frac = min(max(step / total, 0.0), 1.0)
    return float(t_max * (t_min / t_max) ** frac)
