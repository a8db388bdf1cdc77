"""One process of a two-process ``keras.distribution`` job that records which examples Keras gives
it, for ``tests/test_processes.py``::

    python tests/process_worker.py HOST:PORT PROCESS_ID NUM_PROCESSES OUT.json
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

from cnnkit import distribute  # noqa: E402

coordinator, process_id, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
distribute.join_processes(coordinator, count, process_id, timeout=60)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

distribution = distribute.data_parallel()
examples = tf.data.Dataset.from_tensor_slices((np.arange(100), np.zeros(100))).shuffle(100, seed=0)
batches = examples.batch(16).map(lambda x, y: (x * 1, y))  # like cnnkit's pipelines: batch, then map
seen = [int(v) for x, _ in distribution.distribute_dataset(distribute.full_batches(batches, 16)) for v in x.numpy()]
with open(out, "w") as handle:
    json.dump(seen, handle)
