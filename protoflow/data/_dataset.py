"""The `Dataset` value object every loader returns."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from protoflow._arrays import array_field, arrays_equal, readonly
from protoflow.errors import ValidationError


def _labels_converter(value: Any) -> np.ndarray | None:
    return None if value is None else readonly(np.asarray(value))


def _shape_converter(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


def _labels_eq(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return arrays_equal(a, b)


@attrs.frozen(kw_only=True)
class Dataset:
    """A loaded dataset.

    Attributes
    ----------
    X : read-only float64 ndarray of shape (n_samples, n_features)
    y : read-only ndarray of shape (n_samples,) of labels, or None
    image_shape : (height, width) or (height, width, channels) when each row is an image
    name : short description, e.g. "mnist (train)"
    """

    X: np.ndarray = array_field()
    y: np.ndarray | None = attrs.field(
        default=None, converter=_labels_converter, eq=attrs.cmp_using(eq=_labels_eq)
    )
    image_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_shape_converter)
    name: str = ""

    def __attrs_post_init__(self) -> None:
        if self.X.ndim != 2:
            raise ValidationError(f"dataset X must be 2-D (n_samples, n_features), got {self.X.shape}")
        if self.y is not None and self.y.shape != (self.X.shape[0],):
            raise ValidationError(
                f"dataset labels have shape {self.y.shape}, expected ({self.X.shape[0]},)"
            )
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.X.shape[1]:
            raise ValidationError(
                f"image_shape {self.image_shape} does not match {self.X.shape[1]} features"
            )

    @property
    def n_samples(self) -> int:
        """Number of rows of `X`."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of columns of `X`."""
        return int(self.X.shape[1])

    def subset(self, index: Any) -> Dataset:
        """The rows `index` (indices or a boolean mask) as a new Dataset."""
        idx = np.asarray(index)
        return Dataset(
            X=self.X[idx],
            y=None if self.y is None else self.y[idx],
            image_shape=self.image_shape,
            name=self.name,
        )
