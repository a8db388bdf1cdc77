"""Datasets: image classification sets as ``tf.data`` pipelines, and DEAP's EEG recordings.

One record per dataset in :mod:`cnnkit.data.registry`; one front door,
:func:`cnnkit.data.loading.load_dataset`, for a name or the path of an image folder.

>>> from cnnkit.data import load_dataset
>>> data = load_dataset("digits")           # offline: scikit-learn's handwritten digits
>>> data.info.class_names, data.info.input_shape

The names below are imported on first use, so the EEG modules (``cnnkit.data.deap``,
``cnnkit.data.eeg_features``) load without TensorFlow, e.g. in worker processes.
"""

from importlib import import_module

_EXPORTS = {
    "Dataset": "cnnkit.data.base",
    "DatasetInfo": "cnnkit.data.base",
    "ImageDataset": "cnnkit.data.base",
    "DatasetSpec": "cnnkit.data.registry",
    "get_dataset": "cnnkit.data.registry",
    "list_datasets": "cnnkit.data.registry",
    "load_arrays": "cnnkit.data.images",
    "load_dataset": "cnnkit.data.loading",
    "make_pipeline": "cnnkit.data.images",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnnkit.data' has no attribute {name!r}")
