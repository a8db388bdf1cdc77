"""Training recipes: the ResNet paper's CIFAR-10 schedule, a cosine alternative, label smoothing,
fine-tuning a pretrained network, and a fair comparison of several models (:func:`compare`).

The paper (He et al., 2015, Section 4.2) trains its CIFAR-10 networks with SGD, momentum 0.9,
weight decay 1e-4, batch 128 and a learning rate of 0.1 divided by 10 at 32k and 48k of 64k
iterations: at 50% and 75% of training. ``cosine`` warms up linearly for 5% of the steps and
then follows a half cosine down to zero, a one-cycle-like schedule that usually reaches the
same accuracy in fewer epochs.
"""

from __future__ import annotations

import time
import warnings

import keras
import numpy as np
import pandas as pd

from cnnkit import backends
from cnnkit.models.layers import PACKAGE
from cnnkit.models.losses import SmoothedSparseCrossentropy


def learning_rate_schedule(total_steps: int, base: float = 0.1, kind: str = "step"):
    """A Keras learning-rate schedule over ``total_steps`` optimizer steps.

    ``kind="step"``: ``base`` until 50%, ``base / 10`` until 75%, then ``base / 100``.
    ``kind="cosine"``: linear warm-up from 0 over 5% of the steps to ``base``, then cosine
    decay to 0.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}.")
    if kind == "step":
        boundaries = [int(total_steps * 0.5), int(total_steps * 0.75)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, [base, base / 10, base / 100])
    if kind == "cosine":
        warmup = max(1, int(total_steps * 0.05))
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total_steps - warmup, warmup_target=base, warmup_steps=warmup
        )
    raise ValueError(f"kind must be 'step' or 'cosine', got {kind!r}.")


def resnet_cifar_optimizer(
    total_steps: int, base: float = 0.1, kind: str = "step", weight_decay: float = 1e-4
):
    """SGD with momentum 0.9 and weight decay, on :func:`learning_rate_schedule`.

    Keras applies ``weight_decay`` directly to the weights (decoupled), a close stand-in for
    the paper's L2 term.
    """
    schedule = learning_rate_schedule(total_steps, base, kind)
    return keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=weight_decay)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SmoothedSparseCategoricalCrossentropy(SmoothedSparseCrossentropy):
    """Deprecated: the same loss as :class:`cnnkit.models.losses.SmoothedSparseCrossentropy`, which is
    the one to use (``label_smoothing=`` as Keras names it). Kept so that models saved with it load:
    they load as a ``SmoothedSparseCrossentropy`` of the same smoothing."""

    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_crossentropy", **kwargs):
        warnings.warn("SmoothedSparseCategoricalCrossentropy is deprecated: use "
                      "cnnkit.models.losses.SmoothedSparseCrossentropy(label_smoothing=...), the same loss.",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        super().__init__(label_smoothing=smoothing, name=name, **kwargs)

    @classmethod
    def from_config(cls, config):
        """A saved configuration (``smoothing=``) as the one loss, :class:`SmoothedSparseCrossentropy`."""
        config = dict(config)
        config["label_smoothing"] = config.pop("smoothing", config.get("label_smoothing", 0.1))
        return SmoothedSparseCrossentropy(**config)


def fine_tune(model, train_data, validation_data, *, head_epochs: int = 5, fine_tune_epochs: int = 5,
              unfreeze: float = 0.3, head_learning_rate: float = 1e-3, fine_tune_learning_rate: float = 1e-5,
              out_dir=None, verbose="auto"):  # fmt: skip
    """Transfer learning in two phases, as the Keras transfer-learning guide does it.

    1. The backbone of a :func:`cnnkit.models.applications.pretrained` model stays frozen and
       only the new head trains (Adam, ``head_learning_rate``) for ``head_epochs``.
    2. The top ``unfreeze`` share of the backbone's layers (a fraction, or a number of layers)
       is unfrozen, batch-norm layers excepted (they keep their ImageNet statistics, and the
       model calls the backbone in inference mode anyway), and training continues with a
       learning rate 100x lower for ``fine_tune_epochs``, so the pretrained features are
       adjusted, not destroyed.

    With ``out_dir`` each phase is a resumable run folder (``out_dir/head``,
    ``out_dir/fine_tune``). Returns the history of both phases as one DataFrame with a
    ``phase`` column; epochs are numbered on across the phases.
    """
    from cnnkit.models.applications import find_backbone
    from cnnkit.training import train

    backbone = find_backbone(model)
    backbone.trainable = False
    folder = (lambda name: None) if out_dir is None else (lambda name: f"{out_dir}/{name}")  # noqa: E731
    head = train(model, train_data, validation_data, epochs=head_epochs, learning_rate=head_learning_rate,
                 out_dir=folder("head"), verbose=verbose).assign(phase="head")  # fmt: skip
    if fine_tune_epochs <= 0:
        return head
    backbone.trainable = True
    count = unfreeze if isinstance(unfreeze, int) and not isinstance(unfreeze, bool) else round(unfreeze * len(backbone.layers))
    if not 0 < count <= len(backbone.layers):
        raise ValueError(f"unfreeze must select 1..{len(backbone.layers)} layers, got {unfreeze!r}.")
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= len(backbone.layers) - count and not isinstance(layer, keras.layers.BatchNormalization)
    model.compile(optimizer=keras.optimizers.Adam(fine_tune_learning_rate), loss=model.loss, metrics=["accuracy"])
    tuned = train(model, train_data, validation_data, epochs=fine_tune_epochs, out_dir=folder("fine_tune"),
                  verbose=verbose).assign(phase="fine_tune")  # fmt: skip
    tuned.index = tuned.index + len(head)
    return pd.concat([head, tuned])


def reestimate_batch_norm(model: keras.Model, dataset, batches: int = 50) -> int:
    """Replace every batch-norm layer's moving mean and variance by their average over
    ``batches`` batches of ``dataset`` (training-mode statistics, weights untouched): "precise
    batch norm" (Wu and Johnson, 2021).

    After a short training run the moving averages still remember their initial values (with
    Keras' default momentum 0.99, 37% of them after 100 steps), and a network that trained
    well predicts one class at test time. Returns the number of batches used (fewer when the
    dataset is shorter, or when Keras' own step limit is set: :func:`cnnkit.evaluation.batch_limit`).
    """
    from cnnkit.evaluation import batch_limit

    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    momenta = [layer.momentum for layer in norms]
    sums = [[np.zeros(layer.moving_mean.shape), np.zeros(layer.moving_variance.shape)] for layer in norms]
    used = 0
    try:
        for layer in norms:
            layer.momentum = 0.0  # each training-mode call leaves exactly that batch's statistics
        forward = backends.training_mode_call(model)
        for used, (images, _) in enumerate(dataset.take(min(batches, batch_limit() or batches)), start=1):  # noqa: B007 (read after the loop)
            forward(images)
            for layer, (mean, variance) in zip(norms, sums, strict=True):
                mean += np.asarray(layer.moving_mean)
                variance += np.asarray(layer.moving_variance)
        for layer, (mean, variance) in zip(norms, sums, strict=True):
            if used:
                layer.moving_mean.assign(mean / used)
                layer.moving_variance.assign(variance / used)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
    return used


def compare(candidates: dict, data, *, epochs: int, seeds=(0,), learning_rate: float = 1e-3,
            precise_batch_norm: bool = True, train_batches: int | None = None, verbose: int = 0) -> pd.DataFrame:  # fmt: skip
    """Train every model of ``candidates`` on the same data with the same recipe and report it.

    ``candidates``: ``{label: (registry name, options)}``, each built for
    ``data.info.input_shape`` and ``data.info.num_classes``. ``data``: an
    :class:`~cnnkit.data.images.ImageDataset`. The recipe: Adam at ``learning_rate``,
    ``epochs`` epochs, batch size and augmentation as ``data`` has them, the weights of the
    last epoch, batch-norm statistics re-estimated on the training data before testing
    (:func:`reestimate_batch_norm`; ``precise_batch_norm=False`` keeps the moving averages).
    One run per label and seed (:func:`cnnkit.seed.set_seed` before building).
    ``train_batches``: use only the first batches of ``data.train`` in each epoch (a quick
    budget); ``None`` uses them all. Every seed of ``seeds`` runs.

    Returns one row per run: ``model``, ``seed``, ``parameters``, ``seconds`` (training wall
    time on this machine), ``test_accuracy``.
    """
    from cnnkit.evaluation import evaluate_classifier
    from cnnkit.models import build
    from cnnkit.seed import set_seed
    from cnnkit.training import train

    if train_batches is not None and train_batches < 1:
        raise ValueError(f"train_batches must be positive or None, got {train_batches}.")
    train_data = data.train if train_batches is None else data.train.take(train_batches)
    rows = []
    for label, (name, options) in candidates.items():
        for seed in seeds:
            set_seed(seed)
            model = build(name, input_shape=data.info.input_shape, num_classes=data.info.num_classes, **options)
            started = time.perf_counter()
            train(model, train_data, data.validation, epochs=epochs, learning_rate=learning_rate, verbose=verbose)
            seconds = time.perf_counter() - started
            if precise_batch_norm:
                reestimate_batch_norm(model, train_data)
            accuracy = evaluate_classifier(model, data.test, data.info.class_names).accuracy
            rows.append({"model": label, "seed": seed, "parameters": model.count_params(), "seconds": seconds,
                         "test_accuracy": accuracy})  # fmt: skip
            del model
            keras.backend.clear_session(free_memory=True)
    return pd.DataFrame(rows)


def summarize_comparison(runs: pd.DataFrame, test_size: int) -> pd.DataFrame:
    """One row per model of :func:`compare`'s runs, best first, with the noise made explicit.

    Columns: ``parameters``, ``seconds`` (mean), ``accuracy`` (mean over seeds), ``seed_std``
    (standard deviation over seeds; NaN with one seed), ``standard_error`` (of the mean accuracy:
    the larger of the seeds' spread and the binomial sampling error ``sqrt(p (1 - p) / n)`` of
    ``test_size`` test images, divided by the square root of the number of seeds), and
    ``within_noise_of_best``: the gap to the best model is less than twice the two standard
    errors combined (``2 sqrt(se_best^2 + se^2)``), i.e. the data cannot tell them apart.
    """
    if test_size < 1:
        raise ValueError(f"test_size must be positive, got {test_size}.")
    grouped = runs.groupby("model", sort=False)
    table = pd.DataFrame({
        "parameters": grouped["parameters"].first(),
        "seconds": grouped["seconds"].mean(),
        "accuracy": grouped["test_accuracy"].mean(),
        "seed_std": grouped["test_accuracy"].std(),
        "seeds": grouped["seed"].count(),
    })  # fmt: skip
    binomial = np.sqrt(table["accuracy"] * (1 - table["accuracy"]) / test_size)
    spread = np.fmax(table["seed_std"].fillna(0.0), binomial)
    table["standard_error"] = spread / np.sqrt(table["seeds"])
    table = table.sort_values("accuracy", ascending=False)
    best = table.iloc[0]
    gap = best["accuracy"] - table["accuracy"]
    table["within_noise_of_best"] = gap < 2 * np.sqrt(best["standard_error"] ** 2 + table["standard_error"] ** 2)
    return table
