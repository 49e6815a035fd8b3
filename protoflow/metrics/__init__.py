"""Metrics: map quality (`protoflow.metrics.map_quality`), trajectories
(`protoflow.metrics.trajectory`) and semantics (`protoflow.metrics.semantic`)."""
