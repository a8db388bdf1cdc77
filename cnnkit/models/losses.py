"""The losses and metrics the classic papers need, serializable like the layers.

For LeNet-5's RBF output, whose outputs are *penalties* (smaller means more likely):

- :class:`LeNetRBFLoss`: the paper's maximum-likelihood criterion with a "rubbish" class.
- :func:`penalty_accuracy` / :func:`penalty_accuracy_metric`: accuracy where the smallest
  penalty is the prediction.
- :func:`predicts_penalties`: whether a model ends in such an output.
- :func:`predicted_classes`: the predicted class of every output row, for any model: the rule
  (argmax, or argmin for penalties) lives here and every caller uses it; with it
  :func:`class_probabilities` and :func:`class_evidence_sign`.

For Inception-v3's recipe (Szegedy et al. 2015, Section 7):

- :class:`SmoothedSparseCrossentropy`: cross-entropy against smoothed targets, from integer
  labels (Keras' ``SparseCategoricalCrossentropy`` has no ``label_smoothing``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from cnnkit.models.layers import PACKAGE


def predicts_penalties(model: keras.Model) -> bool:
    """True when the model's last layer outputs penalties (smaller is better), like LeNet's RBF."""
    return bool(getattr(model.layers[-1], "output_is_penalty", False))


def predicted_classes(model: keras.Model, outputs) -> np.ndarray:
    """The predicted class (int64) of each row of ``outputs`` (batch, classes), ``model``'s
    outputs: the largest score, or the smallest penalty for LeNet-5's RBF layer."""
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs))
    pick = np.argmin if predicts_penalties(model) else np.argmax
    return pick(outputs, axis=-1).astype("int64")


def class_probabilities(model: keras.Model, outputs) -> np.ndarray:
    """Class probabilities from ``model``'s outputs (batch, classes): softmax outputs as they
    are; LeNet-5's RBF penalties (smaller is better) through a softmax of their negatives."""
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs))
    if not predicts_penalties(model):
        return outputs
    shifted = -outputs - (-outputs).max(axis=-1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)


def class_evidence_sign(model: keras.Model) -> float:
    """+1 when a larger output means more evidence for a class, -1 for penalties: what
    attribution multiplies a class's output by before taking its gradient."""
    return -1.0 if predicts_penalties(model) else 1.0


@keras.saving.register_keras_serializable(package=PACKAGE)
class LeNetRBFLoss(keras.losses.Loss):
    """The maximum-likelihood criterion of LeCun et al. (1998), equation (9).

    For penalties ``y`` (the RBF outputs) and the correct class ``d``::

        loss = y[d] + log(exp(-j) + sum_i exp(-y[i]))

    The first term pulls the F6 output towards the correct class's parameter vector; the
    second pushes the wrong classes' penalties up, but only while they are not already much
    larger than ``j`` (the constant of a "rubbish" class). It equals softmax cross-entropy
    over the negated penalties with one extra class of constant penalty ``j``. The paper
    leaves ``j`` unspecified; the default 10 is this project's choice.

    ``y_true``: integer labels ``(batch,)``; ``y_pred``: penalties ``(batch, classes)``.
    """

    def __init__(self, j: float = 10.0, name: str = "lenet_rbf_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.j = float(j)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1, 1)), "int32")
        correct = ops.squeeze(ops.take_along_axis(y_pred, labels, axis=1), axis=1)
        rubbish = ops.full_like(correct[:, None], -self.j)
        return correct + ops.logsumexp(ops.concatenate([rubbish, -y_pred], axis=1), axis=1)

    def get_config(self):
        return {**super().get_config(), "j": self.j}


@keras.saving.register_keras_serializable(package=PACKAGE)
def penalty_accuracy(y_true, y_pred):
    """1.0 where the smallest penalty is at the true label, else 0.0; shape ``(batch,)``."""
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    predicted = ops.cast(ops.argmin(y_pred, axis=-1), "int32")
    return ops.cast(ops.equal(labels, predicted), "float32")


def penalty_accuracy_metric() -> keras.metrics.Metric:
    """Accuracy for penalty outputs, named ``accuracy`` so logs show ``val_accuracy``."""
    return keras.metrics.MeanMetricWrapper(penalty_accuracy, name="accuracy")


@keras.saving.register_keras_serializable(package=PACKAGE)
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy with label smoothing, for integer labels and softmax probabilities.

    The target of an example of class ``y`` among ``K`` classes is ``1 - e + e / K`` for ``y``
    and ``e / K`` for every other class (``e = label_smoothing``; Inception-v3 used 0.1 with
    1,000 classes): the network is no longer rewarded for pushing its largest logit ever
    further from the rest, which the paper found to regularize it (0.2 points of top-1).
    ``y_true``: ``(batch,)`` integers; ``y_pred``: ``(batch, K)`` probabilities.
    Equals ``keras.losses.CategoricalCrossentropy(label_smoothing=e)`` on one-hot labels.
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes, dtype=y_pred.dtype)
        targets = one_hot * (1.0 - self.label_smoothing) + self.label_smoothing / ops.cast(classes, y_pred.dtype)
        return keras.losses.categorical_crossentropy(targets, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
