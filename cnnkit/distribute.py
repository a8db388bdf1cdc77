"""Which devices train: the ``tf.distribute`` strategy for this machine, and who writes.

- :func:`get_strategy`: several workers in ``TF_CONFIG`` -> ``MultiWorkerMirroredStrategy``; a TPU
  -> ``TPUStrategy``; two or more GPUs -> ``MirroredStrategy``; else the default strategy.
- :func:`training_scope`: build the model inside it (and pick mixed precision).
- :func:`is_chief`: False only in a worker that must not write the run folder.

Under ``MultiWorkerMirroredStrategy`` only the chief (task ``chief``, or ``worker`` 0 when there
is no chief) writes the run folder. Keras 3's ``fit`` itself does not yet run under that strategy
(keras-team/keras#20585: it fails averaging the first distributed batch), so multi-machine
training with TensorFlow waits for that fix.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Iterator

import keras
import tensorflow as tf

from cnnkit.errors import CnnkitError


def _tpu_address() -> str | None:
    """Where a TPU is, without any network look-up: ``"local"`` on a TPU VM (today's Colab TPU
    runtimes, with ``/dev/accel*`` devices), the address in ``COLAB_TPU_ADDR`` (older Colab
    runtimes) or ``TPU_NAME`` (Cloud TPU), else ``None``."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if glob.glob("/dev/accel*"):
        return "local"
    return None


def get_strategy() -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy that fits this machine.

    A ``TF_CONFIG`` describing several workers gives ``MultiWorkerMirroredStrategy``; a TPU
    (see :func:`_tpu_address`) gives ``TPUStrategy``; two or more GPUs give
    ``MirroredStrategy``; otherwise the default strategy (one GPU, or the CPU).
    """
    address = _tpu_address()
    if os.environ.get("TF_CONFIG") and address is None:
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        if sum(len(tasks) for tasks in cluster.values()) > 1:
            try:
                return tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as error:
                if "program startup" not in str(error):
                    raise
                raise CnnkitError(
                    "TF_CONFIG asks for several workers, but TensorFlow was already in use in this process: "
                    "call get_strategy() (or enter training_scope()) before loading data or building models."
                ) from None
    if address is not None:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """False only in a non-chief worker of a multi-worker strategy: the process that must not
    write the run folder. The chief is task ``chief``, or ``worker`` 0 when the cluster has no
    chief (TensorFlow's convention). ``strategy`` defaults to the current one."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


@contextlib.contextmanager
def training_scope(
    mixed_precision: bool | None = None, strategy: tf.distribute.Strategy | None = None
) -> Iterator[tf.distribute.Strategy]:
    """Build your model inside this block so that it trains on the right devices.

    Yields the strategy (see :func:`get_strategy`, or pass your own). ``mixed_precision``:
    ``True`` builds the model with float16 compute and float32 weights (``mixed_float16``),
    ``False`` keeps float32, ``None`` (default) uses mixed precision only when a GPU is
    present. The global dtype policy is restored on leaving the block; the model keeps its
    own. Output layers of cnnkit's builders always compute in float32.
    """
    strategy = strategy or get_strategy()
    if mixed_precision is None:
        mixed_precision = bool(tf.config.list_logical_devices("GPU"))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed_precision else "float32")
    try:
        with strategy.scope():
            yield strategy
    finally:
        keras.config.set_dtype_policy(previous)
