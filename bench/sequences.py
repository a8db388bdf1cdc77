"""Benchmark: Conv-TasNet's real-time factor and the 1D CNN tagger's throughput, per backend.

1. Conv-TasNet at the paper's best configuration (N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3;
   ``build``-free: ``cnnkit.models.tasnet.conv_tasnet()`` with its defaults), non-causal (global layer
   norm) and causal (cumulative layer norm, causal padding): separating one 4-second mixture at 8 kHz,
   batch 1, after two warm-up calls, the median of five timed calls. The real-time factor is the seconds
   of audio separated per second of compute (above 1: faster than real time). The causal form's
   algorithmic latency is one encoder window, L = 16 samples (2 ms at 8 kHz): it reads no future frame.
2. The tagger (``cnnkit.tagging.cnn_tagger()`` with its defaults: 256 characters, embeddings of 32, four
   convolutions of width 64, kernel 3, dilations 1, 2, 4, 8): characters tagged per second, batches of
   64 windows, median of five after two warm-ups; and the same with the linear-chain CRF's Viterbi
   decoding (``CRFTagger.decode``) on top.

Every run is its own process (Keras reads its backend once), on random inputs of the right shapes:
speed does not depend on what the numbers are.

    python bench/sequences.py                       # every backend
    python bench/sequences.py --backends tensorflow
"""

from __future__ import annotations

import argparse
import os
import platform

from fresh_process import run, said  # bench/ is the script's folder, so on its path

SEPARATION = r"""
import json, statistics, sys, time
import numpy as np
import keras
from cnnkit import backends
from cnnkit.models.tasnet import conv_tasnet

causal = sys.argv[1] == "causal"
model = conv_tasnet(causal=causal)
mixture = np.random.default_rng(0).normal(size=(1, 32000)).astype("float32")  # 4 s at 8 kHz
for _ in range(2):
    backends.forward(model, mixture)
seconds = []
for _ in range(5):
    started = time.perf_counter(); backends.forward(model, mixture); seconds.append(time.perf_counter() - started)
print(json.dumps({"backend": keras.backend.backend(), "seconds": statistics.median(seconds),
                  "real_time_factor": 4.0 / statistics.median(seconds), "parameters": model.count_params()}))
"""

TAGGING = r"""
import json, statistics, time
import numpy as np
import keras
from cnnkit import backends
from cnnkit.tagging import CRFTagger, cnn_tagger

rng = np.random.default_rng(0)
ids = rng.integers(2, 39, size=(64, 256)).astype("int32")
mask = np.ones(ids.shape, "float32")
softmax = cnn_tagger()
crf = CRFTagger(cnn_tagger(scores_only=True))


def timed(call):
    for _ in range(2):
        call()
    seconds = []
    for _ in range(5):
        started = time.perf_counter(); call(); seconds.append(time.perf_counter() - started)
    return ids.size / statistics.median(seconds)


print(json.dumps({"backend": keras.backend.backend(), "parameters": softmax.count_params(),
                  "softmax_characters_per_second": timed(lambda: backends.forward(softmax, ids)),
                  "crf_characters_per_second": timed(lambda: crf.decode(ids, mask))}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs\n")
    print("1. Conv-TasNet, the paper's best configuration, one 4 s mixture at 8 kHz (real-time factor: seconds of "
          "audio per second):\n")
    print("| backend | form | seconds per mixture | real-time factor | parameters |\n|---|---|---|---|---|")
    for backend in args.backends:
        for form in ("non-causal", "causal"):
            result = run(SEPARATION, backend, form)
            print(f"| {backend} | {form} | " + said(result, lambda r: f"{r['seconds']:.2f} | {r['real_time_factor']:.1f} | "
                                                    f"{r['parameters']:,}") + " |")
    print("\n2. The 1D CNN tagger, batches of 64 windows of 256 characters:\n")
    print("| backend | characters/s, softmax | characters/s, CRF + Viterbi | parameters |\n|---|---|---|---|")
    for backend in args.backends:
        result = run(TAGGING, backend)
        print(f"| {backend} | " + said(result, lambda r: f"{r['softmax_characters_per_second']:,.0f} | "
                                         f"{r['crf_characters_per_second']:,.0f} | {r['parameters']:,}") + " |")


if __name__ == "__main__":
    main()
