"""Benchmark: how long does building each registered model at its default size take?

Builds every model of the registry once (or those named on the command line) in this process,
offline (the ``*_pretrained`` backbones with random weights, ``weights=None``), and prints, per model, the build time, the parameters and the multiply-adds of one forward
pass of one image (``cnnkit.arithmetic.mult_adds``), then the slowest build. Exits with status 1
if any build takes longer than the target.

    python bench/model_build.py                 # every model
    python bench/model_build.py vgg16 mixnet_s  # some
"""

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_SECONDS = 10.0  # "seconds, not minutes" on 2 CPU cores


def main() -> int:
    from cnnkit.arithmetic import mult_adds
    from cnnkit.models import build, get_spec, list_models

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="model names (default: all)")
    names = parser.parse_args().names or list_models()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'model':22s} {'input':>12s} {'build s':>8s} {'parameters':>13s} {'mult-adds':>16s}")
    slowest = (0.0, "")
    for name in names:
        started = time.perf_counter()
        model = build(name, **({"weights": None} if get_spec(name).pretrained else {}))
        seconds = time.perf_counter() - started
        slowest = max(slowest, (seconds, name))
        shape = "x".join(map(str, get_spec(name).input_shape))
        print(f"{name:22s} {shape:>12s} {seconds:8.2f} {model.count_params():13,d} {mult_adds(model):16,d}")
        del model
    print(f"slowest build: {slowest[1]} in {slowest[0]:.2f} s (target {TARGET_SECONDS:.0f} s)")
    return 0 if slowest[0] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
