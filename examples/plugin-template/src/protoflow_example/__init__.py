"""Example protoflow plugin: a model whose prototypes are samples drawn from the data."""

from protoflow_example.model import RandomSamples

__all__ = ["RandomSamples"]
