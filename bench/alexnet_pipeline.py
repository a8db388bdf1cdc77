"""Benchmark: is AlexNet's augmentation pipeline fast enough to feed alexnet_small?

On any machine: images/s of the augmentation pipeline alone (pad to 32, random 28x28 crop,
flip, PCA colour shift, all per batch in tf.data) and of training alexnet_small on it, and
their ratio; above 1 the pipeline is not the bottleneck. Data: the bundled digits as RGB.

With a GPU (or --full): trains alexnet_small on Fashion-MNIST (crops + flips) and prints the
epoch time and the test accuracy (target: at least 92%). Fashion-MNIST must be in data/ or
downloadable.

    python bench/alexnet_pipeline.py [--epochs 2] [--full]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from cnnkit import set_seed  # noqa: E402
from cnnkit.data import augment, load_dataset  # noqa: E402
from cnnkit.models import build  # noqa: E402
from cnnkit.training import train  # noqa: E402


def pipeline_rate(dataset, epochs):
    images, started = 0, time.perf_counter()
    for _ in range(epochs):
        for batch, _ in dataset:
            images += int(batch.shape[0])
    return images / (time.perf_counter() - started)


def cpu_figures(epochs):
    set_seed(0, deterministic=False)
    plain = load_dataset("digits", batch_size=128, pad_to=32, channels=3)
    pca = augment.fit_pca_colour(plain.train)
    augmentation = augment.chain(augment.random_crop_flip(28, seed=0), pca.augmentation(seed=0))
    data = load_dataset("digits", batch_size=128, pad_to=32, channels=3, augment=augmentation)
    pipeline_rate(data.train, 1)  # warm-up
    feed = pipeline_rate(data.train, epochs)
    model = build("alexnet_small", input_shape=(28, 28, 3), num_classes=10)
    train(model, data.train, epochs=1, verbose=0)  # warm-up: tracing and compilation
    started = time.perf_counter()
    model.fit(data.train, epochs=epochs, shuffle=False, verbose=0)
    consume = data.info.num_examples["train"] * epochs / (time.perf_counter() - started)
    print(f"augmentation pipeline alone: {feed:,.0f} images/s")
    print(f"training alexnet_small on it: {consume:,.0f} images/s")
    print(f"ratio pipeline / training: {feed / consume:.1f} (above 1: the pipeline is not the bottleneck)")


def gpu_figures(epochs):
    set_seed(0, deterministic=False)
    data = load_dataset("fashion_mnist", batch_size=256, pad_to=32,
                        augment=augment.random_crop_flip(28, seed=0))  # fmt: skip
    model = build("alexnet_small", num_classes=10)
    started = time.perf_counter()
    history = train(model, data.train, data.validation, epochs=epochs, learning_rate=1e-3, verbose=2)
    seconds = (time.perf_counter() - started) / epochs
    test = model.evaluate(
        data.test.map(lambda x, y: (augment.center_crop(x, 28), y)), verbose=0, return_dict=True
    )
    print(f"Fashion-MNIST, alexnet_small, {len(history)} epochs: {seconds:.1f} s/epoch, "
          f"test accuracy {test['accuracy']:.4f} (target 0.92)")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed on CPU")
    parser.add_argument(
        "--full", action="store_true", help="run the Fashion-MNIST training even without a GPU"
    )
    parser.add_argument("--full-epochs", type=int, default=30)
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, GPUs: {[g.name for g in gpus] or 'none'}")
    cpu_figures(args.epochs)
    if gpus or args.full:
        gpu_figures(args.full_epochs)
    else:
        print("Fashion-MNIST accuracy run skipped: no GPU (use --full to run it on the CPU).")


if __name__ == "__main__":
    main()
