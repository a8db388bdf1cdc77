"""Models taken straight from ``keras.applications``, not rewritten here, and transfer learning.

NASNet-A Mobile and Large (Zoph et al. 2017: cells found by architecture search) are registered
so that they can be built, listed and compared by name like the others. ``weights=None`` by default
(offline); pass ``weights="imagenet"`` to download Keras' ImageNet weights once.

:func:`pretrained` wraps an ImageNet backbone (MobileNetV2, ResNet50, EfficientNetB0, VGG16)
with its own preprocessing inside the model and a new head, registered as
``mobilenet_v2_pretrained`` and friends: how most people apply a CNN to a small dataset.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import ops

from cnnkit.errors import CnnkitError, UnknownNameError
from cnnkit.files import offline, read_hdf5_fully
from cnnkit.models.layers import PACKAGE
from cnnkit.models.registry import ImagenetWeights, Reported, get_spec, list_models, register


@register(
    summary="NASNet-A Mobile (2017): searched cells, from keras.applications, 224x224x3",
    year=2017,
    parameters=5_326_716,
    min_size=32,
    paper="Zoph, Vasudevan, Shlens & Le 2018, Learning transferable architectures for scalable image recognition",
    reported=Reported(top1=74.0, top5=91.6, protocol="Zoph et al. 2018, Table 2: NASNet-A (4 @ 1056)"),
    backends=("tensorflow", "jax"),  # keras.applications.NASNetMobile refuses the torch backend (a Keras bug)
)
def nasnet_mobile(input_shape=(224, 224, 3), num_classes: int = 1000, weights=None) -> keras.Model:
    """``keras.applications.NASNetMobile`` with a softmax head of ``num_classes``."""
    return keras.applications.NASNetMobile(
        weights=weights, input_shape=tuple(input_shape), classes=num_classes
    )


@register(
    summary="NASNet-A Large (2017): searched cells, 6 @ 4032, from keras.applications, 331x331x3",
    year=2017,
    parameters=88_949_818,
    min_size=32,
    paper="Zoph, Vasudevan, Shlens & Le 2018, Learning transferable architectures for scalable image recognition",
    reported=Reported(top1=82.7, top5=96.2, protocol="Zoph et al. 2018, Table 2: NASNet-A (6 @ 4032), 331x331, single crop"),
    backends=("tensorflow", "jax"),  # as NASNet-A Mobile
)
def nasnet_large(input_shape=(331, 331, 3), num_classes: int = 1000, weights=None) -> keras.Model:
    """``keras.applications.NASNetLarge`` with a softmax head of ``num_classes``."""
    return keras.applications.NASNetLarge(
        weights=weights, input_shape=tuple(input_shape), classes=num_classes
    )


# --- NASNet's searched cells, read from the model ------------------------------------------------

_UNNAMED = re.compile(r"(activation|zero_padding2d|cropping2d|add)(_\d+)?")  # layers keras.applications leaves unnamed


def nasnet_cell(model: keras.Model, cell: str) -> tuple[pd.DataFrame, list[str]]:
    """One cell of a keras.applications NASNet, read from the model's own graph as the paper
    draws it (Zoph et al. 2018, Figure 4): every pairwise combination ("block") of the cell, the
    two inputs it combines and the operation applied to each, and what the cell concatenates.

    ``cell``: the suffix of the cell's layer names, e.g. ``"_0"`` (the first Normal cell) or
    ``"_reduce_4"`` (a Reduction cell of NASNet-A Mobile). Inputs are ``"h[i]"`` (the previous
    cell's output, after the cell's 1x1 convolution), ``"h[i-1]"`` (the output of the cell
    before it) or another block. Operations: ``"sep KxK"`` (a stack of two depthwise separable
    convolutions), ``"avg 3x3"`` / ``"max 3x3"`` pooling, or ``"identity"``.
    Returns ``(table, outputs)``: one row per input of a block (``block``, ``input``,
    ``operation``), blocks numbered in the order the model computes them, and the inputs of the
    cell's concatenation.
    """
    names = {layer.name: layer for layer in model.layers}
    kind = "normal" if f"normal_concat{cell}" in names else "reduction"
    if f"{kind}_concat{cell}" not in names:
        raise ValueError(f"{model.name} has no NASNet cell {cell!r} (no layer normal_concat{cell} or "
                         f"reduction_concat{cell}).")  # fmt: skip
    h_name, p_name = f"{kind}_bn_1{cell}", f"adjust_bn{cell}"

    def producer(tensor):
        return tensor._keras_history.operation

    def inputs(layer):
        return list(layer._inbound_nodes[0].input_tensors)

    def entry(layer):  # where a path enters the cell; None while still inside it
        if layer.name == h_name:
            return "h[i]"
        if layer.name == p_name or not (layer.name.endswith(cell) or _UNNAMED.fullmatch(layer.name)):
            return "h[i-1]"
        return None

    def trace(tensor):  # back along one path to an addition or an input of the cell
        steps, layer = [], producer(tensor)
        while entry(layer) is None and not isinstance(layer, keras.layers.Add):
            steps.append(layer)
            layer = producer(inputs(layer)[0])
        return entry(layer) or layer.name, steps

    def operation(steps):
        for layer in steps:
            if isinstance(layer, keras.layers.SeparableConv2D):
                return f"sep {layer.kernel_size[0]}x{layer.kernel_size[1]}"
            if isinstance(layer, keras.layers.AveragePooling2D | keras.layers.MaxPooling2D):
                pool = "avg" if isinstance(layer, keras.layers.AveragePooling2D) else "max"
                return f"{pool} {layer.pool_size[0]}x{layer.pool_size[1]}"
        return "identity"

    outputs = [trace(tensor)[0] for tensor in inputs(names[f"{kind}_concat{cell}"])]
    rows, pending, done = [], list(outputs), set()
    while pending:
        name = pending.pop()
        if name in done or name.startswith("h["):
            continue
        done.add(name)
        for tensor in inputs(names[name]):
            source, steps = trace(tensor)
            rows.append({"block": name, "input": source, "operation": operation(steps)})
            pending.append(source)
    order = {name: index for index, name in enumerate(names)}
    number = {name: f"block {i}" for i, name in enumerate(sorted(done, key=order.get), start=1)}
    table = pd.DataFrame(rows).replace({"block": number, "input": number})
    table = table.sort_values("block", key=lambda column: column.str[6:].astype(int), kind="stable")
    return table.reset_index(drop=True), [number.get(name, name) for name in outputs]


# --- transfer learning: ImageNet backbones with a new head ------------------------------------

class WeightsUnavailableError(CnnkitError, FileNotFoundError):
    """Pretrained weights are not cached and may not (or could not) be downloaded."""


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImagenetPreprocessing(keras.layers.Layer):
    """Bring [0, 1] RGB images to what an ImageNet backbone was trained on, inside the model.

    ``mode``: ``"tf"`` scales to [-1, 1] (MobileNetV2); ``"caffe"`` converts RGB to BGR on the
    0-255 scale and subtracts the ImageNet channel means (ResNet50, VGG16); ``"raw255"`` only
    scales to 0-255 (EfficientNet normalizes inside itself). Being a layer (not a Lambda), the
    step is saved with the model and reloads in Keras' safe mode: a model never meets images
    prepared the wrong way.
    """

    MEANS_BGR = (103.939, 116.779, 123.68)

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("tf", "caffe", "raw255"):
            raise ValueError(f"mode must be 'tf', 'caffe' or 'raw255', got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "tf":
            return inputs * 2.0 - 1.0
        if self.mode == "raw255":
            return inputs * 255.0
        bgr = ops.flip(inputs * 255.0, axis=-1)
        return bgr - ops.convert_to_tensor(self.MEANS_BGR, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def backbones() -> list[str]:
    """The names :func:`pretrained` takes: the registered ``<name>_pretrained`` models, without the suffix."""
    return [name.removesuffix("_pretrained") for name in list_models(pretrained=True)]


def _weights(name: str) -> ImagenetWeights:
    """Where the ImageNet weights of backbone ``name`` come from (its ``<name>_pretrained`` record)."""
    if name not in backbones():
        raise UnknownNameError(f"Unknown backbone {name!r}. Known backbones: {', '.join(backbones())}.")
    return get_spec(f"{name}_pretrained").weights


def keras_models_folder() -> Path:
    """The folder where Keras caches downloaded weights, by the rule Keras documents for
    ``keras.utils.get_file``: ``<Keras home>/models``, Keras' home being ``$KERAS_HOME`` (Keras reads it
    once, at import: set it before importing Keras) or ``~/.keras``, and ``/tmp/.keras`` when that
    folder cannot be written. Public behaviour only; tests/test_hostile_review.py checks that it
    agrees with Keras' own on Colab's Keras and the reference one."""
    import tempfile

    home = os.environ.get("KERAS_HOME")
    if not home:
        user = os.path.expanduser("~")
        home = os.path.join(user if os.access(user, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(base) / "models"


MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)  # the input sizes Keras has MobileNetV2 weights for


def imagenet_weights_file(name: str, input_shape) -> Path:
    """The exact file that ``keras.applications`` loads (or downloads) for the ImageNet weights of
    backbone ``name`` without its top at ``input_shape``: MobileNetV2 has one file per input
    size (96, 128, 160, 192, 224; 224 for any other), the others one file."""
    prefix = _weights(name).file
    if name == "mobilenet_v2":
        rows, cols = int(input_shape[0]), int(input_shape[1])
        size = rows if rows == cols and rows in MOBILENET_V2_SIZES else 224
        if size != rows or size != cols:  # as keras.applications.MobileNetV2 itself warns
            warnings.warn(f"MobileNetV2 has ImageNet weights for square inputs of {', '.join(map(str, MOBILENET_V2_SIZES))} "
                          f"pixels only; at {rows}x{cols} it loads the 224x224 weights, trained at another scale.",
                          stacklevel=3)  # fmt: skip
        return keras_models_folder() / f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5"
    return keras_models_folder() / f"{prefix}.h5"


def _readable_weights(path: Path) -> str | None:
    """``None`` when the HDF5 weights file can be read in full, else what is wrong with it."""
    try:
        arrays = read_hdf5_fully(path)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    return None if arrays else "it holds no weights"


def _damaged(name: str, path: Path, problem: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"The cached ImageNet weights of {name}, {path}, are damaged ({problem}), probably by a download that "
        "was interrupted. Delete that file and run again to download it once more."
    )


def _imagenet_weights(name: str, input_shape) -> str:
    """What to pass as ``weights=`` for ImageNet weights: offline, the path of the cached file
    (checked readable), so that Keras has nothing to download; online, ``"imagenet"``."""
    if not offline():
        return "imagenet"  # Keras finds (or downloads) the file itself, and warns about MobileNetV2's sizes
    path = imagenet_weights_file(name, input_shape)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"The ImageNet weights of {name} at input {tuple(input_shape)[:2]} ({path.name}) are not cached in "
            f"{path.parent} and downloads are disabled ($CNNKIT_OFFLINE). Run once with a network connection, or "
            "pass weights=None (-o weights=none) to train from random weights."
        )
    problem = _readable_weights(path)
    if problem is not None:
        raise _damaged(name, path, problem)
    return str(path)


def pretrained(name: str, num_classes: int = 10, input_shape=(224, 224, 3), weights="imagenet", trainable=False,
               dropout: float = 0.2) -> keras.Model:  # fmt: skip
    """A keras.applications backbone with its preprocessing inside and a new softmax head.

    ``image [0, 1] -> ImagenetPreprocessing -> backbone (no top, global average pooling,
    batch norm always in inference mode) -> dropout -> dense num_classes``. ``name``: a key of
    :func:`backbones` (each registered as ``<name>_pretrained``). ``trainable=False`` freezes the backbone (train the head first, then
    see :func:`cnnkit.recipes.fine_tune`). ``weights="imagenet"`` downloads Keras' weights once
    (cached in :func:`keras_models_folder`); offline (``$CNNKIT_OFFLINE``) Keras is handed the
    exact cached file (:func:`imagenet_weights_file`) and never downloads: a missing file
    raises :class:`WeightsUnavailableError`, and so does a damaged one (naming it, online too).
    ``weights=None`` (or ``"none"``) starts from random weights, e.g. in tests.
    """
    source = _weights(name)
    if not isinstance(trainable, bool):
        raise ValueError(f"trainable must be True or False, got {trainable!r}.")
    weights = None if weights in (None, "none", "None") else weights
    if weights == "imagenet":
        weights = _imagenet_weights(name, input_shape)
    inputs = keras.Input(shape=input_shape, name="image")
    x = ImagenetPreprocessing(source.preprocessing, name="preprocessing")(inputs)
    try:
        backbone = getattr(keras.applications, source.application)(include_top=False, weights=weights,
                                                            input_shape=tuple(input_shape), pooling="avg")  # fmt: skip
    except Exception as error:  # keras' get_file raises a plain Exception("URL fetch failure ...")
        if weights is None:
            raise
        if "fetch" in str(error).lower():
            raise WeightsUnavailableError(
                f"Could not download the ImageNet weights of {name} ({error}). Connect to the internet once, "
                "or pass weights=None to train from random weights."
            ) from None
        path = imagenet_weights_file(name, input_shape) if weights == "imagenet" else Path(weights)
        problem = _readable_weights(path) if path.is_file() else None
        if problem is None:
            raise
        raise _damaged(name, path, problem) from error
    backbone.trainable = trainable
    x = backbone(x, training=False)  # batch norm keeps its ImageNet statistics, even when fine-tuned
    return keras.Model(inputs, _new_head(x, num_classes, dropout), name=f"{name}_pretrained")


def _new_head(features, num_classes: int, dropout: float):
    """Dropout, then a softmax layer of ``num_classes`` (float32, also under mixed precision)."""
    x = keras.layers.Dropout(dropout, name="head_dropout")(features)
    return keras.layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)


def with_new_head(backbone: keras.Model, num_classes: int, dropout: float = 0.2, trainable: bool = False) -> keras.Model:
    """Any feature extractor ``image -> feature vector`` (e.g. a network you trained on another task,
    cut before its classifier) with a new softmax head, in :func:`pretrained`'s form: the backbone is
    one nested layer called in inference mode, so :func:`cnnkit.recipes.fine_tune` trains the head
    first and then unfreezes the backbone's top layers. The backbone's own input scaling is kept.
    """
    if len(backbone.outputs) != 1 or len(backbone.outputs[0].shape) != 2:
        raise ValueError(f"{backbone.name} must output one feature vector per image (batch, features), got "
                         f"{[tuple(output.shape) for output in backbone.outputs]}; cut it after its global pooling.")  # fmt: skip
    backbone.trainable = trainable
    inputs = keras.Input(shape=tuple(backbone.input.shape[1:]), name="image")
    x = backbone(inputs, training=False)
    return keras.Model(inputs, _new_head(x, num_classes, dropout), name=f"{backbone.name}_transfer")


def imagenet_top1(probabilities) -> list[str]:
    """``"name (probability)"`` of the top ImageNet class of each row of ``probabilities``
    ``(n, 1000)``, with Keras' class names (``decode_predictions``, which downloads them once).

    Offline (``$CNNKIT_OFFLINE``) with the names not cached in ``~/.keras/models``, the classes are
    given by number instead (``"ImageNet class 281 (0.61)"``), rather than failing on a download.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != 1000:
        raise ValueError(f"expected (n, 1000) ImageNet probabilities, got shape {probabilities.shape}.")
    if offline() and not (keras_models_folder() / "imagenet_class_index.json").is_file():
        best = probabilities.argmax(axis=1)
        return [f"ImageNet class {i} ({row[i]:.2f})" for row, i in zip(probabilities, best, strict=True)]
    decoded = keras.applications.imagenet_utils.decode_predictions(probabilities, top=1)
    return [f"{top[0][1]} ({top[0][2]:.2f})" for top in decoded]


def find_backbone(model: keras.Model) -> keras.Model:
    """The nested backbone model of a :func:`pretrained` model."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"{model.name} has {len(nested)} nested models; expected one backbone.")
    return nested[0]


# --- the backbones, registered with a new 10-class head (count_params() with 10 classes) ----------


@register(
    summary="keras.applications MobileNetV2 pretrained on ImageNet, new head, 224x224x3 (-o weights=none: random)",
    fixed_input=True,
    fit_input="resize",
    parameters=2_270_794,
    weights=ImagenetWeights(application="MobileNetV2", preprocessing="tf", file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top"),
)
def mobilenet_v2_pretrained(input_shape=(224, 224, 3), num_classes: int = 10, weights="imagenet", trainable=False,
                            dropout: float = 0.2) -> keras.Model:  # fmt: skip
    """:func:`pretrained` ``("mobilenet_v2", ...)``: MobileNetV2 (scales the pixels to [-1, 1]) with a new head."""
    return pretrained("mobilenet_v2", num_classes, input_shape, weights, trainable, dropout)


@register(
    summary="keras.applications ResNet50 pretrained on ImageNet, new head, 224x224x3 (-o weights=none: random)",
    fixed_input=True,
    fit_input="resize",
    parameters=23_608_202,
    weights=ImagenetWeights(application="ResNet50", preprocessing="caffe", file="resnet50_weights_tf_dim_ordering_tf_kernels_notop"),
)
def resnet50_pretrained(input_shape=(224, 224, 3), num_classes: int = 10, weights="imagenet", trainable=False,
                        dropout: float = 0.2) -> keras.Model:  # fmt: skip
    """:func:`pretrained` ``("resnet50", ...)``: ResNet50 (BGR on the 0-255 scale minus the ImageNet means) with a new head."""
    return pretrained("resnet50", num_classes, input_shape, weights, trainable, dropout)


@register(
    summary="keras.applications EfficientNetB0 pretrained on ImageNet, new head, 224x224x3 (-o weights=none: random)",
    fixed_input=True,
    fit_input="resize",
    parameters=4_062_381,
    weights=ImagenetWeights(application="EfficientNetB0", preprocessing="raw255", file="efficientnetb0_notop"),
)
def efficientnet_b0_pretrained(input_shape=(224, 224, 3), num_classes: int = 10, weights="imagenet", trainable=False,
                               dropout: float = 0.2) -> keras.Model:  # fmt: skip
    """:func:`pretrained` ``("efficientnet_b0", ...)``: EfficientNetB0 (0-255 pixels; the network normalizes them itself) with a new head."""
    return pretrained("efficientnet_b0", num_classes, input_shape, weights, trainable, dropout)


@register(
    summary="keras.applications VGG16 pretrained on ImageNet, new head, 224x224x3 (-o weights=none: random)",
    fixed_input=True,
    fit_input="resize",
    parameters=14_719_818,
    weights=ImagenetWeights(application="VGG16", preprocessing="caffe", file="vgg16_weights_tf_dim_ordering_tf_kernels_notop"),
)
def vgg16_pretrained(input_shape=(224, 224, 3), num_classes: int = 10, weights="imagenet", trainable=False,
                     dropout: float = 0.2) -> keras.Model:  # fmt: skip
    """:func:`pretrained` ``("vgg16", ...)``: VGG16 (BGR on the 0-255 scale minus the ImageNet means) with a new head."""
    return pretrained("vgg16", num_classes, input_shape, weights, trainable, dropout)
