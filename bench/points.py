"""Benchmark: one X-Conv layer forward and backward, on every Keras backend, and the kNN step's memory.

The layer is the size the issue names: N = 1,024 points (every point a representative), K = 16
neighbours, 64 input features, 128 output features, batch 32. Each backend runs in its own process
(Keras reads its backend once) and prints one JSON line: points per second forward (inference) and
forward + backward (the gradient of a sum of squares with respect to the layer's weights, by
:func:`cnnkit.backends.weight_gradients`, not compiled), after two
warm-up calls, the median of five (forward: :func:`cnnkit.backends.compiled_inference`), and the process's peak resident memory (``ru_maxrss``). Then the
memory of the kNN step's one distance block (batch x N' x N float32) at ModelNet40's sizes, computed.

PyTorch Geometric's ``XConv`` needs ``torch_cluster``'s compiled kNN; when it does not import here
the script says so and prints no ratio.

    python bench/points.py                  # every backend
    python bench/points.py --backends jax   # one
"""

from __future__ import annotations

import argparse
import os
import platform

from fresh_process import run, said  # bench/ is the script's folder, so on its path

BATCH, POINTS, NEIGHBOURS, CHANNELS, FILTERS = 32, 1024, 16, 64, 128

WORKER = r"""
import json, resource, statistics, sys, time
import numpy as np
import keras
from cnnkit import backends
from cnnkit.models.points import PointColumns, XConv

B, N, K, C, F = map(int, sys.argv[1:6])
rng = np.random.default_rng(0)
cloud = np.concatenate([rng.uniform(-1, 1, (B, N, 3)), rng.normal(size=(B, N, C))], axis=-1).astype("float32")
inputs = keras.Input((N, 3 + C))
coordinates, features = PointColumns(0, 3)(inputs), PointColumns(3)(inputs)
model = keras.Model(inputs, XConv(F, K, lifted=F // 4, depth_multiplier=2)([coordinates, coordinates, features]))
compiled = backends.compiled_inference(model)
steps = {"forward": lambda: keras.ops.convert_to_numpy(compiled(cloud)),
         "forward+backward": lambda: backends.weight_gradients(model, lambda y: keras.ops.sum(y * y), cloud)}
timings = {}
for name, step in steps.items():
    for _ in range(2):
        step()
    seconds = []
    for _ in range(5):
        started = time.perf_counter(); step(); seconds.append(time.perf_counter() - started)
    timings[name] = B * N / statistics.median(seconds)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"backend": keras.backend.backend(), **timings, "peak_mib": peak}))
"""


def knn_block_mib(batch: int, queries: int, points: int) -> float:
    """The float32 distance block of one kNN step, in MiB."""
    return batch * queries * points * 4 / 2**20


def pyg_available() -> str | None:
    try:
        import torch_geometric.nn  # noqa: F401
        import torch_cluster  # noqa: F401
    except Exception as error:  # any import failure: say what it was
        return f"{type(error).__name__}: {error}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    args = parser.parse_args()
    print(f"X-Conv, N={POINTS}, K={NEIGHBOURS}, {CHANNELS} -> {FILTERS} features, batch {BATCH}; "
          f"{platform.machine()}, {os.cpu_count()} CPUs\n")  # fmt: skip
    print("| backend | forward points/s | forward+backward points/s | peak memory (MiB) |\n|---|---|---|---|")
    for backend in args.backends:
        result = run(WORKER, backend, BATCH, POINTS, NEIGHBOURS, CHANNELS, FILTERS)
        print(f"| {backend} | " + said(result, lambda r: f"{r['forward']:,.0f} | {r['forward+backward']:,.0f} | "
                                         f"{r['peak_mib']:,.0f}") + (" | | |" if isinstance(result, str) else " |"))
    problem = pyg_available()
    print("\nPyTorch Geometric's XConv: " + ("importable, but not timed by this script" if problem is None else
                                             f"not available here ({problem}); no ratio"))  # fmt: skip
    print("\nThe kNN step holds one batch x N' x N float32 distance block at a time. At ModelNet40's sizes "
          "(pointcnn, batch 32):")
    previous = POINTS
    for layer, count in enumerate((POINTS, 384, 128, 128), start=1):
        print(f"- xconv_{layer}: {count} x {previous} -> {knn_block_mib(BATCH, count, previous):.0f} MiB")
        previous = count


if __name__ == "__main__":
    main()
