"""Use a trained run: predict new images, evaluate on other data.

A run folder written by ``python -m cnnkit train`` (or by :func:`cnnkit.training.train` plus a
``classes.json``) holds everything needed::

    from cnnkit.inference import load_run, predict_files, evaluate_run
    run = load_run("runs/lenet5-mnist_sample-...")
    table = predict_files(run, ["digit.png", "more_digits/"], top=3)
    metrics = evaluate_run(run, "fashion_mnist")          # writes into a new folder

Images are brought to the model's input exactly as the training pipeline did (decoded,
resized bilinearly with antialiasing, scaled to [0, 1], gray or RGB as the model takes).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from cnnkit import backends, runs
from cnnkit.data import folders
from cnnkit.data.registry import get_dataset, is_folder_dataset
from cnnkit.errors import BadInputFileError, CnnkitError
from cnnkit.files import atomic_path, prepare_folder, printable, write_json
from cnnkit.models.losses import class_probabilities
from cnnkit.runs import Run, load_run  # noqa: F401 (load_run: the first step of this module's API)


def check_output_file(path) -> Path:
    """Check before any work that a file can be written at ``path`` (an existing folder, a path
    under a file, or a folder that cannot be written are refused with one line)."""
    from cnnkit.errors import OutputFolderError

    path = Path(path)
    if path.is_dir():
        raise OutputFolderError(f"{path} is a folder; give a file name for the table, e.g. {path / 'predictions.csv'}.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputFolderError(f"{path} lies under {parent}, which is a file; choose another path.")
    if not path.parent.is_dir():
        raise OutputFolderError(f"The folder {path.parent} of {path} does not exist; create it or choose another path.")
    prepare_folder(path.parent)  # its write probe: a folder that cannot be written is one line too
    return path


def image_paths(sources) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files and folders (searched recursively, see :func:`cnnkit.data.folders.find_images`)
    into image file paths, in order; returns ``(paths, problems)`` where ``problems`` lists the
    subfolders and links that could not be read."""
    paths, problems = [], []
    for source in map(Path, sources):
        if source.is_dir():
            found, found_problems = folders.find_images(source)
            paths += found
            problems += found_problems
        elif source.is_file():
            paths.append(str(source))
        else:
            raise folders.FolderDatasetError(
                f"{printable(source)} does not exist: give image files or folders of images."
            )
    if not paths and not problems:
        shown = ", ".join(printable(source) for source in sources)
        raise folders.FolderDatasetError(f"No image files ({', '.join(folders.IMAGE_SUFFIXES)}) in {shown}.")
    return paths, problems


def takes_points(run: Run) -> bool:
    """True when the run's model takes point clouds ``(points, columns)`` rather than images."""
    return len(run.input_shape) == 2


def files_in(sources, suffixes, what: str) -> list[str]:
    """The files of ``sources`` (files as given; in folders, recursively and sorted, those whose suffix is one
    of ``suffixes``); a source that does not exist, or none found, is refused in one line naming ``what``."""
    paths = []
    for source in map(Path, sources):
        if source.is_dir():
            paths += sorted(str(p) for p in source.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
        elif source.is_file():
            paths.append(str(source))
        else:
            raise folders.FolderDatasetError(f"{printable(source)} does not exist: give {what} or folders of them.")
    if not paths:
        shown = ", ".join(printable(source) for source in sources)
        raise folders.FolderDatasetError(f"No {what} ({', '.join(suffixes)}) in {shown}.")
    return paths


def point_paths(sources) -> list[str]:
    """Point files (:data:`cnnkit.data.point_files.POINT_SUFFIXES`) given as files or found in folders."""
    from cnnkit.data.point_files import POINT_SUFFIXES

    return files_in(sources, POINT_SUFFIXES, "point files")


def read_clouds(run: Run, paths, seed: int = 0) -> np.ndarray:
    """The point files brought to the run's input ``(len(paths), N, columns)`` float32, as its training
    data were: meshes sampled on their surface, coordinates normalized by the training set's rule (its
    record's ``normalization``), and N points drawn (without replacement from a larger cloud, with
    replacement from a smaller one; seeded). Every file is read and checked before any is predicted."""
    from cnnkit.data import point_files
    from cnnkit.data.points import normalize_cloud

    count, columns = run.input_shape
    trained_on = run.settings.get("dataset")
    spec = get_dataset(trained_on) if isinstance(trained_on, str) and not is_folder_dataset(trained_on) else None
    rule = spec.normalization if spec is not None and spec.normalization else "unit_sphere"
    rng = np.random.default_rng(seed)
    clouds = []
    for path in paths:
        cloud = normalize_cloud(point_files.read_point_file(path, columns=columns, count=count, seed=seed), rule)
        chosen = rng.choice(len(cloud), size=count, replace=len(cloud) < count)
        clouds.append(cloud[chosen])
    return np.asarray(clouds, dtype="float32")


def predict_files(run: Run, sources, top: int = 1, batch_size: int = 32) -> pd.DataFrame:
    """Predict the class of every image (or, for a point-cloud model, every point file: ``.npy``,
    ``.ply``, ``.off``, ``.xyz``, see :func:`read_clouds`) in ``sources`` (files or folders).

    Every file is checked first (:func:`cnnkit.data.folders.check_image_files`). Returns one
    row per file and rank: ``path`` (as printable text, see
    :func:`cnnkit.files.printable`), ``rank`` (1 = best), ``class``, ``probability``.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}.")
    if len(run.model.output_shape) > 2:
        raise CnnkitError(f"{run.folder.name} predicts a mask per image, not a class: use predict_mask_files "
                          "(the command line's predict does).")  # fmt: skip
    if takes_points(run):
        paths = point_paths(sources)
        clouds = read_clouds(run, paths)
        scores = np.concatenate([backends.forward(run.model, clouds[i : i + batch_size])
                                 for i in range(0, len(clouds), batch_size)])  # fmt: skip
    else:
        paths, problems = image_paths(sources)
        folders.check_image_files(paths, listing_problems=problems)
        height, width, channels = run.input_shape
        dataset = folders.file_pipeline(paths, np.zeros(len(paths)), (height, width), channels, batch_size)
        scores = np.concatenate([backends.forward(run.model, x) for x, _ in dataset])
    probs = class_probabilities(run.model, scores)
    top = min(top, probs.shape[1])
    order = np.argsort(-probs, axis=1)[:, :top]
    rows = [
        {"path": printable(path), "rank": rank + 1, "class": run.class_names[k],
         "probability": float(probs[i, k])}
        for i, path in enumerate(paths)
        for rank, k in enumerate(order[i])
    ]
    return pd.DataFrame(rows)


def mask_palette(num_classes: int) -> list[int]:
    """The PNG palette of predicted masks, ``[r, g, b, ...]`` per class: background black, then the
    colours :func:`cnnkit.plots.mask_examples` draws the classes in (the pixel value is the class)."""
    from matplotlib import colormaps

    colours = [(0.0, 0.0, 0.0), *colormaps["tab20"].colors[: num_classes - 1]]
    return [round(255 * channel) for colour in colours for channel in colour]


def predict_mask_files(run: Run, sources, out_folder, batch_size: int = 32) -> pd.DataFrame:
    """For a segmentation run: every image in ``sources`` (files or folders, each checked first)
    brought to the run's input, its predicted mask brought back to the image's own size (nearest
    neighbour) and written to ``out_folder`` as a palette PNG whose pixel values are the class
    indices (``<name>.png``, ``<name>-2.png`` for a second file of that name). One row per image:
    ``path``, ``mask`` (the file written) and ``classes`` (those present, largest share first)."""
    from PIL import Image

    paths, problems = image_paths(sources)
    folders.check_image_files(paths, listing_problems=problems)
    out = prepare_folder(out_folder)
    height, width, channels = run.input_shape
    dataset = folders.file_pipeline(paths, np.zeros(len(paths)), (height, width), channels, batch_size)
    masks = np.concatenate([np.asarray(backends.forward(run.model, x)).argmax(axis=-1) for x, _ in dataset])
    palette, rows, taken = mask_palette(len(run.class_names)), [], set()
    for path, mask in zip(paths, masks, strict=True):
        with Image.open(path) as original:
            size = original.size
        picture = Image.fromarray(mask.astype(np.uint8), mode="P").resize(size, Image.Resampling.NEAREST)
        picture.putpalette(palette)
        stem, number = Path(path).stem, 1
        while (name := f"{stem}.png" if number == 1 else f"{stem}-{number}.png") in taken:
            number += 1
        taken.add(name)
        with atomic_path(out / name) as temporary:
            picture.save(temporary)
        counts = np.bincount(np.asarray(picture).ravel(), minlength=len(run.class_names))
        present = [f"{run.class_names[k]} {counts[k] / counts.sum():.1%}" for k in np.argsort(-counts) if counts[k]]
        rows.append({"path": printable(path), "mask": printable(out / name), "classes": ", ".join(present)})
    return pd.DataFrame(rows)


def evaluate_run(run: Run, dataset: str, out_dir=None, batch_size: int = 128) -> dict:
    """Evaluate a run's model on ``dataset`` (a name or an image folder) and write
    ``metrics.json``, ``report.csv`` and ``confusion_matrix.png`` into ``out_dir`` (default
    ``RUN/evaluations/<dataset>-<time>``), a new folder: the run's own files are never touched.
    For an image folder the whole folder is evaluated; for a named dataset its test split.
    A folder that holds a training run is refused, and the folder is locked while it is written
    (:func:`cnnkit.files.folder_lock`).
    """
    name = Path(dataset).name if is_folder_dataset(dataset) else dataset
    out = Path(out_dir) if out_dir is not None else runs.default_evaluation_folder(run.folder, name)
    # The lock keeps a training run (or a second evaluation) out of the folder while it is written.
    with runs.evaluation_folder(out):
        return _evaluate_into(run, dataset, out, batch_size)


def _evaluate_into(run: Run, dataset, out: Path, batch_size: int) -> dict:
    """:func:`evaluate_run`'s work, in the locked folder ``out``."""
    from cnnkit.data.loading import load_dataset
    from cnnkit.tasks import scored_classes, task_of

    notice = None
    if is_folder_dataset(dataset):
        if takes_points(run):
            raise CnnkitError(f"{run.folder.name} takes point clouds; evaluate it on a point set (mnist_points, "
                              "solids_synthetic, modelnet10, modelnet40), not on a folder of images.")  # fmt: skip
        height, width, channels = run.input_shape
        found = folders.scan_folder(dataset)
        folders.check_image_files(found.paths, listing_problems=found.problems)
        class_names = found.class_names
        data = folders.file_pipeline(found.paths, found.labels, (height, width), channels, batch_size)
    else:
        loaded = load_dataset(dataset, batch_size=batch_size, **_fit_options(run, dataset))
        class_names, data = loaded.info.class_names, loaded.test
        notice = f"SYNTHETIC data ({loaded.info.name})" if loaded.info.synthetic else None
    if tuple(class_names) != tuple(run.class_names):
        raise CnnkitError(
            f"{dataset} has the classes {list(class_names)} but the model was trained on {list(run.class_names)}; "
            "evaluate on data with the same classes."
        )
    task = task_of(run.model)
    scored = None
    if not is_folder_dataset(dataset):
        check_task_of_run(run, task, dataset)
        scored = scored_classes(len(class_names), get_dataset(dataset).background_class)
    result = task.evaluate(run.model, data, class_names, scored)
    result.write(out, notice)  # an evaluation on SYNTHETIC data says so on its figures, as a training run does
    metrics = {"run": str(run.folder), "dataset": str(dataset), "task": task.name, "headline": task.headline,
               task.headline: result.headline, "examples": result.examples,
               **{key.removeprefix("test_"): value for key, value in result.summary.items()}}  # fmt: skip
    write_json(out / runs.METRICS, metrics)
    return {**metrics, "folder": str(out)}


def check_task_of_run(run: Run, task, dataset: str) -> None:
    """Refuse, in one line, to evaluate a run's model on a dataset of another task kind."""
    carried = get_dataset(dataset).task
    if carried != task.name:
        raise CnnkitError(f"{run.folder.name} is a {task.name} model but {dataset} carries {carried} labels; "
                          f"evaluate it on a {task.name} dataset.")  # fmt: skip


def _fit_options(run: Run, dataset: str) -> dict:
    """``load_dataset`` options that bring a named dataset to the run's model input
    (:func:`cnnkit.fitting.input_options`, with the input the model was trained on)."""
    from cnnkit.errors import UnknownNameError
    from cnnkit.fitting import image_options, input_options
    from cnnkit.models import list_models

    spec = get_dataset(dataset)  # an unknown name fails here
    if spec.kind == "points" or takes_points(run):
        model = run.settings.get("model")
        return input_options(model, dataset) if model in list_models() else {}
    if spec.kind in ("waveforms", "characters"):
        return {}
    if spec.kind != "images":
        raise UnknownNameError(f"evaluate takes an image dataset or a folder of images, not {dataset!r} "
                               "(DEAP runs are evaluated by train, on their test subjects' trials).")  # fmt: skip
    model = run.settings.get("model")
    if model in list_models():
        return input_options(model, dataset, input_shape=run.input_shape)
    return image_options(spec.native_shape, run.input_shape, model=run.folder.name, dataset=dataset)


# --- separation: WAV files in, one WAV file per speaker out ------------------------------------------


def separator_for(run: Run, samples: int) -> tuple[keras.Model, int]:
    """The run's separator for a mixture of ``samples`` samples and the length to zero-pad it to: its own
    model when the mixture fits its input (or its input takes any length), else the same network rebuilt
    for any length with the run's weights (no weight of a convolutional separator depends on the length)."""
    from cnnkit.fitting import configuration, fitted_options
    from cnnkit.models import build, list_models
    from cnnkit.models.tasnet import valid_length

    length = run.model.input_shape[1]
    if length is not None and samples <= length:
        return run.model, length
    needed = valid_length(samples, run.model.get_layer("encoder").kernel_size[0])
    if length is None:
        return run.model, needed
    model, dataset = run.settings.get("model"), run.settings.get("dataset")
    if model not in list_models():
        raise CnnkitError(f"{run.folder.name} separates {length:,} samples at a time and records no registered model "
                          f"to rebuild for a {samples:,}-sample file; cut the file into pieces of at most {length:,}.")  # fmt: skip
    options = {**fitted_options(model, dataset), **dict(run.settings.get("option") or [])}
    rebuilt = build(configuration(model, dataset), input_shape=(None,), num_classes=len(run.class_names), **options)
    rebuilt.set_weights(run.model.get_weights())
    return rebuilt, needed


def separate_files(run: Run, sources, out_folder, rate: int = 8000) -> pd.DataFrame:
    """For a separation run: every WAV file in ``sources`` (files or folders; each read and checked first,
    :func:`cnnkit.data.wav_files.read_wav`, at the run's ``rate``) separated into one WAV file per speaker
    in ``out_folder`` (``<name>-<speaker>.wav``, 16-bit PCM, each estimate scaled to the mixture's peak:
    SI-SNR does not fix the scale of an estimate). One row per file and speaker: ``path``, ``speaker``,
    ``wav`` (the file written) and ``seconds``."""
    from cnnkit.data.wav_files import read_wav, write_wav

    paths = files_in(sources, (".wav",), "WAV files")
    waves = [read_wav(path, rate) for path in paths]  # every file checked before any is separated
    out = prepare_folder(out_folder)
    rows, taken = [], set()
    for path, wave in zip(paths, waves, strict=True):
        model, padded_length = separator_for(run, len(wave))
        padded = np.zeros((1, padded_length), "float32")
        padded[0, : len(wave)] = wave
        estimates = np.asarray(backends.forward(model, padded))[0, :, : len(wave)]
        stem, number = Path(path).stem, 1
        while (name := stem if number == 1 else f"{stem}-{number}") in taken:
            number += 1
        taken.add(name)
        peak = float(np.abs(wave).max()) or 1.0
        for speaker, estimate in zip(run.class_names, estimates, strict=True):
            target = out / f"{name}-{speaker.replace(' ', '')}.wav"
            write_wav(target, estimate * peak / max(float(np.abs(estimate).max()), 1e-9), rate)
            rows.append({"path": printable(path), "speaker": speaker, "wav": printable(target),
                         "seconds": round(len(wave) / rate, 3)})  # fmt: skip
    return pd.DataFrame(rows)


# --- tagging: text files in, the text with its punctuation and capitals restored out --------------------

MAX_TEXT_BYTES = 10_000_000


def read_text_file(path) -> str:
    """The UTF-8 text of ``path``, refused in one line naming the file when it is not UTF-8 or larger than
    :data:`MAX_TEXT_BYTES`."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise BadInputFileError(f"{printable(path)}: {size:,} bytes, above the limit of {MAX_TEXT_BYTES:,} "
                                "for a text to tag; split it into smaller files.")  # fmt: skip
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BadInputFileError(f"{printable(path)}: not UTF-8 text ({error.reason} at byte {error.start}); "
                                "save it as UTF-8.") from None  # fmt: skip


def tag_files(run: Run, sources) -> pd.DataFrame:
    """For a tagging run: every text file in ``sources`` (files, or ``*.txt`` in folders) tagged as the
    run's dataset labels text. A punctuation run (``pydoc_punctuation``) reads the text lowercased and
    stripped of its marks, as its training input was, and puts capitals and marks back (:func:`restore_text`);
    a part-of-speech run (``ud_ewt_pos``) writes every word as ``word/UPOS``
    (:func:`cnnkit.data.treebank.tag_text`). One row per file: ``path``, ``input`` (what the model read)
    and ``output``."""
    from cnnkit.data import treebank

    tag = treebank.tag_text if run.settings.get("dataset") == "ud_ewt_pos" else restore_text
    paths = files_in(sources, (".txt",), "text files")
    texts = [read_text_file(path) for path in paths]  # every file read before any is tagged
    rows = [{"path": printable(path), **dict(zip(("input", "output"), tag(run.model, text), strict=True))}
            for path, text in zip(paths, texts, strict=True)]  # fmt: skip
    return pd.DataFrame(rows)


def restore_text(model: keras.Model, text: str) -> tuple[str, str]:
    """``(input, restored)``: ``text`` lowercased and stripped of its marks as the punctuation set's inputs
    are (:func:`cnnkit.data.punctuation.strip_and_label`), cut into the tagger's windows (the last one
    padded), tagged, and its capitals and marks put back (:func:`cnnkit.data.punctuation.restore`)."""
    from cnnkit.data.punctuation import encode, restore, strip_and_label
    from cnnkit.evaluation import predict_tags

    plain, _ = strip_and_label(" ".join(text.split()))
    ids = encode(plain)
    length = model.input_shape[1]
    windows = np.zeros((max(1, -(-len(ids) // length)), length), "int32")
    windows.ravel()[: len(ids)] = ids
    labels = predict_tags(model, windows, (windows > 0).astype("float32")).ravel()[: len(ids)]
    return plain, restore(plain, labels)
