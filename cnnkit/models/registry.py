"""Find and build models by name: ``build("lenet5", num_classes=10)``.

Each model family registers its builders with :func:`register`. A builder is a plain
function ``builder(input_shape=..., num_classes=..., **options) -> keras.Model`` that
returns an *uncompiled* functional model with named layers. Its facts live in one place:
the default input shape is the default of the builder's own ``input_shape`` argument, and
everything else (summary, year, the published parameter count, what input it takes) is
given once to :func:`register`. The command line and the notebooks read them from here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras

from cnnkit.errors import UnknownNameError

INPUT_KINDS = {
    "images": "images (height, width, channels)",
    "de_grid": "differential-entropy features on the 9x9 scalp grid (9, 9, bands)",
    "eeg_window": "raw EEG windows (time steps, channels)",
}


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    Attributes:
        name: the registry name.
        builder: the function that builds it.
        summary: one line for ``python -m cnnkit models``.
        input_shape: the default input shape (the builder's own default).
        fixed_input: True when the builder accepts only ``input_shape`` (e.g. LeNet-5's
            32x32 with its fixed connection table); the data pipeline then brings images to
            that size. Models that accept other sizes have ``fixed_input=False``.
        fit_input: how images are brought to a fixed ``input_shape``: ``"pad"`` (centered
            zero padding, as LeNet-5 does with MNIST) or ``"resize"``.
        takes: the kind of input, a key of :data:`INPUT_KINDS`.
        year: the year of the paper that introduced the architecture.
        parameters: ``count_params()`` of the default build (trainable weights and batch-norm
            statistics), stated here so that a listing need not build every model; the tests
            check it against a real build, and the published counts separately.
        pretrained: True for a backbone with downloadable ImageNet weights (its builder takes
            ``weights=``; ``weights=None`` builds it offline).
        min_size: the smallest height and width cnnkit builds it for (below it the strided
            layers would leave nothing; the ImageNet families are not meant for less than 32).
    """

    name: str
    builder: Callable[..., keras.Model]
    summary: str
    input_shape: tuple[int, ...]
    fixed_input: bool = False
    fit_input: str = "resize"
    takes: str = "images"
    year: int | None = None
    parameters: int | None = None
    min_size: int = 1
    pretrained: bool = False


_REGISTRY: dict[str, ModelSpec] = {}


def default_input_shape(builder) -> tuple[int, ...]:
    """The default of ``builder``'s ``input_shape`` argument (works for ``functools.partial``)."""
    parameter = inspect.signature(builder).parameters.get("input_shape")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise TypeError(f"{builder!r} needs an input_shape argument with a default to be registered.")
    return tuple(parameter.default)


def register(name: str, *, summary: str, fixed_input=False, fit_input="resize", takes="images",
             year=None, parameters=None, min_size=1, pretrained=False):  # fmt: skip
    """Decorator that adds a builder to the registry under ``name`` (see :class:`ModelSpec`)."""
    if fit_input not in {"pad", "resize"}:
        raise ValueError(f"fit_input must be 'pad' or 'resize', got {fit_input!r}.")
    if takes not in INPUT_KINDS:
        raise ValueError(f"takes must be one of {sorted(INPUT_KINDS)}, got {takes!r}.")

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelSpec(name, builder, summary, default_input_shape(builder), fixed_input,
                                    fit_input, takes, year, parameters, min_size, pretrained)  # fmt: skip
        return builder

    return decorator


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def imagenet_models() -> list[str]:
    """The image models built for ImageNet-size input (at least 200 pixels by default; the
    ``*_pretrained`` wrappers and the one-channel ``alexnet_textbook`` left out), with
    ``lenet5_classic`` first as the historical baseline: the family notebook 07 compares."""
    family = [name for name, spec in sorted(_REGISTRY.items())
              if spec.takes == "images" and not spec.pretrained and name != "alexnet_textbook"
              and min(spec.input_shape[:2]) >= 200]  # fmt: skip
    return ["lenet5_classic", *family]


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
        num_classes: number of output classes; defaults to the builder's default.
        **options: passed to the builder (e.g. ``activation="relu"``).
    """
    spec = get_spec(name)
    shape = spec.input_shape if input_shape is None else tuple(int(d) for d in input_shape)
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
        options["num_classes"] = int(num_classes)
    return spec.builder(input_shape=shape, **options)
