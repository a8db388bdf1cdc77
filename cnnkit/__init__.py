"""cnnkit: classic convolutional networks in Keras 3, to learn from and to use.

The public API, importable from the top level::

    import cnnkit
    data = cnnkit.load_dataset("digits")
    model = cnnkit.build("lenet5", num_classes=data.info.num_classes)
    history = cnnkit.train(model, data.train, data.validation, epochs=20)

Submodules: ``cnnkit.data``, ``cnnkit.models``, ``cnnkit.training``, ``cnnkit.evaluation``,
``cnnkit.plots``, ``cnnkit.arithmetic``; they are imported on first use.

``import cnnkit`` registers every custom layer, loss and metric of cnnkit with Keras, so a
saved model loads anywhere with plain Keras::

    import cnnkit, keras
    model = keras.saving.load_model("runs/.../model.keras", safe_mode=True)

(That imports Keras and TensorFlow. Worker processes started by ``multiprocessing``, such as
the EEG feature workers, skip it and stay light, and so does any process started with
``CNNKIT_LIGHT_IMPORT=1``, e.g. one that only reads data files; ``import cnnkit.models``
registers the objects there.)
"""

import multiprocessing
import os
from importlib import import_module

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "build": "cnnkit.models",
    "list_models": "cnnkit.models",
    "load_dataset": "cnnkit.data",
    "list_datasets": "cnnkit.data",
    "train": "cnnkit.training",
    "training_scope": "cnnkit.distribute",
    "evaluate_classifier": "cnnkit.evaluation",
    "layer_table": "cnnkit.arithmetic",
    "set_seed": "cnnkit.seed",
}

__all__ = sorted(_EXPORTS)


def register_custom_objects() -> None:
    """Register cnnkit's custom Keras layers, losses and metrics (idempotent)."""
    import_module("cnnkit.models")  # the layers, and ZeroPadShortcut, MixedDepthwiseConv2D, ...
    import_module("cnnkit.recipes")  # SmoothedSparseCategoricalCrossentropy, which models saved before 2026-12 name
    for module in ("segmentation", "separation", "tagging"):  # the task records' losses and metrics
        import_module(f"cnnkit.{module}")
    import_module("cnnkit.lesions")  # PathGate, in models whose paths were switched off


_LIGHT = os.environ.get("CNNKIT_LIGHT_IMPORT", "").strip().lower() in {"1", "true", "yes"}
if multiprocessing.parent_process() is None and not _LIGHT:  # not in a worker or light process
    register_custom_objects()


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
