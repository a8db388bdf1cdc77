"""Benchmark: Conv-TasNet's real-time factor and the 1D CNN tagger's throughput, per backend.

1. Conv-TasNet at the paper's best configuration (N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3;
   ``build``-free: ``cnnkit.models.tasnet.conv_tasnet()`` with its defaults), non-causal (global layer
   norm) and causal (cumulative layer norm, causal padding): one 4-second mixture at 8 kHz, batch 1,
   timed by ``cnnkit.profiling.inference_latency`` (a compiled forward pass, traced and run once, then
   the median of five). The real-time factor is the seconds of audio separated per second of compute
   (above 1: faster than real time). The causal form's algorithmic latency is one encoder window,
   L = 16 samples (2 ms at 8 kHz): it reads no future frame.
2. The tagger (``cnnkit.models.tagging.cnn_tagger()`` with its defaults: 256 characters, embeddings of 32, four
   convolutions of width 64, kernel 3, dilations 1, 2, 4, 8): characters tagged per second, batches of
   64 windows, timed the same way; and the linear-chain CRF's Viterbi decoding (``CRFTagger.decode``)
   on top, the median of five calls after two warm-ups.

Every run is its own process (Keras reads its backend once), on inputs of the right shapes (zeros for
the forward passes, random ids for the decoding): speed does not depend on what the numbers are.

    python bench/sequences.py                       # every backend
    python bench/sequences.py --backends tensorflow
"""

from __future__ import annotations

import argparse
import os
import platform

from fresh_process import run, said  # bench/ is the script's folder, so on its path

SEPARATION = r"""
import json, sys
import keras
from cnnkit.models.tasnet import conv_tasnet
from cnnkit.profiling import inference_latency

model = conv_tasnet(causal=sys.argv[1] == "causal")
seconds = inference_latency(model, batch_size=1, repeats=5)  # one 4 s mixture at 8 kHz
print(json.dumps({"backend": keras.backend.backend(), "seconds": seconds, "real_time_factor": 4.0 / seconds,
                  "parameters": model.count_params()}))
"""

TAGGING = r"""
import json, statistics, time
import numpy as np
import keras
from cnnkit.profiling import inference_latency
from cnnkit.models.tagging import CRFTagger, cnn_tagger

BATCH, LENGTH = 64, 256
softmax = cnn_tagger(input_shape=(LENGTH,))
crf = CRFTagger(cnn_tagger(input_shape=(LENGTH,), scores_only=True))
ids = np.random.default_rng(0).integers(2, 39, size=(BATCH, LENGTH)).astype("int32")
mask = np.ones(ids.shape, "float32")
for _ in range(2):
    crf.decode(ids, mask)
decoding = []
for _ in range(5):
    started = time.perf_counter(); crf.decode(ids, mask); decoding.append(time.perf_counter() - started)
print(json.dumps({"backend": keras.backend.backend(), "parameters": softmax.count_params(),
                  "softmax_characters_per_second": ids.size / inference_latency(softmax, BATCH, repeats=5),
                  "crf_characters_per_second": ids.size / statistics.median(decoding)}))
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
