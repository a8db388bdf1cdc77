"""Datasets: image classification sets as ``tf.data`` pipelines, and DEAP's EEG recordings.

>>> from cnnkit.data import load_dataset
>>> data = load_dataset("digits")           # offline: scikit-learn's handwritten digits
>>> data.info.class_names, data.info.input_shape

The names below are imported on first use, so the EEG modules (``cnnkit.data.deap``,
``cnnkit.data.eeg_features``) load without TensorFlow, e.g. in worker processes.
"""

from importlib import import_module

_EXPORTS = {
    name: "cnnkit.data.images"
    for name in (
        "DatasetInfo",
        "ImageDataset",
        "list_datasets",
        "load_arrays",
        "load_dataset",
        "make_pipeline",
    )
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnkit.data' has no attribute {name!r}")
