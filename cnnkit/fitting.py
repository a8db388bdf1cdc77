"""One rule for feeding a dataset to a model: a model record and a dataset record in, the
``load_dataset`` options out (pad, resize, channels; for DEAP, which input kind).

The command line (training and evaluation), inference and the notebooks all call
:func:`input_options`, so a dataset reaches a model the same way everywhere:

- EEG goes only to models that take EEG (as DE grids or raw windows), images only to image models.
- A folder of your own images is resized to the model's input (its default, or ``input_shape``).
- A built-in image set reaches a model that accepts any size as it is, unless ``input_shape``
  asks for another; otherwise it is padded (centered zeros: the model's record says
  ``fit_input="pad"``, as LeNet-5 pads MNIST's 28x28 to 32x32) or resized (bilinear), and gray
  images are repeated into three channels for a colour model. Colour images are never turned
  gray behind the user's back: that is refused with the fix.
"""

from __future__ import annotations

from cnnkit.data.registry import get_dataset, list_datasets
from cnnkit.errors import CnnkitError, UnknownNameError
from cnnkit.models.registry import INPUT_KINDS, TASK_KINDS, get_spec, list_models


def input_options(model: str, dataset, input_shape=None) -> dict:
    """``load_dataset`` options that bring ``dataset`` (a name or a folder path) to ``model``.

    Args:
        model: a registry name (:func:`cnnkit.models.list_models`).
        dataset: a dataset name (:func:`cnnkit.data.list_datasets`) or an image folder's path.
        input_shape: the input the model was (or will be) built for, e.g. a trained model's
            ``model.input_shape[1:]``; default: the model's own when its input is fixed (and for
            folders), else the dataset's images as they are.

    Returns e.g. ``{}``, ``{"pad_to": 32}``, ``{"resize_to": (224, 224), "channels": 3}`` or, for
    DEAP, ``{"kind": "de_grid"}``. Raises :class:`UnknownNameError` for EEG and image models
    and datasets that do not match, and :class:`CnnkitError` for colour images and a gray model.
    """
    spec, data = get_spec(model), get_dataset(dataset)
    check_task(model, dataset)
    if (data.kind == "points") != (spec.takes == "points"):
        points_models = ", ".join(n for n in list_models() if get_spec(n).takes == "points")
        if data.kind == "points":
            raise UnknownNameError(f"{model} takes {INPUT_KINDS[spec.takes]}, but {dataset} holds point clouds; "
                                   f"train a point-cloud model on it: {points_models}.")  # fmt: skip
        raise UnknownNameError(f"{model} takes point clouds, but {dataset} holds {data.kind}; train it on a point "
                               "set: mnist_points, solids_synthetic, modelnet10 or modelnet40.")  # fmt: skip
    if data.kind == "points":
        return {}
    if data.kind in ("waveforms", "characters") or spec.takes in ("waveforms", "characters"):
        if DATA_KIND_FOR_INPUT[spec.takes] != data.kind:
            fitting = ", ".join(n for n in list_models() if DATA_KIND_FOR_INPUT[get_spec(n).takes] == data.kind)
            raise UnknownNameError(f"{model} takes {INPUT_KINDS[spec.takes]}, but {dataset} holds {data.kind}; "
                                   f"train a model that takes them on it: {fitting or 'none is registered'}.")  # fmt: skip
        return {}
    if data.kind == "eeg":
        if spec.takes == "images":
            raise UnknownNameError(
                f"{model} takes images, but {dataset} holds EEG; train an EEG model on it: "
                f"{', '.join(n for n in list_models() if get_spec(n).takes != 'images')}."
            )
        return {"kind": spec.takes}
    if spec.takes != "images":
        raise UnknownNameError(
            f"{model} takes {INPUT_KINDS[spec.takes]}, not images, so it cannot train on "
            f"{dataset}. Train it with --dataset deap (DEAP's files in data/deap/) or --dataset deap_synthetic."
        )
    target = tuple(input_shape) if input_shape is not None else None
    if data.kind == "folder":
        target = target or spec.input_shape
        return {"resize_to": tuple(target[:2]), "channels": target[2]}
    if target is None and spec.fixed_input:
        target = spec.input_shape
    if target is None:
        return {}
    return image_options(data.native_shape, target, spec.fit_input, model, dataset)


# Which kind of dataset record (DatasetSpec.kind) holds each input kind of the model records.
DATA_KIND_FOR_INPUT = {"images": "images", "points": "points", "de_grid": "eeg", "eeg_window": "eeg",
                       "volumes": "volumes", "waveforms": "waveforms", "characters": "characters"}  # fmt: skip


def check_task(model: str, dataset) -> None:
    """Refuse, in one line naming both, a model and a dataset of different task kinds (a segmentation
    network on a set of class labels, a classifier on masks), with the datasets the model can use."""
    spec, data = get_spec(model), get_dataset(dataset)
    if spec.task == data.task:
        return
    fitting = [name for name in list_datasets() if get_dataset(name).task == spec.task
               and get_dataset(name).kind == DATA_KIND_FOR_INPUT.get(spec.takes)]  # fmt: skip
    fix = (f"train it on {', '.join(fitting)}" if fitting else
           f"no registered dataset carries {TASK_KINDS[spec.task]} labels yet")  # fmt: skip
    raise UnknownNameError(f"{model} predicts {TASK_KINDS[spec.task]} ({spec.task}), but {dataset} carries "
                           f"{TASK_KINDS[data.task]} ({data.task}); {fix}.")  # fmt: skip


def _fitted_key(dataset):
    """The key a model record's ``fitted`` uses for ``dataset``: its name, or ``"PATH"`` for a folder of
    your own (``--dataset ./my_images``), whichever folder it is."""
    if isinstance(dataset, str) and dataset in list_datasets():
        return dataset
    return "PATH" if get_dataset_or_none(dataset) is not None else None


def get_dataset_or_none(dataset):
    """:func:`get_dataset`'s record for a folder path, else None (a name that is not a folder)."""
    from cnnkit.data.registry import is_folder_dataset

    return get_dataset(dataset) if is_folder_dataset(dataset) else None


def configuration(model: str, dataset) -> str:
    """The registered configuration of ``model`` for ``dataset``: the one the paper trained on that
    dataset when the model's record names one (``pointcnn`` on ``mnist_points`` is ``pointcnn_mnist``,
    :attr:`ModelSpec.fitted`), else ``model`` itself."""
    fitted = (get_spec(model).fitted or {}).get(_fitted_key(dataset), model)
    return fitted if isinstance(fitted, str) else model


def fitted_options(model: str, dataset) -> dict:
    """Builder options the model's record fits to ``dataset`` (:attr:`ModelSpec.fitted` mapping the
    dataset to options instead of to another registered name): ``unet`` on ``mnist_scenes`` is
    ``{"padding": "same", "base_width": 8}``, on a folder of your own (``"PATH"`` in the record)
    ``{"padding": "same"}``; ``{}`` when there are none. Options given by the user override them;
    ``build(model)`` itself stays the published network."""
    fitted = (get_spec(model).fitted or {}).get(_fitted_key(dataset))
    return dict(fitted) if isinstance(fitted, dict) else {}


def image_options(native, target, fit_input: str = "resize", model: str = "the model", dataset: str = "the dataset"):
    """The image part of :func:`input_options`: ``load_dataset`` options that bring images of
    shape ``native`` to ``target`` (both ``(height, width, channels)``), padding when
    ``fit_input == "pad"`` and the images fit inside a square target, else resizing."""
    native, target = tuple(native), tuple(target)
    if target == native:
        return {}
    options = {}
    if native[2] == 1 and target[2] == 3:  # gray digits into an RGB network: repeat the channel
        options["channels"] = 3
    elif native[2] != target[2]:
        raise CnnkitError(
            f"{model} takes {target[2]}-channel images but {dataset} has {native[2]} channels; "
            f"choose a {'grayscale' if target[2] == 1 else 'colour'} dataset."
        )
    if native[:2] != target[:2]:
        pad = fit_input == "pad" and target[0] == target[1] and target[0] >= max(native[:2])
        options.update({"pad_to": target[0]} if pad else {"resize_to": tuple(target[:2])})
    return options
