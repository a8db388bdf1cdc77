"""DEAP through the same front door as the images: ``load_eeg_dataset("deap", "de_grid")``.

Two inputs, the two kinds of EEG models in the registry:

- ``"de_grid"``: differential-entropy features of 1 s segments on the 9x9 scalp grid, 4 bands
  (``ccnn``, ``eeg_mlp``); labels: valence high (rating > 5) or low.
- ``"eeg_window"``: raw EEG windows ``(time steps, 32 channels)`` (``cnn1d_lstm``,
  ``cnn1d_gru``); labels: the four valence-arousal quadrants.

Sources: ``"deap"`` reads the licensed files in ``data/deap/`` (never shipped); without them it
says where to put them. ``"deap_synthetic"`` writes and reads SYNTHETIC files in DEAP's format
(:func:`cnnkit.data.deap.write_synthetic`); its :class:`~cnnkit.data.images.DatasetInfo`
name starts with ``SYNTHETIC`` so that every report says so.

The split is by *trial*, within each subject (:func:`trial_split`): every segment or window of
a trial lands on the same side, so a model cannot score by recognizing a trial it has seen.
``split="random_windows"`` gives the protocol of many published results instead, for comparison:
every segment or window of a subject shuffled and split on its own (:func:`stratified_split` over
the windows).
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from cnnkit.data import deap, deap_synthetic
from cnnkit.data.base import Dataset, DatasetInfo
from cnnkit.data.registry import DATASETS, EEG_CLASSES
from cnnkit.errors import DatasetNotFoundError, UnknownNameError


def stratified_split(labels, seed: int = 0, fractions=(0.7, 0.15, 0.15)) -> dict[str, np.ndarray]:
    """Split items with one label each into train / validation / test indices, stratified by
    ``labels`` when every class has enough items for it, plain random otherwise; fixed by ``seed``."""
    labels = np.asarray(labels)
    items = np.arange(len(labels))
    held_out = fractions[1] + fractions[2]
    stratify = labels if np.bincount(labels).min() >= 3 else None
    train, rest = train_test_split(items, test_size=held_out, random_state=seed, stratify=stratify)
    rest_stratify = labels[rest] if stratify is not None and np.bincount(labels[rest]).min() >= 2 else None
    validation, test = train_test_split(rest, test_size=fractions[2] / held_out, random_state=seed,
                                        stratify=rest_stratify)  # fmt: skip
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


def trial_split(labels, seed: int = 0, fractions=(0.7, 0.15, 0.15)) -> dict[str, np.ndarray]:
    """Split one subject's trials (``labels``: one per trial) into train / validation / test trial
    indices (:func:`stratified_split`): every segment of a trial then follows its trial."""
    return stratified_split(labels, seed, fractions)


SPLITS = ("trial", "random_windows")


def array_pipeline(x, y, batch_size: int = 64, shuffle: bool = False, seed: int = 0):
    """A batched, prefetched ``tf.data`` pipeline over float arrays, taken as they are (no
    /255 scaling: EEG features and windows are already normalized)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(x, "float32"), np.asarray(y, "int32")))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def eeg_folder(source: str, subjects: int = 32, seed: int = 0):
    """The folder of ``sNN.dat`` files for ``source`` (writing SYNTHETIC ones if asked to). ``subjects``, a
    whole number from 1 to DEAP's 32, is checked first."""
    from cnnkit.data.deap_format import SUBJECTS
    from cnnkit.files import data_dir

    if isinstance(subjects, bool) or not isinstance(subjects, (int, np.integer)) or not 1 <= subjects <= SUBJECTS:
        raise ValueError(f"subjects must be a whole number from 1 to {SUBJECTS} (DEAP recorded {SUBJECTS} people), "
                         f"got {subjects!r}.")  # fmt: skip

    if source == "deap_synthetic":
        return deap_synthetic.ensure_synthetic(data_dir() / "deap_synthetic", subjects, seed)
    if source != "deap":
        known = [name for name, spec in DATASETS.items() if spec.kind == "eeg"]
        raise UnknownNameError(f"Unknown EEG dataset {source!r}. Known: {', '.join(known)}.")
    folder = data_dir() / "deap"
    found = len(list(folder.glob("s[0-9][0-9].dat")))
    if found < subjects or deap_synthetic.is_synthetic(folder):
        raise DatasetNotFoundError(
            f"{folder} holds {found} real DEAP subject files, {subjects} needed. DEAP is licensed and not "
            "shipped: request it from its authors and put the preprocessed Python files (s01.dat ... s32.dat) "
            "there, or use the generated files of the dataset deap_synthetic."
        )
    return folder


def eeg_arrays(source: str = "deap", kind: str = "de_grid", subjects: int = 32, seed: int = 0,
               window: int = 128, downsample: int = 1, split: str = "trial"):  # fmt: skip
    """``{split: (x, y)}`` arrays of ``subjects`` subjects, split within each subject by trial
    (``split="trial"``, :func:`trial_split`) or window by window (``"random_windows"``,
    :func:`stratified_split` over the windows)."""
    from cnnkit.data import eeg_features

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if kind not in EEG_CLASSES:
        raise UnknownNameError(f"Unknown EEG input {kind!r}. Known: {', '.join(EEG_CLASSES)}.")
    folder = eeg_folder(source, subjects, seed)
    files = deap.subject_files(folder)[:subjects]
    parts = {split: ([], []) for split in ("train", "validation", "test")}
    if kind == "de_grid":
        features, ratings = eeg_features.preprocess_folder(folder, progress=False)
        per_subject = [(features[i], deap.binary_labels(ratings[i])) for i in range(min(subjects, len(features)))]
    else:
        per_subject = []
        for path in files:
            data, ratings = deap.read_subject(path)
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below, by file
                spread = data[:, :32].std(axis=(0, 2))  # what eeg_windows divides by, per channel
            eeg_features.check_finite(spread, path, "channel standard deviations", data[:, :32])
            windows = eeg_features.eeg_windows(data[:, :32], window, downsample)
            per_subject.append((windows, deap.quadrant_labels(ratings)))
    for samples, labels in per_subject:  # samples: (trials, pieces, ...) with one label per trial
        if split == "trial":
            for name, trials in trial_split(labels, seed).items():
                parts[name][0].append(samples[trials].reshape(-1, *samples.shape[2:]))
                parts[name][1].append(np.repeat(labels[trials], samples.shape[1]))
        else:
            pieces, piece_labels = samples.reshape(-1, *samples.shape[2:]), np.repeat(labels, samples.shape[1])
            for name, chosen in stratified_split(piece_labels, seed).items():  # windows of a trial on both sides
                parts[name][0].append(pieces[chosen])
                parts[name][1].append(piece_labels[chosen])
    return {split: (np.concatenate(x), np.concatenate(y)) for split, (x, y) in parts.items()}, deap_synthetic.is_synthetic(folder)


def load_eeg_dataset(source: str = "deap", kind: str = "de_grid", *, subjects: int = 32, batch_size: int = 64,
                     seed: int = 0, window: int = 128, downsample: int = 1):  # fmt: skip
    """DEAP as train / validation / test pipelines for the EEG models (see the module docstring).

    Returns a :class:`~cnnkit.data.base.Dataset` (the same container as the images) with
    ``info.synthetic`` set for generated subjects;
    ``info.name`` is ``"deap"`` or ``"SYNTHETIC deap_synthetic"``, ``info.input_shape`` the
    model input, e.g. ``(9, 9, 4)`` or ``(128, 32)``.
    """
    arrays, synthetic = eeg_arrays(source, kind, subjects, seed, window, downsample)
    files = tuple(str(path) for path in deap.subject_files(eeg_folder(source, subjects, seed))[:subjects])
    pipelines = {split: array_pipeline(x, y, batch_size, shuffle=split == "train", seed=seed)
                 for split, (x, y) in arrays.items()}  # fmt: skip
    info = DatasetInfo(
        name=("SYNTHETIC " if synthetic else "") + source,
        class_names=tuple(EEG_CLASSES[kind]),
        input_shape=tuple(arrays["train"][0].shape[1:]),
        num_examples={split: len(y) for split, (_, y) in arrays.items()},
        files=files,
        synthetic=synthetic,
        kind=kind,
    )
    return Dataset(info=info, **pipelines)
