"""Semantic metrics along a path (spec §4): classifier confidence, image sharpness, distance to
the data manifold and to a target cluster. They take plain arrays, so they apply to any
controller's output (``traj.points``) or to decoded images."""

from __future__ import annotations

from typing import Any

import numpy as np

from protoflow import inversion
from protoflow.errors import ConfigError, ValidationError
from protoflow.validation import check_array, check_int

__all__ = ["classifier_confidence", "distance_to_cluster", "manifold_distance", "sharpness"]


def classifier_confidence(
    classifier: Any, points: Any, target_class: Any, source_class: Any = None
) -> dict[str, Any]:
    """Confidence of a classifier along a path.

    Parameters
    ----------
    classifier : any fitted estimator with ``predict_proba`` and ``classes_`` (scikit-learn
        style), trained in the same space as the points.
    points : array-like of shape (n_points, n_features)
        The path (or its decoded images, if the classifier works on those).
    target_class : the label the path should reach.
    source_class : the label it starts from; defaults to the prediction at the first point.

    Returns
    -------
    dict with ``confidence`` (n_points,) the probability of the predicted class at each point,
    ``predicted`` (n_points,) the labels, ``mean`` and ``min`` of the confidence,
    ``first_target_step`` the first index whose prediction is the target (None if never),
    ``detour_steps`` the number of points predicted as neither source nor target.
    """
    X = check_array(points, name="points")
    if not hasattr(classifier, "predict_proba"):
        raise ValidationError(f"{type(classifier).__name__} has no predict_proba")
    proba = np.asarray(classifier.predict_proba(X))
    classes = np.asarray(getattr(classifier, "classes_", np.arange(proba.shape[1])))
    if target_class not in classes:
        raise ValidationError(f"target_class {target_class!r} is not one of the classifier's classes")
    best = proba.argmax(axis=1)
    predicted = classes[best]
    source = predicted[0] if source_class is None else source_class
    hits = np.flatnonzero(predicted == target_class)
    confidence = proba[np.arange(len(X)), best]
    return {
        "confidence": confidence,
        "predicted": predicted,
        "mean": float(confidence.mean()),
        "min": float(confidence.min()),
        "first_target_step": int(hits[0]) if hits.size else None,
        "detour_steps": int(np.sum((predicted != source) & (predicted != target_class))),
    }


def sharpness(images: Any, image_shape: tuple[int, ...]) -> np.ndarray:
    """Variance of the (4-neighbour) Laplacian of each image; higher is sharper.

    Parameters
    ----------
    images : array-like of shape (n_images, prod(image_shape))
    image_shape : (height, width) or (height, width, channels); channels are treated separately
        and pooled into one variance. Returns ndarray of shape (n_images,).
    """
    X = check_array(images, name="images")
    shape = tuple(int(s) for s in image_shape)
    if len(shape) not in (2, 3) or int(np.prod(shape)) != X.shape[1] or min(shape[:2]) < 3:
        raise ValidationError(
            f"image_shape {image_shape} does not fit images of {X.shape[1]} values "
            "(need (height, width[, channels]) with height, width >= 3)"
        )
    img = X.reshape((len(X), *shape))
    lap = (
        img[:, :-2, 1:-1] + img[:, 2:, 1:-1] + img[:, 1:-1, :-2] + img[:, 1:-1, 2:]
        - 4.0 * img[:, 1:-1, 1:-1]
    )
    return lap.reshape(len(X), -1).var(axis=1)


def manifold_distance(points: Any, reference: Any, k: int = 5) -> np.ndarray:
    """Mean Euclidean distance from each point to its k nearest reference (training) points.

    points : (n_points, n_features); reference : (n_reference, n_features) -> (n_points,)
    """
    P = check_array(points, name="points")
    R = check_array(reference, name="reference", n_features=P.shape[1])
    k = check_int("k", k, minimum=1, maximum=len(R))
    out = np.empty(len(P))
    block = max(1, 2_000_000 // len(R))
    for lo in range(0, len(P), block):
        d2 = inversion.activations(P[lo : lo + block], R)
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        out[lo : lo + block] = np.sqrt(np.maximum(nearest, 0.0)).mean(axis=1)
    return out


def distance_to_cluster(points: Any, members: Any, kind: str = "mean") -> np.ndarray:
    """Distance from each point to a target cluster given by its members' coordinates
    (e.g. ``model.prototypes_[units]`` or the training points of a class).

    kind : "mean" (distance to the members' centroid) or "nearest" (to the closest member).
    Returns ndarray of shape (n_points,).
    """
    P = check_array(points, name="points")
    M = check_array(members, name="members", n_features=P.shape[1])
    if kind == "mean":
        return np.linalg.norm(P - M.mean(axis=0), axis=1)
    if kind == "nearest":
        return np.sqrt(np.maximum(inversion.activations(P, M).min(axis=1), 0.0))
    raise ConfigError(f"parameter 'kind' must be 'mean' or 'nearest', got {kind!r}")
