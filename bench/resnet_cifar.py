"""Benchmark: ResNet-20 training speed on CIFAR-10-shaped batches, and time to accuracy on a GPU.

Always: training images/s of ResNet-20 at batch 128 (the paper's recipe: SGD + momentum,
weight decay, step schedule) on this machine. It uses CIFAR-10 from the data folder when it is
there, otherwise random images of CIFAR-10's shape (said in the output; speed does not depend
on the pixel values).

With a GPU and CIFAR-10 (or --full): the paper's recipe with mixed precision and XLA; prints
the epoch time and the wall time until the test accuracy first reaches 91% (ResNet-20; the
paper reports 91.25%) and, for the cosine schedule with label smoothing, 94% (ResNet-56).

    python bench/resnet_cifar.py [--steps 20] [--full]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnkit import set_seed  # noqa: E402
from cnnkit.data import augment, load_dataset  # noqa: E402
from cnnkit.distribute import training_scope  # noqa: E402
from cnnkit.errors import DatasetNotFoundError  # noqa: E402
from cnnkit.models import build  # noqa: E402
from cnnkit.recipes import SmoothedSparseCategoricalCrossentropy, resnet_cifar_optimizer  # noqa: E402
from cnnkit.training import train  # noqa: E402


def cifar_or_none(batch_size):
    try:
        return load_dataset("cifar10", batch_size=batch_size, standardize=True, download=False,
                            augment=augment.random_crop_flip(32, padding=4))  # fmt: skip
    except DatasetNotFoundError:
        return None


def images_per_second(data, steps):
    if data is None:
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(128 * 4, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 128 * 4)
        batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(128).repeat()
        source = "random images of CIFAR-10's shape (CIFAR-10 is not in the data folder)"
    else:
        batches, source = data.train.repeat(), "CIFAR-10 with the recipe's crops and flips"
    model = build("resnet_cifar", depth=20)
    model.compile(resnet_cifar_optimizer(1000), "sparse_categorical_crossentropy")
    model.fit(batches, steps_per_epoch=3, epochs=1, shuffle=False, verbose=0)  # warm-up: tracing
    started = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return steps * 128 / (time.perf_counter() - started), source


class TimeToAccuracy(keras.callbacks.Callback):
    """Records the wall time at which validation accuracy first reaches each target."""

    def __init__(self, targets):
        super().__init__()
        self.targets, self.reached = targets, {}

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for target in self.targets:
            if target not in self.reached and logs.get("val_accuracy", 0) >= target:
                self.reached[target] = (time.perf_counter() - self.started, epoch + 1)


def time_to_accuracy(data, depth, epochs, kind, smoothing, target):
    with training_scope(mixed_precision=True):
        model = build("resnet_cifar", depth=depth)
    steps = epochs * -(-data.info.num_examples["train"] // 128)
    loss = SmoothedSparseCategoricalCrossentropy(smoothing) if smoothing else None
    timer = TimeToAccuracy([target])
    optimizer = resnet_cifar_optimizer(steps, kind=kind)
    metrics = ["accuracy"] if loss else None
    history = train(model, data.train, data.test, epochs=epochs, optimizer=optimizer, loss=loss,
                    metrics=metrics, jit_compile=True, callbacks=[timer], verbose=2)  # fmt: skip
    reached = timer.reached.get(target)
    when = (
        f"{target:.0%} after {reached[0]:.0f} s (epoch {reached[1]})"
        if reached
        else f"{target:.0%} not reached"
    )
    recipe = f"{kind} schedule" + (", label smoothing" if smoothing else "")
    print(f"ResNet-{depth}, {recipe}: {history['epoch_seconds'].median():.1f} s/epoch, "
          f"best test accuracy {history['val_accuracy'].max():.4f}, {when}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    parser.add_argument(
        "--full", action="store_true", help="run the time-to-accuracy part even without a GPU"
    )
    args = parser.parse_args()
    set_seed(0, deterministic=False)
    gpus = tf.config.list_physical_devices("GPU")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, GPUs: {[g.name for g in gpus] or 'none'}")
    data = cifar_or_none(128)
    rate, source = images_per_second(data, args.steps)
    print(f"ResNet-20 training, batch 128: {rate:,.0f} images/s on {source}")
    if not (gpus or args.full):
        print("time-to-accuracy runs skipped: no GPU (use --full to run them anyway)")
    elif data is None:
        print("time-to-accuracy runs skipped: CIFAR-10 is not in the data folder")
    else:
        time_to_accuracy(data, 20, 160, "step", 0.0, 0.91)
        time_to_accuracy(data, 56, 60, "cosine", 0.1, 0.94)


if __name__ == "__main__":
    main()
