"""cnnkit: classic convolutional networks in Keras 3, to learn from and to use.

The public API, importable from the top level::

    import cnnkit
    data = cnnkit.load_dataset("digits")
    model = cnnkit.build("lenet5", num_classes=data.info.num_classes)
    history = cnnkit.train(model, data.train, data.validation, epochs=20)

Submodules: ``cnnkit.data``, ``cnnkit.models``, ``cnnkit.training``, ``cnnkit.evaluation``,
``cnnkit.plots``, ``cnnkit.inspect``. They are imported on first use (TensorFlow is large),
so ``import cnnkit`` itself is instant.
"""

from importlib import import_module

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "build": "cnnkit.models",
    "list_models": "cnnkit.models",
    "load_dataset": "cnnkit.data",
    "list_datasets": "cnnkit.data",
    "train": "cnnkit.training",
    "training_scope": "cnnkit.training",
    "evaluate_classifier": "cnnkit.evaluation",
    "layer_table": "cnnkit.inspect",
    "set_seed": "cnnkit.seed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
