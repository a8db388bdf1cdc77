"""Benchmark: inference latency of every ImageNet-size model of the registry on this machine.

The table of notebook 07 with every model timed: parameters, multiply-adds per image, and the
median milliseconds of a compiled forward pass of a batch of 1 and of 32 (after a warm-up;
``cnnkit.profiling.cost_table``). Prints the device, the table, and the per-image speed-up that
batching buys for each model.

    python bench/model_latency.py                    # every ImageNet-size model
    python bench/model_latency.py resnet50 mixnet_s  # some
"""

import argparse
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    import pandas as pd
    import tensorflow as tf

    from cnnkit.models import list_models
    from cnnkit.profiling import cost_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="model names (default: every ImageNet-size model)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per batch size (median)")
    arguments = parser.parse_args()
    devices = ", ".join(f"{d.device_type}:{d.name}" for d in tf.config.list_logical_devices())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, devices {devices}, TensorFlow {tf.__version__}"
    )
    table = cost_table(arguments.names or ["lenet5_classic", *list_models(kind="images", reported=True)], batch_sizes=(1, 32), repeats=arguments.repeats)
    table["batching_speedup"] = table["ms_batch_1"] * 32 / table["ms_batch_32"]
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(table.to_string(formatters={"parameters": "{:,}".format, "mult_adds": lambda v: f"{v / 1e9:.2f} G",
                                          "ms_batch_1": "{:.1f}".format, "ms_batch_32": "{:.0f}".format,
                                          "batching_speedup": "{:.1f}x".format}))  # fmt: skip


if __name__ == "__main__":
    main()
