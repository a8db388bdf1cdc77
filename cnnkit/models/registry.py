"""Find and build models by name: ``build("lenet5", num_classes=10)``.

Each model family registers its builders with :func:`register`. A builder is a plain
function ``builder(input_shape=..., num_classes=..., **options) -> keras.Model`` that
returns an *uncompiled* functional model with named layers. Its facts live in one place:
the name is the builder's own name (as in timm's ``register_model``), the default input shape
is the default of its ``input_shape`` argument, and everything else (summary, year, paper,
reported ImageNet accuracy, the parameter count, what input it takes, pretrained weights) is
given once to :func:`register`, in one :class:`ModelSpec` record. The command line and the notebooks read them from here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import keras
import pandas as pd

from cnnkit.errors import UnknownNameError

INPUT_KINDS = {
    "images": "images (height, width, channels)",
    "de_grid": "differential-entropy features on the 9x9 scalp grid (9, 9, bands)",
    "eeg_window": "raw EEG windows (time steps, channels)",
    "points": "point clouds (points, 3 coordinates + features)",
    "volumes": "volumes (height, width, depth, channels)",
    "waveforms": "waveforms (samples,) of one channel",
    "characters": "character ids (positions,)",
}

TASK_KINDS = {
    "classification": "one class per example",
    "segmentation": "one class per pixel or voxel",
    "separation": "one waveform per speaker",
    "tagging": "one label per position of a sequence",
}


@dataclass(frozen=True, kw_only=True)
class Reported:
    """ImageNet accuracy as a paper reports it: a citation, not a measurement (cnnkit never trains
    on ImageNet). ``top1`` / ``top5``: percent on the ILSVRC-2012 validation set; ``protocol``:
    paper, table and evaluation protocol (single crop, 10 crops, ...), which differ between papers.
    ``headline``: the figure the architecture is remembered by, when it is another protocol (a
    competition entry, an ensemble, a larger sibling), quoted with that protocol."""

    top1: float
    top5: float | None = None
    protocol: str
    headline: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImagenetWeights:
    """Where a backbone's ImageNet weights come from: the ``keras.applications`` constructor, how it
    wants its pixels (``"tf"``, ``"caffe"`` or ``"raw255"``, see ``ImagenetPreprocessing``) and
    the name of the file Keras caches for it without the top (``<keras home>/models/<file>.h5``)."""

    application: str
    preprocessing: str
    file: str


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Everything cnnkit knows about one model, given once where its builder is defined.

    Attributes:
        name: the registry name, which is the builder function's own name.
        builder: the function that builds it.
        summary: one line for ``python -m cnnkit models``.
        input_shape: the default input shape (the builder's own default).
        fixed_input: True when the builder accepts only ``input_shape`` (e.g. LeNet-5's
            32x32 with its fixed connection table); the data pipeline then brings images to
            that size. Models that accept other sizes have ``fixed_input=False``.
        fit_input: how images of another size are brought to the input the model is built for
            (:func:`cnnkit.fitting.input_options`): ``"pad"`` (centered zero padding, as LeNet-5
            does with MNIST) or ``"resize"``.
        takes: the kind of input, a key of :data:`INPUT_KINDS`.
        year: the year of the paper that introduced the architecture.
        paper: the paper (authors, year, title).
        reported: the ImageNet accuracy the paper reports, with its protocol (:class:`Reported`).
        parameters: ``count_params()`` of the default build (trainable weights and batch-norm
            statistics), stated here so that a listing need not build every model; the tests
            check it against a real build, and the published counts separately.
        weights: for a backbone with downloadable ImageNet weights (its builder takes
            ``weights=``; ``weights=None`` builds it offline), where they come from.
        min_size: the smallest height and width cnnkit builds it for (below it the strided
            layers would leave nothing; the ImageNet families are not meant for less than 32).
        backends: the Keras backends it builds on (all three unless Keras itself lacks one).
        fitted: for a dataset that the paper trained another configuration on, that dataset's name
            -> the registered configuration (PointCNN on MNIST points: ``pointcnn_mnist``), or ->
            the builder options that fit the model to it (U-Net on the 64x64 digit scenes: 'same'
            padding, a narrower base); :func:`cnnkit.fitting.configuration` and
            :func:`cnnkit.fitting.fitted_options` read it.
        task: what it predicts, a key of :data:`TASK_KINDS` (``"classification"``: one class per
            example; ``"segmentation"``: one per pixel or voxel).
        outputs: the builder option that the number of classes of the data goes to (``num_classes``;
            ``speakers`` for a separator, whose "classes" are the sources it writes).
        small_build: builder options (``input_shape`` among them) for a small but complete build,
            every kind of layer present at a fraction of the cost, for checks that run every model
            (the tests, ``bench/``); ``None`` when the default build is small enough or a smaller
            input is all it takes (then the checks shrink the input themselves).
    """

    name: str
    builder: Callable[..., keras.Model]
    summary: str
    input_shape: tuple[int, ...]
    fixed_input: bool = False
    fit_input: str = "resize"
    takes: str = "images"
    year: int | None = None
    paper: str | None = None
    reported: Reported | None = None
    parameters: int | None = None
    min_size: int = 1
    weights: ImagenetWeights | None = None
    backends: tuple[str, ...] = ("tensorflow", "jax", "torch")
    fitted: dict | None = None
    task: str = "classification"
    outputs: str = "num_classes"
    small_build: dict | None = None

    @property
    def pretrained(self) -> bool:
        """True for a backbone with ImageNet weights (a ``*_pretrained`` model)."""
        return self.weights is not None


_REGISTRY: dict[str, ModelSpec] = {}


def default_input_shape(builder) -> tuple[int, ...]:
    """The default of ``builder``'s ``input_shape`` argument."""
    parameter = inspect.signature(builder).parameters.get("input_shape")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise TypeError(f"{builder!r} needs an input_shape argument with a default to be registered.")
    return tuple(parameter.default)


def register(*, summary: str, **facts):
    """Decorator that adds a builder to the registry under the builder's own name, with the
    facts of :class:`ModelSpec` (``summary=`` and any of ``year``, ``paper``, ``reported``,
    ``parameters``, ``fixed_input``, ``fit_input``, ``takes``, ``min_size``, ``weights``)::

        @register(summary="LeNet-5 in its textbook form", year=1998, parameters=61_706)
        def lenet5(input_shape=(28, 28, 1), num_classes=10): ...
    """
    if facts.get("fit_input", "resize") not in {"pad", "resize"}:
        raise ValueError(f"fit_input must be 'pad' or 'resize', got {facts['fit_input']!r}.")
    if facts.get("takes", "images") not in INPUT_KINDS:
        raise ValueError(f"takes must be one of {sorted(INPUT_KINDS)}, got {facts['takes']!r}.")
    if facts.get("task", "classification") not in TASK_KINDS:
        raise ValueError(f"task must be one of {sorted(TASK_KINDS)}, got {facts['task']!r}.")

    def decorator(builder):
        name = getattr(builder, "__name__", "")
        if not name.isidentifier():
            raise TypeError(f"Register a named function (its name becomes the model's name), not {builder!r}.")
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelSpec(name=name, builder=builder, summary=summary,
                                    input_shape=default_input_shape(builder), **facts)  # fmt: skip
        return builder

    return decorator


def natural_key(name: str) -> tuple:
    """A sort key that reads the digits in a name as a number: ``resnet18`` before ``resnet101``, as
    timm and keras.applications list them (``re.split`` alternates text and digits, so the keys compare
    text with text and numbers with numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def list_models(filter: str | Sequence[str] = "*", *, exclude: str | Sequence[str] = (), kind: str | None = None,
                pretrained: bool | None = None, reported: bool | None = None,
                task: str | None = None) -> list[str]:  # fmt: skip
    """The registered model names in natural order (:func:`natural_key`), optionally narrowed down.

    Args:
        filter: a shell-style pattern such as ``"resnet*"`` (or several); names matching any are kept.
        exclude: patterns of names to leave out.
        kind: only models that take this input (a key of :data:`INPUT_KINDS`, e.g. ``"images"``).
        pretrained: only models with (True) or without (False) ImageNet weights.
        reported: only models with (True) or without (False) a reported ImageNet accuracy.
        task: only models that predict this (a key of :data:`TASK_KINDS`, e.g. ``"segmentation"``).
    """
    if kind is not None and kind not in INPUT_KINDS:
        raise ValueError(f"kind must be one of {sorted(INPUT_KINDS)}, got {kind!r}.")
    if task is not None and task not in TASK_KINDS:
        raise ValueError(f"task must be one of {sorted(TASK_KINDS)}, got {task!r}.")
    keep = [filter] if isinstance(filter, str) else list(filter)
    drop = [exclude] if isinstance(exclude, str) else list(exclude)
    return [name for name, spec in sorted(_REGISTRY.items(), key=lambda item: natural_key(item[0]))
            if any(fnmatchcase(name, p) for p in keep) and not any(fnmatchcase(name, p) for p in drop)
            and (kind is None or spec.takes == kind) and (task is None or spec.task == task)
            and (pretrained is None or spec.pretrained == pretrained)
            and (reported is None or (spec.reported is not None) == reported)]  # fmt: skip


def reported_accuracy() -> pd.DataFrame:
    """The ImageNet accuracies the papers report (:class:`Reported`), one row per model that has
    one, indexed by name: ``top1``, ``top5`` (percent), ``source`` (paper, table, protocol) and
    ``headline`` (the figure it is remembered by, with its protocol, or None)."""
    rows = {name: {"top1": spec.reported.top1, "top5": spec.reported.top5, "source": spec.reported.protocol,
                   "headline": spec.reported.headline}
            for name, spec in sorted(_REGISTRY.items(), key=lambda item: natural_key(item[0])) if spec.reported is not None}  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index").astype({"top1": float, "top5": float})


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``name``; unknown names fail with the known ones listed."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(f"Unknown model {name!r}. Known models: {', '.join(list_models())}.") from None


def build(name: str, input_shape=None, num_classes: int | None = None, **options) -> keras.Model:
    """Build the registered model ``name`` (uncompiled).

    Args:
        name: a name from :func:`list_models`.
        input_shape: e.g. ``(height, width, channels)``; defaults to the model's own.
        num_classes: number of output classes (for a separator, of speakers: the record's ``outputs``
            names the option it goes to); defaults to the builder's default.
        **options: passed to the builder (e.g. ``activation="relu"``).
    """
    spec = get_spec(name)
    running = keras.backend.backend()
    if running not in spec.backends:
        raise UnknownNameError(f"{name} does not build on the {running} backend (Keras lacks it there); "
                               f"run it with KERAS_BACKEND={' or '.join(spec.backends)}.")  # fmt: skip
    shape = spec.input_shape if input_shape is None else tuple(None if d is None else int(d) for d in input_shape)
    if spec.fixed_input and shape != spec.input_shape:
        raise ValueError(
            f"{name} takes inputs of shape {spec.input_shape} only, not {shape}. Load the data with "
            f"a matching size (the command line does this), or use a variant that accepts other sizes."
        )
    if spec.takes == "images" and len(shape) == 3 and min(shape[:2]) < spec.min_size:
        raise ValueError(
            f"{name} needs images of at least {spec.min_size}x{spec.min_size} pixels, not "
            f"{shape[0]}x{shape[1]}: its strided layers would shrink smaller ones to nothing. Resize the "
            f"images (load_dataset(..., resize_to={spec.min_size})) or choose a model for small images."
        )
    if num_classes is not None:
        options[spec.outputs] = int(num_classes)
    return spec.builder(input_shape=shape, **options)
