"""Datasets: image classification sets as ``tf.data`` pipelines.

>>> from cnnkit.data import load_dataset
>>> data = load_dataset("digits")           # offline: scikit-learn's handwritten digits
>>> data.info.class_names, data.info.input_shape
"""

from cnnkit.data.images import (
    DatasetInfo,
    ImageDataset,
    list_datasets,
    load_arrays,
    load_dataset,
    make_pipeline,
)

__all__ = [
    "DatasetInfo",
    "ImageDataset",
    "list_datasets",
    "load_arrays",
    "load_dataset",
    "make_pipeline",
]
