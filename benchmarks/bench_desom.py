"""Cost of one DESOM iteration against one iteration of the same autoencoder trained alone.

Target (issue 3): DESOM / AE <= 1.25, i.e. the SOM layer (BMU search, neighbourhood weights,
weighted distortion and the prototype gradient) is cheap next to the network. Both run through
the same training loop (`protoflow_encoders.torch_training.train`) on the same data and network
(784-500-500-2000-10 dense, batch 256, MNIST), in one process, alternating AE and DESOM runs
so that background load hits both alike; the median over repeats is reported, with the
spread of the repeats. The SOM layer's own cost (kernel at the step's temperature, the loss and
its backward pass on a batch of codes, BMUs fixed) is also timed alone, to show how much of the
ratio is the layer and how much is run-to-run noise.

    .venv/bin/python benchmarks/bench_desom.py [--iterations 200] [--repeats 3] [--threads 2]

Prints a markdown table; ``--json PATH`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np
import torch
from protoflow_desom import DESOM
from protoflow_desom.model import som_loss
from protoflow_encoders import AutoencoderEncoder

from protoflow.data import load_dataset
from protoflow.io import atomic_write_text
from protoflow.neighborhood import exponential_temperature, gaussian_kernel
from protoflow.topology import Lattice


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def som_layer_seconds(batch_size: int, latent_dim: int = 10, reps: int = 2000) -> float:
    """Seconds per step of the SOM layer alone, as DESOM runs it: the 8x8 kernel at the step's
    temperature, `som_loss` on a (batch_size, latent_dim) batch of codes and its backward pass."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(batch_size, latent_dim, generator=gen, requires_grad=True)
    protos = torch.randn(64, latent_dim, generator=gen, requires_grad=True)
    dist = Lattice(8, 8).distances()
    t0 = time.perf_counter()
    for i in range(reps):
        T = exponential_temperature(i + 1, reps, 8.0, 0.1)
        kernel = torch.as_tensor(gaussian_kernel(dist, T), dtype=z.dtype)
        som_loss(z, protos, kernel).backward()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", default="dense", choices=["dense", "conv"])
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.iterations * args.batch_size  # one epoch = `iterations` steps for the AE
    X = load_dataset("mnist", path=args.data, split="train", n_samples=min(n, 60000), seed=0).X
    common = {"latent_dim": 10, "batch_size": args.batch_size, "lr": 1e-3, "variant": args.variant,
              "seed": 0, "progress": False}
    ae_iters = int(np.ceil(len(X) / args.batch_size))  # the AE's one epoch

    def ae() -> None:
        AutoencoderEncoder(epochs=1, **common).fit(X)

    def desom() -> None:
        DESOM(rows=8, cols=8, iterations=ae_iters, **common).fit(X)

    ae(), desom()  # warm-up (allocator, thread pool)
    t_ae, t_desom = [], []
    for _ in range(args.repeats):
        t_ae.append(_time(ae))
        t_desom.append(_time(desom))
    ae_s, desom_s = float(np.median(t_ae)) / ae_iters, float(np.median(t_desom)) / ae_iters
    ratio = desom_s / ae_s
    spread = [min(t_desom) / max(t_ae), max(t_desom) / min(t_ae)]  # extreme pairings of repeats
    layer_s = som_layer_seconds(args.batch_size)
    res = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "threads": args.threads, "variant": args.variant, "batch_size": args.batch_size,
        "iterations": ae_iters, "repeats": args.repeats,
        "ae_it_per_s": 1 / ae_s, "desom_it_per_s": 1 / desom_s, "ratio": ratio,
        "ratio_range": spread, "som_layer_ms": 1e3 * layer_s,
        "som_layer_fraction_of_ae_step": layer_s / ae_s,
        "ae_seconds": t_ae, "desom_seconds": t_desom, "target": 1.25, "pass": ratio <= 1.25,
    }
    print(f"| model | iterations/s ({args.threads} threads, CPU, {args.variant}, batch {args.batch_size}) |")
    print("| --- | --- |")
    print(f"| autoencoder alone | {1 / ae_s:.2f} |")
    print(f"| DESOM 8x8 | {1 / desom_s:.2f} |")
    print(f"| SOM layer alone (kernel, loss, backward) | {1 / layer_s:.0f} "
          f"({1e3 * layer_s:.2f} ms = {100 * layer_s / ae_s:.1f}% of an AE step) |")
    verdict = "PASS" if ratio <= 1.25 else "FAIL"
    print(f"\nDESOM / AE time per iteration: {ratio:.3f} (median of {args.repeats} repeats; extreme "
          f"pairings {spread[0]:.3f}-{spread[1]:.3f}); target <= 1.25: {verdict}")
    if args.json:
        atomic_write_text(args.json, json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
