"""EEG emotion-recognition networks.

- ``ccnn``: the continuous CNN of Yang et al. (2018) on 9x9 scalp grids of band features
  (default 4 bands), as TorchEEG builds it: four 4x4 convolutions with 'same' zero padding
  (Keras puts the extra row/column at the bottom/right, as TorchEEG's explicit padding does),
  64-128-256-64 filters, each with ReLU (SELU as an option), flatten (9 * 9 * 64 = 5,184),
  dense 1024 with SELU, dropout 0.5, softmax. With 2 classes: 6,233,602 parameters.
  Activations, checked against both references: the authors' TensorFlow code
  (github.com/ynulonger/DE_CNN, ``cnn.py``) applies SELU after every convolution (with batch
  norm there) and after the dense layer; TorchEEG's ``CCNN`` uses ReLU after the convolutions
  and SELU after the dense layer. The default follows TorchEEG (its parameter count is the
  published one); ``activation="selu"`` gives the authors' convolutions.
  The fourth convolution: TorchEEG's is 4x4 (its count, 6,233,602, is the one cnnkit follows);
  the authors' code declares a 1x1 kernel for it (``kernel_height_4th = 1`` in ``cnn.py``; the
  released script then builds only three convolutions). ``fourth_kernel=1`` builds that form:
  5,987,842 parameters with 2 classes.
- ``eeg_mlp``: the dense baseline on the same (flattened) features.
- ``cnn1d_lstm`` / ``cnn1d_gru``: Conv1D -> max pooling -> LSTM or GRU -> flatten -> dense ->
  softmax over the four valence-arousal quadrants, on raw EEG windows ``(time, channels)``.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.registry import register


@register(
    summary="Continuous CNN of Yang et al. (2018) on 9x9x4 DE grids (EEG emotion)",
    takes="de_grid",
    year=2018,
    parameters=6_233_602,
    paper="Yang, Wu, Qiu, Lu & Zheng 2018, Continuous convolutional neural network with 3D input for EEG-based emotion recognition",
)
def ccnn(
    input_shape=(9, 9, 4), num_classes: int = 2, activation: str = "relu", dropout: float = 0.5,
    fourth_kernel: int = 4,
) -> keras.Model:
    """conv1-4 (4x4 'same', 64/128/256/64, ``activation``: ReLU or SELU; ``fourth_kernel=1`` for
    the authors' 1x1 fourth convolution) -> flatten -> fc 1024 (SELU, as in both the authors'
    code and TorchEEG) -> dropout -> softmax."""
    if activation not in ("relu", "selu"):
        raise ValueError(f"activation must be 'relu' or 'selu' as in the paper, got {activation!r}.")
    if fourth_kernel not in (1, 4):
        raise ValueError(f"fourth_kernel must be 4 (TorchEEG) or 1 (the authors' code), got {fourth_kernel!r}.")
    inputs = keras.Input(shape=input_shape, name="grid")
    x = inputs
    for index, (filters, kernel) in enumerate(zip((64, 128, 256, 64), (4, 4, 4, fourth_kernel), strict=True), start=1):
        x = layers.Conv2D(filters, kernel, padding="same", activation=activation, name=f"conv{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="selu", name="fc")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="ccnn")


@register(
    summary="Dense baseline on flattened EEG band features",
    takes="de_grid",
    parameters=298_242,
)
def eeg_mlp(
    input_shape=(9, 9, 4), num_classes: int = 2, units=(512, 256), dropout: float = 0.5
) -> keras.Model:
    """flatten -> dense layers of ``units`` (ReLU, dropout) -> softmax."""
    inputs = keras.Input(shape=input_shape, name="features")
    x = layers.Flatten(name="flatten")(inputs)
    for index, width in enumerate(units, start=1):
        x = layers.Dense(width, activation="relu", name=f"fc{index}")(x)
        x = layers.Dropout(dropout, name=f"dropout{index}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="eeg_mlp")


def _cnn1d_rnn(input_shape, num_classes, recurrent, filters, units, name):
    inputs = keras.Input(shape=input_shape, name="eeg_window")
    x = layers.Conv1D(filters, 5, padding="same", activation="relu", name="conv1d")(inputs)
    x = layers.MaxPooling1D(2, name="pool")(x)
    x = recurrent(units, return_sequences=True, name=recurrent.__name__.lower())(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register(
    summary="1D-CNN + LSTM over EEG windows, four valence-arousal quadrants",
    takes="eeg_window",
    parameters=305_796,
)
def cnn1d_lstm(
    input_shape=(128, 32), num_classes: int = 4, filters: int = 64, units: int = 64
) -> keras.Model:
    """Conv1D (5, ``filters``) -> max pool 2 -> LSTM (``units``, all steps) -> flatten -> 64 -> softmax.

    Input ``(time steps, channels)``: e.g. 1 s of 32-channel EEG at 128 Hz, z-scored then
    min-max scaled (see :func:`cnnkit.data.eeg_features.eeg_windows`).
    """
    return _cnn1d_rnn(input_shape, num_classes, layers.LSTM, filters, units, "cnn1d_lstm")


@register(
    summary="1D-CNN + GRU over EEG windows, four valence-arousal quadrants",
    takes="eeg_window",
    parameters=297_732,
)
def cnn1d_gru(input_shape=(128, 32), num_classes: int = 4, filters: int = 64, units: int = 64) -> keras.Model:
    """As :func:`cnn1d_lstm` with a GRU."""
    return _cnn1d_rnn(input_shape, num_classes, layers.GRU, filters, units, "cnn1d_gru")
