"""Which devices train, and which process writes the run folder.

- :func:`training_scope`: build the model inside it (it also picks mixed precision). On
  TensorFlow it enters the ``tf.distribute`` strategy of :func:`get_strategy`; on JAX, with more
  than one device or process, Keras' own ``keras.distribution.DataParallel``
  (:func:`data_parallel`); on PyTorch, one device.
- :func:`get_strategy` (TensorFlow): several workers in ``TF_CONFIG`` ->
  ``MultiWorkerMirroredStrategy``; a TPU -> ``TPUStrategy``; two or more GPUs ->
  ``MirroredStrategy``; else the default strategy.
- :func:`is_chief`: False only in a process that must not write the run folder.

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
import socket
from collections.abc import Iterator

import keras
import tensorflow as tf

from cnnkit import backends
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
    ``tf.distribute`` strategies drive TensorFlow only: on another backend this refuses in one
    line (JAX's own route to several devices is :func:`data_parallel`).
    """
    if backends.current() != "tensorflow":
        raise backends.BackendError(
            f"tf.distribute strategies run on the TensorFlow backend, not on {backends.current()}: use "
            "KERAS_BACKEND=tensorflow, or on JAX let training_scope() use keras.distribution."
        )
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
    """False only in a process that must not write the run folder: on JAX every process but
    process 0 (``jax.process_index()``); on TensorFlow a non-chief worker of a multi-worker
    strategy, the chief being task ``chief``, or ``worker`` 0 when the cluster has no chief
    (TensorFlow's convention; ``strategy`` defaults to the current one); on PyTorch, one
    process, always True."""
    backend = backends.current()
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "torch":
        return True
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def model_scope(model: keras.Model):
    """The context in which ``model`` is compiled: its ``tf.distribute`` strategy's scope on
    TensorFlow, nothing on the other backends (Keras' distribution is global there)."""
    strategy = getattr(model, "distribute_strategy", None) if backends.current() == "tensorflow" else None
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def data_parallel() -> keras.distribution.DataParallel | None:
    """JAX only: ``keras.distribution.DataParallel`` over every device of every process, set as
    Keras' distribution, when there is more than one device; ``None`` on one device. Each batch
    is split across the devices and the gradients are averaged, as ``MirroredStrategy`` does."""
    import jax

    if keras.distribution.distribution() is not None:
        return keras.distribution.distribution()
    if len(jax.devices()) < 2:
        return None
    distribution = keras.distribution.DataParallel(devices=jax.devices())
    keras.distribution.set_distribution(distribution)
    return distribution


@contextlib.contextmanager
def training_scope(mixed_precision: bool | None = None, strategy: tf.distribute.Strategy | None = None) -> Iterator:
    """Build your model inside this block so that it trains on the right devices.

    Yields what distributes the training: on TensorFlow the strategy (see
    :func:`get_strategy`, or pass your own); on JAX the ``keras.distribution`` in force
    (:func:`data_parallel`, or ``None`` on one device); on PyTorch ``None``. ``mixed_precision``:
    ``True`` builds the model with float16 compute and float32 weights (``mixed_float16``),
    ``False`` keeps float32, ``None`` (default) uses mixed precision only when a GPU is
    present. The global dtype policy is restored on leaving the block; the model keeps its
    own. Output layers of cnnkit's builders always compute in float32.
    """
    backend = backends.current()
    if strategy is not None and backend != "tensorflow":
        raise backends.BackendError(f"A tf.distribute strategy needs the TensorFlow backend; Keras runs on {backend}.")
    if backend == "torch" and _tpu_address() is not None:
        raise backends.BackendError("Keras on PyTorch does not train on TPUs: use KERAS_BACKEND=jax (or tensorflow).")
    if mixed_precision is None:
        mixed_precision = backends.gpu_count() > 0
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed_precision else "float32")
    try:
        if backend == "tensorflow":
            strategy = strategy or get_strategy()
            with strategy.scope():
                yield strategy
        else:
            yield data_parallel() if backend == "jax" else None
    finally:
        keras.config.set_dtype_policy(previous)


# --- several processes: keras.distribution on JAX -------------------------------------------------


class ProcessGroupError(CnnkitError, RuntimeError):
    """The processes of a multi-process run could not find each other (address, port, count)."""


def check_job(coordinator: str, num_processes: int, process_id: int) -> tuple[str, int]:
    """``(host, port)`` of ``coordinator`` after checking the job's three numbers, before anything
    starts: ``coordinator`` is ``HOST:PORT`` with a port from 1 to 65535, ``num_processes`` at least 1,
    ``process_id`` from 0 to ``num_processes - 1``. Raises :class:`ProcessGroupError` in one line."""
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ProcessGroupError(f"coordinator must be HOST:PORT (process 0's machine and a free port from 1 to "
                                f"65535), got {coordinator!r}.")  # fmt: skip
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ProcessGroupError(f"process_id must lie in 0..{num_processes - 1} for a job of {num_processes} "
                                f"process(es), got {process_id}.")  # fmt: skip
    return host, int(port)


def join_processes(coordinator: str, num_processes: int, process_id: int, timeout: int = 60) -> None:
    """Join a data-parallel job of ``num_processes`` JAX processes (``keras.distribution``).

    ``coordinator`` is ``HOST:PORT`` of process 0 (it serves the coordination there; the others
    connect to it); ``process_id`` runs from 0 to ``num_processes - 1``. Call it first, before any
    data is loaded or model built. Each process then sees every device of every process
    (``jax.devices()``), :func:`training_scope` sets ``keras.distribution.DataParallel`` over
    them, and Keras splits each global batch between the processes.

    A process that cannot join within ``timeout`` seconds (a wrong address, a port in use, a
    ``num_processes`` that the others do not share) raises :class:`ProcessGroupError` in one
    line. Once joined, a process that dies is noticed by the others within 30 seconds (JAX's
    heartbeat), which then stop with an error instead of waiting forever.
    """
    if backends.current() != "jax":
        raise backends.BackendError(f"Several processes train with keras.distribution on JAX, not on "
                                    f"{backends.current()}: add --backend jax (or set KERAS_BACKEND=jax).")  # fmt: skip
    host, port = check_job(coordinator, num_processes, process_id)
    if process_id == 0:  # the coordination service will listen there: say now if it cannot
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("" if host in ("localhost", "127.0.0.1") else host, int(port)))
            except OSError as error:
                raise ProcessGroupError(f"Process 0 cannot serve the job on port {port} of {host} ({error.strerror}): "
                                        "choose a free port in --coordinator.") from None  # fmt: skip
    import jax

    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=timeout,
                                   heartbeat_timeout_seconds=30)  # fmt: skip
    except Exception as error:  # JAX reports a failed start as RuntimeError or XlaRuntimeError
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ProcessGroupError(
            f"Process {process_id} of {num_processes} could not join the job at {coordinator} within {timeout} s "
            f"({first}). Check that process 0 runs on {host} with port {port} free, and that every process was "
            f"started with --num-processes {num_processes}."
        ) from error
    if jax.process_count() != num_processes:  # JAX takes the count of process 0 and checks no other
        raise ProcessGroupError(
            f"Process {process_id} was started with --num-processes {num_processes}, but the job at {coordinator} "
            f"has {jax.process_count()}: start every process with the same --num-processes."
        )


def process_count() -> int:
    """How many processes train together (1 unless :func:`join_processes` was called)."""
    if backends.current() != "jax":
        return 1
    import jax

    return jax.process_count()


def wait_for_all(name: str) -> None:
    """Block until every process of a multi-process job reaches the point called ``name``."""
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def full_batches(dataset, batch_size: int):
    """``dataset`` (a batched ``tf.data`` pipeline) as batches of exactly ``batch_size``, the last
    partial one dropped: what Keras needs to split every global batch evenly between processes
    (it reads the batch size from the pipeline, and a partial last batch would leave one process
    without data). In each epoch fewer than ``batch_size`` examples, the last of that epoch's
    shuffled order, are left out."""
    return dataset.unbatch().batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
