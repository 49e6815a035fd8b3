"""`VQSGD`: a vector quantiser whose prototypes are trained by Adam in PyTorch.

The loss is minibatch k-means' objective: the mean, over a minibatch, of each sample's squared
Euclidean distance to its nearest prototype. Its gradient moves only each sample's nearest
prototype, towards the sample, so training is an online k-means with Adam's step sizes and a
cosine-decayed learning rate (which lets the prototypes settle).

Only protoflow's public plugin API is used: `protoflow.backend` for torch, the device and
array conversion; `protoflow.progress` for the progress bar; `protoflow.validation` for every
parameter and the input; `protoflow.PrototypeModelBase` for activations, BMUs, parameters and
persistence; `protoflow.Graph` / `protoflow.NoTopology` for the topology. torch is imported
only inside `VQSGD.fit`.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from protoflow import (
    ConfigError,
    DivergenceError,
    Graph,
    NoTopology,
    PrototypeModelBase,
    ValidationError,
)
from protoflow.backend import as_tensor, require_torch, resolve_device, to_numpy, torch_dtype
from protoflow.params import Bool, Choice, Device, Float, Int, Schema, Seed
from protoflow.progress import Progress, stage
from protoflow.validation import check_array, check_int, check_seed

__all__ = ["VQSGD", "knn_topology"]

#: the accepted values of the ``topology`` parameter
TOPOLOGIES = ("none", "knn")


def knn_topology(W: np.ndarray, k: int) -> Graph:
    """A `protoflow.Graph` joining each prototype to its `k` nearest other prototypes.

    The graph is undirected, so a unit's degree is at least `k` (a unit that is among another
    unit's k nearest is joined to it as well). Ties are broken by the lower unit index.

    Parameters
    ----------
    W : ndarray of shape (n_units, n_features)
        The prototypes.
    k : int
        Neighbours per prototype, ``1 <= k < n_units``.

    Returns
    -------
    Graph
        ``Graph(n_units, edges)`` with `edges` of shape (n_units * k, 2).
    """
    W = np.asarray(W, dtype=np.float64)
    n = W.shape[0]
    k = check_int("k", k, minimum=1, maximum=max(n - 1, 1))
    if n < 2:
        raise ConfigError("a k-NN graph of prototypes needs n_units >= 2.")
    d = ((W[:, None, :] - W[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    edges = np.column_stack([np.repeat(np.arange(n), k), nearest.ravel()])
    return Graph(n, edges)


class VQSGD(PrototypeModelBase):
    """Vector quantiser trained by minibatch Adam in PyTorch (model name ``"vq-sgd"``).

    Minimises the mean squared distance of each sample to its nearest prototype (the k-means
    objective) by Adam on shuffled minibatches, with the learning rate decayed from `lr` to
    zero along a cosine over all steps. The prototypes start at `n_units` distinct samples
    drawn with the seed. On the CPU two fits with the same seed give identical prototypes.

    Parameters
    ----------
    n_units : int, default 64
        Number of prototypes (at most the number of training samples).
    epochs : int, default 30
        Passes over the data.
    batch_size : int, default 128
        Samples per minibatch (capped at the number of samples).
    lr : float, default 0.1
        Adam's initial learning rate, in latent units per step (> 0).
    topology : {"none", "knn"}, default "none"
        "none": `protoflow.NoTopology`. "knn": a `protoflow.Graph` joining each trained
        prototype to its `k` nearest other prototypes (for controllers that want neighbours,
        such as MUSIC's preservation rings).
    k : int, default 4
        Neighbours per prototype for ``topology="knn"`` (``1 <= k < n_units``).
    device : {"cpu", "cuda", "cuda:N", "auto"}, default "cpu"
        Where to train; "auto" picks CUDA when available. Resolved by
        `protoflow.backend.resolve_device`.
    seed : int or None, default None
        Seeds the initial prototypes and the minibatch order.
    progress : bool, default True
        On a terminal's stderr, print one status line and draw a progress bar over the epochs
        (both silent in logs and pipes).

    Attributes
    ----------
    prototypes_ : ndarray of shape (n_units, n_features), float64
        The trained prototypes.
    topology_ : NoTopology or Graph
        Over `n_units` units.
    n_features_in_ : int
        Width of the training data.
    loss_history_ : ndarray of shape (epochs,), float64
        Per epoch, the mean over its samples of the minibatch loss (measured before each
        step): the running mean squared distance to the nearest prototype.
    n_iter_ : int
        Epochs run (equal to `epochs`).
    n_steps_ : int
        Optimiser steps taken (``epochs * ceil(n_samples / batch_size)``).
    device_ : str
        The device the model was trained on, e.g. ``"cpu"`` or ``"cuda:0"``.
    """

    parameters = Schema(
        n_units=Int(1),
        epochs=Int(1),
        batch_size=Int(1),
        lr=Float(0.0, strict_min=True),
        topology=Choice(*TOPOLOGIES),
        k=Int(1),
        device=Device(),
        seed=Seed(),
        progress=Bool(),
    )

    def __init__(
        self,
        n_units: int = 64,
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 0.1,
        topology: str = "none",
        k: int = 4,
        device: str = "cpu",
        seed: int | None = None,
        progress: bool = True,
    ) -> None:
        self.n_units = n_units
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.topology = topology
        self.k = k
        self.device = device
        self.seed = seed
        self.progress = progress

    def _checked_params(self) -> dict[str, Any]:
        """Every constructor parameter checked against `parameters` (the declaration that
        ``protoflow config validate`` reads too), plus the one check that relates two of them."""
        p = self.validated_params()
        if p["topology"] == "knn":
            if p["n_units"] < 2:
                raise ConfigError("parameter 'topology'='knn' needs n_units >= 2.")
            check_int("k", p["k"], minimum=1, maximum=p["n_units"] - 1)
        return {**p, "rng": check_seed(p["seed"])}

    def fit(self, Z: Any, y: Any = None) -> VQSGD:
        """Train the prototypes on `Z`; the constructor parameters are not modified.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            Finite training points, ``n_samples >= n_units``.
        y : ignored
            Accepted for scikit-learn compatibility.

        Returns
        -------
        VQSGD
            self, with the fitted attributes set.

        Raises
        ------
        protoflow.errors.ConfigError
            A bad parameter, or a CUDA device where none is available.
        protoflow.errors.ValidationError
            `Z` is not a finite 2-D numeric array, or has fewer than `n_units` samples.
        protoflow.errors.TorchNotInstalledError
            torch is not installed.
        """
        p = self._checked_params()
        n_units, rng = p["n_units"], p["rng"]
        Z = check_array(Z, name="Z")
        n_samples, n_features = Z.shape
        if n_samples < n_units:
            raise ValidationError(
                f"Z has {n_samples} sample(s), fewer than n_units={n_units}: each prototype "
                "starts at a distinct sample. Lower n_units or pass more data."
            )
        torch = require_torch("the 'vq-sgd' model", fallback="")
        device = resolve_device("torch", p["device"])
        # like the bar, the status line shows on a terminal only (logs and pipes stay clean)
        stage(
            f"vq-sgd: {n_units} prototypes, {p['epochs']} epochs on {device}",
            enabled=p["progress"] and _stderr_is_terminal(),
        )

        start = rng.choice(n_samples, size=n_units, replace=False)
        X = as_tensor(Z, device)
        W = torch.nn.Parameter(as_tensor(Z[start].copy(), device))
        optimiser = torch.optim.Adam([W], lr=p["lr"])
        batch = min(p["batch_size"], n_samples)
        per_epoch = math.ceil(n_samples / batch)
        total = p["epochs"] * per_epoch
        history = np.empty(p["epochs"], dtype=np.float64)
        step = 0
        with Progress(p["epochs"], "vq-sgd", enabled=p["progress"]) as bar:
            for epoch in range(p["epochs"]):
                order = torch.from_numpy(rng.permutation(n_samples)).to(device)
                running = torch.zeros((), dtype=torch_dtype(Z.dtype), device=device)
                for b in range(per_epoch):
                    xb = X[order[b * batch : (b + 1) * batch]]
                    for group in optimiser.param_groups:
                        group["lr"] = p["lr"] * 0.5 * (1.0 + math.cos(math.pi * step / total))
                    optimiser.zero_grad(set_to_none=True)
                    loss = _nearest_squared_distances(xb, W).mean()
                    loss.backward()
                    optimiser.step()
                    running += loss.detach() * xb.shape[0]
                    step += 1
                history[epoch] = float(running) / n_samples
                if not math.isfinite(history[epoch]):  # checked once an epoch: one sync
                    raise DivergenceError(
                        f"vq-sgd training diverged in epoch {epoch + 1} of {p['epochs']}: the "
                        f"loss is {history[epoch]}. Lower 'lr' (now {p['lr']:g}) or standardise Z."
                    )
                bar.update()

        prototypes = np.array(to_numpy(W), dtype=np.float64, copy=True)  # not a view of W
        if not np.isfinite(prototypes).all():  # only an absurd lr on huge data gets here
            raise DivergenceError(
                "vq-sgd training diverged (non-finite prototypes); lower 'lr' or standardise Z."
            )
        self.prototypes_ = prototypes
        self.topology_ = (
            knn_topology(prototypes, p["k"]) if p["topology"] == "knn" else NoTopology(n_units)
        )
        self.n_features_in_ = int(n_features)
        self.loss_history_ = history
        self.n_iter_ = int(p["epochs"])
        self.n_steps_ = int(step)
        self.device_ = str(W.device)  # concrete, e.g. "cuda:0" for device="cuda"
        return self


def _stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (where `protoflow.progress.Progress` draws)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def _nearest_squared_distances(xb: Any, W: Any) -> Any:
    """Squared distance of each row of `xb` to its nearest row of `W` (torch tensors).

    xb : tensor of shape (batch, n_features); W : tensor of shape (n_units, n_features).
    Returns a tensor of shape (batch,), differentiable in `W`.
    """
    d = (xb * xb).sum(1, keepdim=True) - 2.0 * (xb @ W.T) + (W * W).sum(1)[None, :]
    return d.clamp_min(0.0).min(dim=1).values
