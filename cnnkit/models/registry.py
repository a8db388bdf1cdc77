"""Find and build models by name: ``build("lenet5", num_classes=10)``.

Each model family registers its builders with :func:`register`. A builder is a plain
function ``builder(input_shape=..., num_classes=..., **options) -> keras.Model`` that
returns an *uncompiled* functional model with named layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from cnnkit.errors import UnknownNameError


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    Attributes:
        name: the registry name.
        builder: the function that builds it.
        summary: one line for ``python -m cnnkit models``.
        input_shape: the default ``(height, width, channels)``.
        fixed_input: True when only ``input_shape`` is allowed (paper-exact models).
        fit_input: how a smaller or larger image is brought to ``input_shape`` by the data
            pipeline: ``"pad"`` (centered zero padding, as LeNet-5 does with MNIST) or
            ``"resize"``.
    """

    name: str
    builder: Callable[..., keras.Model]
    summary: str
    input_shape: tuple[int, int, int]
    fixed_input: bool = False
    fit_input: str = "resize"


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, *, summary: str, input_shape, fixed_input=False, fit_input="resize"):
    """Decorator that adds a builder to the registry under ``name``."""
    if fit_input not in {"pad", "resize"}:
        raise ValueError(f"fit_input must be 'pad' or 'resize', got {fit_input!r}.")

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelSpec(name, builder, summary, tuple(input_shape), fixed_input, fit_input)
        return builder

    return decorator


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


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
        input_shape: ``(height, width, channels)``; defaults to the model's own.
        num_classes: number of output classes; defaults to the builder's default.
        **options: passed to the builder (e.g. ``activation="relu"``).
    """
    spec = get_spec(name)
    shape = spec.input_shape if input_shape is None else tuple(int(d) for d in input_shape)
    if spec.fixed_input and shape != spec.input_shape:
        raise ValueError(
            f"{name} is built as published and takes inputs of shape {spec.input_shape}, "
            f"not {shape}. Load the data with a matching size (the command line does this), "
            f"or use a variant that accepts other sizes."
        )
    if num_classes is not None:
        options["num_classes"] = int(num_classes)
    return spec.builder(input_shape=shape, **options)
