"""Keras 3's three backends, TensorFlow, JAX and PyTorch: which one runs, how to choose it, and
the few things that differ between them, each in one small function.

Keras reads ``KERAS_BACKEND`` once, when it is first imported (and ``import cnnkit`` imports it)::

    import os
    os.environ["KERAS_BACKEND"] = "jax"      # first, before importing keras or cnnkit
    import cnnkit

or ``cnnkit.backends.choose("jax")`` before any other import of cnnkit's submodules; from the
command line, ``python -m cnnkit train ... --backend jax``. TensorFlow is the default. Data comes
as ``tf.data`` pipelines on every backend (Keras accepts them everywhere), so TensorFlow stays
installed whichever backend computes.

Everything else in cnnkit is written with ``keras.ops`` and runs unchanged on all three; what
cannot be written that way is here: the gradient of a function with respect to its input (each
backend's own automatic differentiation) and counting accelerators.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

from cnnkit.errors import CnnkitError

BACKENDS = ("tensorflow", "jax", "torch")
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
INSTALL = {"tensorflow": "pip install tensorflow", "jax": "pip install 'cnnkit[jax]'",
           "torch": "pip install 'cnnkit[torch]' (on a CPU-only machine: torch==2.13.0, a CPU build)"}  # fmt: skip


class BackendError(CnnkitError, RuntimeError):
    """The backend asked for cannot be used in this process (unknown, not installed, or too late)."""


def current() -> str:
    """The backend Keras runs on in this process (``"tensorflow"``, ``"jax"`` or ``"torch"``)."""
    import keras

    return keras.backend.backend()


def choose(name: str) -> str:
    """Make Keras run on ``name`` in this process; returns it.

    Before Keras is imported this sets ``KERAS_BACKEND``. Afterwards the backend is fixed:
    asking for the one already running is fine, asking for another raises
    :class:`BackendError` in one line that says how to switch (restart with the variable set).
    A backend whose package is not installed is refused with the command that installs it.
    """
    if name not in BACKENDS:
        raise BackendError(f"Unknown Keras backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    if importlib.util.find_spec(PACKAGES[name]) is None:
        raise BackendError(f"The {name} backend needs the {PACKAGES[name]} package, which is not installed: "
                           f"{INSTALL[name]}.")  # fmt: skip
    if "keras" in sys.modules:
        running = current()
        if running != name:
            raise BackendError(
                f"Keras already runs on {running} in this process, and it reads its backend only once, when it is "
                f"first imported: set KERAS_BACKEND={name} before importing keras or cnnkit (in a notebook, restart "
                f"the kernel first), or run `python -m cnnkit ... --backend {name}`."
            )
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


def gradient(function, inputs) -> tuple[np.ndarray, np.ndarray]:
    """``(value, d value / d inputs)`` of a scalar ``function`` of one tensor, as NumPy arrays,
    by the running backend's own automatic differentiation (``tf.GradientTape``,
    ``jax.value_and_grad`` or ``torch.autograd.grad``).

    ``function`` must be written with Keras models and ``keras.ops`` (so it runs on every
    backend) and return a scalar; ``inputs`` is an array of any shape.
    """
    import keras

    x = keras.ops.convert_to_tensor(np.asarray(inputs, dtype="float32"))
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            value = function(x)
        grads = tape.gradient(value, x)
    elif backend == "jax":
        import jax

        value, grads = jax.value_and_grad(function)(x)
    else:
        import torch

        x = x.detach().requires_grad_(True)
        value = function(x)
        (grads,) = torch.autograd.grad(value, x)
        value = value.detach()
    if grads is None:  # the function does not depend on its input at all
        grads = keras.ops.zeros_like(x)
    return keras.ops.convert_to_numpy(value), keras.ops.convert_to_numpy(grads)


def gpu_count() -> int:
    """How many GPUs the running backend sees."""
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_logical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(device.platform == "gpu" for device in jax.devices())
    import torch

    return torch.cuda.device_count()


def version() -> str:
    """The running backend and its package's version, e.g. ``"jax 0.7.2"``."""
    backend = current()
    module = importlib.import_module(PACKAGES[backend])
    return f"{backend} {module.__version__}"


def devices() -> list[str]:
    """The devices the running backend computes on, as ``"KIND:index"`` strings (``"CPU:0"``,
    ``"GPU:0"``, ``"TPU:3"``), in the backend's own order."""
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        return [f"{device.device_type}:{device.name.rsplit(':', 1)[-1]}" for device in tf.config.list_logical_devices()]
    if backend == "jax":
        import jax

        return [f"{device.platform.upper()}:{device.id}" for device in jax.devices()]
    import torch

    return ["CPU:0"] + [f"GPU:{index}" for index in range(torch.cuda.device_count())]


def forward(model, images) -> np.ndarray:
    """``model(images, training=False)`` as a NumPy array, on any backend (``images``: an array
    or a batch from a ``tf.data`` pipeline)."""
    import keras

    return keras.ops.convert_to_numpy(model(np.asarray(images), training=False))


def weight_gradients(model, loss, inputs) -> list[np.ndarray]:
    """The gradient of ``loss(model(inputs, training=True))`` (a scalar) with respect to every
    trainable variable of ``model``, in ``model.trainable_variables`` order, as NumPy arrays:
    a tape on TensorFlow, ``stateless_call`` under ``jax.grad`` on JAX, autograd on PyTorch."""
    import keras

    x = np.asarray(inputs)
    variables = model.trainable_variables
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(model(x, training=True))
        grads = tape.gradient(value, variables)
    elif backend == "jax":
        import jax

        fixed = [v.value for v in model.non_trainable_variables]

        def of_weights(trainable):
            outputs, _ = model.stateless_call(trainable, fixed, x, training=True)
            return loss(outputs)

        grads = jax.grad(of_weights)([v.value for v in variables])
    else:
        import torch

        value = loss(model(x, training=True))
        grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
    return [np.zeros(v.shape, "float32") if g is None else keras.ops.convert_to_numpy(g)
            for v, g in zip(variables, grads, strict=True)]  # fmt: skip


def run_eagerly(eagerly: bool = True) -> None:
    """Run every compiled step of this process op by op (``True``) or compiled again (``False``):
    Keras' train, test and predict functions and cnnkit's compiled passes (:func:`compiled_inference`).
    TensorFlow: ``tf.config.run_functions_eagerly``, no ``tf.function`` graph is traced or optimized;
    JAX: ``jax_disable_jit``, nothing is compiled by XLA; PyTorch runs op by op anyway. ``tf.data``
    pipelines stay compiled. The notebooks' smoke mode turns it on: for one batch a
    pass, tracing and compiling a step costs far more than running it (issue 36 measured 40 s against
    11 s for one epoch of BN-Inception at 1/8 width on one CPU thread)."""
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.run_functions_eagerly(eagerly)
    elif backend == "jax":
        import jax

        jax.config.update("jax_disable_jit", eagerly)


def runs_eagerly() -> bool:
    """Whether :func:`run_eagerly` is on in this process (always ``True`` on PyTorch)."""
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.functions_run_eagerly()
    if backend == "jax":
        import jax

        return bool(jax.config.jax_disable_jit)
    return True


def compiled_inference(model):
    """A compiled inference-mode forward pass of ``model``, ``images -> outputs`` (NumPy in,
    backend tensor out): ``tf.function`` on TensorFlow, ``jax.jit`` of ``stateless_call`` on JAX,
    and on PyTorch the eager call under ``torch.no_grad()`` (``torch.compile`` takes minutes)."""
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda images: model(images, training=False))
    if backend == "jax":
        import jax

        weights = [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]
        jitted = jax.jit(lambda trainable, fixed, images: model.stateless_call(trainable, fixed, images)[0])
        return lambda images: jitted(*weights, images)
    import torch

    def forward(images):
        with torch.no_grad():
            return model(images, training=False)

    return forward


def training_mode_call(model):
    """``images -> model(images, training=True)``, compiled on TensorFlow (``tf.function``) and
    eager elsewhere; the call updates the model's state (batch-norm moving statistics)."""
    if current() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda images: model(images, training=True))
    return lambda images: model(np.asarray(images), training=True)
