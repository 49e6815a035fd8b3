"""Stage 3: fit a backbone (model in its encoder's latent space), its unit labels and the
latent-space classifier of the confidence curves."""

from __future__ import annotations

import time
from typing import Any

import attrs
import numpy as np

from protoflow.config import ComponentSpec
from protoflow.inversion import bmu as nearest
from protoflow.pipeline.context import RunContext
from protoflow.pipeline.data import Split
from protoflow.pipeline.encode import _Chain, _Identity

__all__ = ["Backbone", "fit_backbone", "fit_classifier", "model_summary", "unit_labels"]


@attrs.frozen(eq=False)
class Backbone:
    """One fitted backbone: its model, the encoder into its latent space and derived data.

    Attributes
    ----------
    label : the backbone's name in metrics and figures (the model's name, or a compare label)
    model : the fitted prototype model
    encoder : the fitted encoder from data to the model's latent space
    Z_train, Z_test : latent codes of the train and test split, (n_train, n_features) and
        (n_test, n_features)
    y_train : labels of the train split (n_train,), or None
    unit_labels : the majority training label of each unit (n_units,), or None
    classifier : the latent-space classifier trained for the confidence curves, or None
    """

    label: str
    model: Any
    encoder: Any
    Z_train: np.ndarray
    Z_test: np.ndarray
    y_train: np.ndarray | None
    unit_labels: np.ndarray | None
    classifier: Any


def fit_backbone(ctx: RunContext, label: str, spec: ComponentSpec, encoder: Any,
                 split: Split) -> Backbone:
    """Fit the model of `spec` on the encoded train rows.

    A model that learns its own encoder (``model.encoder`` after fit) is then worked with in
    its latent space, chained after `encoder` unless that is the identity.

    Parameters
    ----------
    ctx : the run's context
    label : the backbone's label
    spec : the model's spec
    encoder : the fitted encoder (`fit_encoder`)
    split : the data and its split

    Returns
    -------
    Backbone
    """
    data, train, test = split.dataset, split.train, split.test
    t0 = time.perf_counter()
    Z_train = encoder.encode(data.X[train])
    ctx.stage(f"fitting model {label!r} ({spec.name}) on {Z_train.shape[0]} x {Z_train.shape[1]}")
    model = ctx.create("model", spec).fit(Z_train)
    ctx.timed(f"fit:{label}", t0)
    own = getattr(model, "encoder", None)
    if own is not None:  # the model learned its own encoder: work in its latent space
        encoder = own if isinstance(encoder, _Identity) else _Chain(encoder, own)
        Z_train = encoder.encode(data.X[train])
    Z_test = encoder.encode(data.X[test])
    labels = classifier = None
    y_train = split.y_train
    if y_train is not None:
        labels = unit_labels(model, Z_train, y_train)
        classifier = fit_classifier(ctx, Z_train, y_train)
    return Backbone(label, model, encoder, Z_train, Z_test, y_train, labels, classifier)


def fit_classifier(ctx: RunContext, Z: np.ndarray, y: np.ndarray) -> Any:
    """The ``[run] classifier`` (logistic or mlp) fitted on latent codes, or None (``none``,
    fewer than two classes, or scikit-learn not installed: then a note says so).

    Parameters
    ----------
    ctx : the run's context
    Z : latent codes, (n, n_features)
    y : their labels, (n,)

    Returns
    -------
    a fitted scikit-learn classifier, or None
    """
    kind = ctx.config.run.classifier
    if kind == "none" or len(np.unique(y)) < 2:
        return None
    ctx.stage(f"fitting the {kind} classifier for the confidence curves")
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        ctx.notes.append("scikit-learn is not installed: no classifier, no confidence metrics")
        return None
    t0 = time.perf_counter()
    if kind == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=200, early_stopping=True,
                            random_state=ctx.seed)
    else:
        clf = LogisticRegression(max_iter=2000)
    clf.fit(Z, y)
    ctx.timed("classifier", t0)
    return clf


def unit_labels(model: Any, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Majority label of each unit's training points; units without any take the label of the
    nearest unit that has some (in latent space).

    Parameters
    ----------
    model : a fitted prototype model (``bmu``, ``prototypes_``)
    Z : latent training codes, (n, n_features)
    y : their labels, (n,)

    Returns
    -------
    ndarray of shape (n_units,)
    """
    classes, codes = np.unique(y, return_inverse=True)
    b = model.bmu(Z)
    K = model.prototypes_.shape[0]
    counts = np.zeros((K, len(classes)), dtype=np.int64)
    np.add.at(counts, (b, codes), 1)
    labels = classes[counts.argmax(axis=1)]
    empty = counts.sum(axis=1) == 0
    if empty.any() and (~empty).any():
        W = np.asarray(model.prototypes_)
        filled = np.flatnonzero(~empty)
        labels[empty] = labels[filled[nearest(W[empty], W[filled])]]
    return labels


_unit_labels = unit_labels  # the name protoflow.serve imports


def model_summary(spec: ComponentSpec, bb: Backbone) -> dict[str, Any]:
    """The ``model`` entry of a backbone in ``metrics.json``.

    Parameters
    ----------
    spec : the model's spec
    bb : the fitted backbone

    Returns
    -------
    dict with name, n_units, latent_dim, topology and own_encoder
    """
    W = bb.model.prototypes_
    topo = getattr(bb.model, "topology_", None)
    return {
        "name": spec.name,
        "n_units": int(W.shape[0]),
        "latent_dim": int(W.shape[1]),
        "topology": topo.to_dict() if topo is not None else None,
        "own_encoder": getattr(bb.model, "encoder", None) is not None,
    }
