"""Training recipes: the ResNet paper's CIFAR-10 schedule, a cosine alternative, label smoothing.

The paper (He et al., 2015, Section 4.2) trains its CIFAR-10 networks with SGD, momentum 0.9,
weight decay 1e-4, batch 128 and a learning rate of 0.1 divided by 10 at 32k and 48k of 64k
iterations: at 50% and 75% of training. ``cosine`` warms up linearly for 5% of the steps and
then follows a half cosine down to zero, a one-cycle-like schedule that usually reaches the
same accuracy in fewer epochs.
"""

from __future__ import annotations

import keras
from keras import ops

from cnnkit.models.layers import PACKAGE


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
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy against smoothed targets, for integer labels.

    The target puts ``1 - smoothing + smoothing / classes`` on the true class and
    ``smoothing / classes`` on every other (Szegedy et al., 2016). Keras' own label smoothing
    needs one-hot labels; this takes class indices like the rest of cnnkit.
    ``y_true``: ``(batch,)`` ints; ``y_pred``: ``(batch, classes)`` probabilities.
    """

    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}.")
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        target = one_hot * (1.0 - self.smoothing) + self.smoothing / ops.cast(classes, y_pred.dtype)
        return keras.losses.categorical_crossentropy(target, y_pred)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


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
    import pandas as pd

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
