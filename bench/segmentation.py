"""Benchmark: U-Net training throughput per backend, 3D U-Net's peak memory at its published size, tiled
prediction throughput, and the semi-automated brain result.

1. U-Net training throughput: images per second of ``train_on_batch`` on 128x128 gray images, batch 8,
   three classes, ``padding="same"`` at base width 16 (the published widths are for 572x572 cells on a
   GPU), after three warm-up steps, the median of five timed steps; one process per backend (Keras reads
   its backend once), each printing one JSON line.
2. 3D U-Net at its published size (132x132x116x3 in, 44x44x28x3 out, 19,080,195 parameters by Keras'
   count): one forward and backward pass of one sample on TensorFlow, and the process's peak resident
   memory (``ru_maxrss``) before and after it; the difference is what the pass added.
3. Tiled prediction (``cnnkit.tiling.tiled_predict``, overlap-tile with mirrored borders) of one
   1,024x1,024 image with the same U-Net: pixels per second, median of three after one warm-up.
4. The semi-automated setting of notebook 10 (``cnnkit.sparse_slices``): 3D U-Net and the 2D U-Net from
   six annotated slices of the MNI152 brain at 4 mm, 400 steps each, mean IoU over grey and white matter
   on the unannotated voxels: the figure issue 32 asks for (at least 0.70).

    python bench/segmentation.py                     # everything, every backend
    python bench/segmentation.py --backends jax      # throughput on one backend, then the rest
    python bench/segmentation.py --skip-3d-memory    # leave out the published 3D U-Net (several GiB)
"""

from __future__ import annotations

import argparse
import os
import platform

from fresh_process import run, said  # bench/ is the script's folder, so on its path

SIDE, BATCH, WIDTH = 128, 8, 16

THROUGHPUT = r"""
import json, statistics, sys, time
import numpy as np
import keras
from cnnkit.models import build
from cnnkit.segmentation import PixelCrossEntropy

side, batch, width = map(int, sys.argv[1:4])
rng = np.random.default_rng(0)
images = rng.random((batch, side, side, 1)).astype("float32")
masks = rng.integers(0, 3, (batch, side, side)).astype("int32")
model = build("unet", input_shape=(side, side, 1), num_classes=3, padding="same", base_width=width)
model.compile(keras.optimizers.Adam(1e-3), PixelCrossEntropy())  # the segmentation task's loss
for _ in range(3):
    model.train_on_batch(images, masks)
seconds = []
for _ in range(5):
    started = time.perf_counter(); model.train_on_batch(images, masks); seconds.append(time.perf_counter() - started)
print(json.dumps({"backend": keras.backend.backend(), "images_per_second": batch / statistics.median(seconds),
                  "parameters": model.count_params()}))
"""

MEMORY_3D = r"""
import json, resource, time
import numpy as np
import keras
from cnnkit import backends
from cnnkit.models import build

model = build("unet3d")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
volume = np.random.default_rng(0).random((1, 132, 132, 116, 3)).astype("float32")
started = time.perf_counter()
backends.weight_gradients(model, lambda y: keras.ops.mean(y * y), volume)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"before_mib": before, "after_mib": after, "seconds": seconds, "parameters": model.count_params()}))
"""

TILED = r"""
import json, statistics, sys, time
import numpy as np
from cnnkit.models import build
from cnnkit.tiling import tiled_predict

width = int(sys.argv[1])
model = build("unet", input_shape=(572, 572, 1), num_classes=3, base_width=width)  # unpadded, as published: 388 out
image = np.random.default_rng(0).random((1024, 1024, 1)).astype("float32")
tiled_predict(model, image)
seconds = []
for _ in range(3):
    started = time.perf_counter(); tiled_predict(model, image); seconds.append(time.perf_counter() - started)
print(json.dumps({"pixels_per_second": 1024 * 1024 / statistics.median(seconds),
                  "tile": list(model.input_shape[1:3]), "output_tile": list(model.output_shape[1:3])}))
"""

SPARSE = r"""
import json
from cnnkit.data import brain
from cnnkit.models import build
from cnnkit.seed import set_seed
from cnnkit import sparse_slices

volume = brain.brain_volume(4)
slices = brain.annotated_slices(volume["labels"])
set_seed(0)
net_3d = build("unet3d", input_shape=(24, 24, 24, 1), num_classes=3, padding="same", base_width=8, depth=2)
run_3d = sparse_slices.train_3d_from_slices(net_3d, volume, slices, steps=400, crop=24, seed=0)
set_seed(0)
net_2d = build("unet", input_shape=(24, 24, 1), num_classes=3, padding="same", base_width=16, depth=2)
run_2d = sparse_slices.train_2d_from_slices(net_2d, volume, slices, steps=400, crop=24, seed=0)
print(json.dumps({"slices": len(slices), "3d": [run_3d.summary["mean_iou"], run_3d.seconds],
                  "2d": [run_2d.summary["mean_iou"], run_2d.seconds]}))
"""


def memory_line(r: dict) -> str:
    added = r["after_mib"] - r["before_mib"]
    return (f"{r['seconds']:.1f} s; peak resident memory {r['before_mib']:,.0f} MiB after building, "
            f"{r['after_mib']:,.0f} MiB after the pass (+{added:,.0f} MiB); {r['parameters']:,} parameters")


def tiled_line(r: dict) -> str:
    (h, w), (oh, ow) = r["tile"], r["output_tile"]
    return f"{r['pixels_per_second']:,.0f} pixels/s with {h}x{w} tiles giving {oh}x{ow}"


def sparse_line(r: dict) -> str:
    (iou_3d, seconds_3d), (iou_2d, seconds_2d) = r["3d"], r["2d"]
    return (f"3D U-Net {iou_3d:.3f} ({seconds_3d:.0f} s), "
            f"2D U-Net slice by slice {iou_2d:.3f} ({seconds_2d:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--skip-3d-memory", action="store_true")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs\n")
    print(f"1. U-Net training, {SIDE}x{SIDE}x1, batch {BATCH}, base width {WIDTH}, 'same' padding:\n")
    print("| backend | images/s | parameters |\n|---|---|---|")
    for backend in args.backends:
        result = run(THROUGHPUT, backend, SIDE, BATCH, WIDTH)
        print(f"| {backend} | " + said(result, lambda r: f"{r['images_per_second']:.1f} | {r['parameters']:,}") + " |")
    if not args.skip_3d_memory:
        result = run(MEMORY_3D, "tensorflow")
        print("\n2. 3D U-Net as published, one sample forward and backward (TensorFlow): " + said(result, memory_line))
    result = run(TILED, "tensorflow", WIDTH)
    print("\n3. Tiled prediction of a 1,024x1,024 image (unpadded U-Net, base width 16, TensorFlow): "
          + said(result, tiled_line))
    result = run(SPARSE, "tensorflow")
    print("\n4. The MNI152 brain at 4 mm from six annotated slices, 400 steps (TensorFlow), mean IoU over grey "
          "and white matter on the unannotated voxels: " + said(result, sparse_line))


if __name__ == "__main__":
    main()
