"""protoflow-desom: the Deep Embedded Self-Organizing Map (Forest, Lebbah, Azzag, Lacaille 2021)."""

from protoflow_desom.model import DESOM

__all__ = ["DESOM"]
__version__ = "0.1.0"
