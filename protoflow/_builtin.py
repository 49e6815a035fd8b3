"""The core's own plugin: registers `PrototypeSet` as the model "prototypes", through the same
entry-point group third parties use."""

from __future__ import annotations

from protoflow.hookspecs import hookimpl


@hookimpl
def protoflow_register_models(registry):
    from protoflow.prototypes import PrototypeSet

    registry.add_model(
        "prototypes", PrototypeSet, summary="A fixed codebook from elsewhere (no training)."
    )


@hookimpl
def protoflow_register_datasets(registry):
    from protoflow import data

    registry.add_dataset("digits", data.load_digits, summary="scikit-learn's 8x8 digits (offline).")
    registry.add_dataset("gmm", data.load_gmm, summary="The MUSIC paper's 3-component triangle mixture.")
    registry.add_dataset("mnist", data.load_mnist, summary="MNIST from IDX files in a local folder.")
    registry.add_dataset(
        "fashion-mnist", data.load_fashion_mnist, summary="Fashion-MNIST from IDX files in a local folder."
    )
    registry.add_dataset("idx", data.load_idx, summary="Any IDX image set in a local folder.")
    registry.add_dataset("file", data.load_file, summary="Your own .npy, .npz or .csv file.")
