"""Benchmark: is reading a folder of image files the bottleneck of training on it?

Writes a folder of real MNIST digits as PNG files (``--per-class`` per digit, 10 classes), then
measures, on this machine, how many images per second the folder pipeline delivers (read,
decode, resize to 32x32 RGB, batch: one pass over the training split) and how many the training
of ``resnet_cifar`` (depth 20) consumes, and prints both and their ratio, as
``bench/alexnet_pipeline.py`` does for AlexNet.

    python bench/folder_pipeline.py
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=300, help="images per digit (the sample has 500)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs to time (the first is warm-up)")
    args = parser.parse_args()

    import cnnkit
    from cnnkit.data import samples

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    folder = samples.write_digit_folder(Path(tempfile.mkdtemp(prefix="cnnkit-folder-")), digits=range(10),
                                        per_class=args.per_class)  # fmt: skip
    started = time.perf_counter()
    data = cnnkit.load_dataset(str(folder), resize_to=32, channels=3, batch_size=128)
    print(f"scan and check of {sum(data.info.num_examples.values())} files: {time.perf_counter() - started:.1f} s")
    count = data.info.num_examples["train"]
    started = time.perf_counter()
    for _ in data.train:
        pass
    pipeline_rate = count / (time.perf_counter() - started)
    model = cnnkit.build("resnet_cifar", input_shape=(32, 32, 3), num_classes=10, depth=20)
    history = cnnkit.train(model, data.train, epochs=args.epochs, verbose=0)
    training_rate = count / history["epoch_seconds"].iloc[1:].mean()
    print(f"folder pipeline: {pipeline_rate:,.0f} images/s; training resnet_cifar20 on it: {training_rate:,.0f} "
          f"images/s; ratio {pipeline_rate / training_rate:.1f} (above 1: the files are not the bottleneck)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
