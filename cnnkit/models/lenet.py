"""LeNet-5: the 1998 network as published, and the modern textbook form.

- ``lenet5_classic``: LeCun, Bottou, Bengio and Haffner (1998), "Gradient-based learning
  applied to document recognition", Section II.B. Every trainable layer matches the paper's
  parameter count, 60,000 trainable parameters in all.
- ``lenet5``: the form used in today's textbooks (e.g. Dive into Deep Learning): ordinary
  Conv2D / pooling / Dense layers, a 'same'-padded first convolution so 28x28 images fit,
  and a softmax output.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from cnnkit.models.layers import (
    EuclideanRBF,
    PartiallyConnectedConv2D,
    TrainableSubsampling,
    scaled_tanh,
)
from cnnkit.models.registry import register

# Table I of the paper: which of S2's six maps (0-5) each of C3's sixteen maps reads.
# Maps 0-5 read three neighbouring maps, 6-11 four neighbouring maps, 12-14 four
# non-neighbouring maps, and map 15 reads all six: 60 connections in all.
C3_CONNECTIONS = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# The output layer's parameter vectors: "stylized images of the corresponding character
# class drawn on a 7x12 bitmap" with values -1 (white, '.') and +1 (black, '#'). The paper
# prints the ASCII set (its Fig. 3); these ten digits are this project's drawing of them.
DIGIT_BITMAPS = {
    0: ["..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#",
        "#.....#", "#.....#", "#.....#", ".#...#.", "..###..", "......."],
    1: ["...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...",
        "...#...", "...#...", "...#...", "...#...", ".#####.", "......."],
    2: [".#####.", "#.....#", "......#", "......#", ".....#.", "....#..",
        "...#...", "..#....", ".#.....", "#......", "#######", "......."],
    3: [".#####.", "#.....#", "......#", "......#", "..####.", "......#",
        "......#", "......#", "......#", "#.....#", ".#####.", "......."],
    4: ["....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.", "#....#.",
        "#######", ".....#.", ".....#.", ".....#.", ".....#.", "......."],
    5: ["#######", "#......", "#......", "#......", "######.", "......#",
        "......#", "......#", "......#", "#.....#", ".#####.", "......."],
    6: ["..####.", ".#.....", "#......", "#......", "######.", "#.....#",
        "#.....#", "#.....#", "#.....#", "#.....#", ".#####.", "......."],
    7: ["#######", "......#", ".....#.", ".....#.", "....#..", "....#..",
        "...#...", "...#...", "..#....", "..#....", "..#....", "......."],
    8: [".#####.", "#.....#", "#.....#", "#.....#", ".#####.", "#.....#",
        "#.....#", "#.....#", "#.....#", "#.....#", ".#####.", "......."],
    9: [".#####.", "#.....#", "#.....#", "#.....#", "#.....#", ".######",
        "......#", "......#", "......#", ".....#.", ".####..", "......."],
}  # fmt: skip


def rbf_centers(num_classes: int = 10) -> np.ndarray:
    """The fixed RBF parameter vectors, shape ``(num_classes, 84)``, values in {-1, +1}.

    Up to ten classes use the digit bitmaps (row by row, 12 rows of 7). More classes are
    not defined by the paper and are refused.
    """
    if not 2 <= num_classes <= len(DIGIT_BITMAPS):
        raise ValueError(
            f"lenet5_classic has stylized bitmaps for 2 to 10 classes, got {num_classes}. "
            "Use 'lenet5' (softmax output) for other numbers of classes."
        )
    rows = [DIGIT_BITMAPS[label] for label in range(num_classes)]
    return np.array([[1.0 if ch == "#" else -1.0 for ch in "".join(r)] for r in rows], "float32")


@register(
    summary="LeNet-5 as published (1998): 32x32x1, partial C3, trainable subsampling, RBF output",
    fixed_input=True,
    fit_input="pad",
    year=1998,
    parameters=60_840,
    paper="LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition",
)
def lenet5_classic(input_shape=(32, 32, 1), num_classes: int = 10) -> keras.Model:
    """LeNet-5 exactly as in LeCun et al. (1998).

    Input: 32x32x1 images in [0, 1]. The first layer rescales them so that the background is
    -0.1 and the ink 1.175, as the paper does (mean about 0, variance about 1).

    ===========  ==================  =========================  ==========
    layer        output shape        what it is                 parameters
    ===========  ==================  =========================  ==========
    C1           28x28x6             conv 5x5, scaled tanh      156
    S2           14x14x6             trainable subsampling      12
    C3           10x10x16            partial conv (Table I)     1,516
    S4           5x5x16              trainable subsampling      32
    C5           1x1x120             conv 5x5, scaled tanh      48,120
    F6           84                  dense, scaled tanh         10,164
    OUTPUT       num_classes         Euclidean RBF (fixed)      0 (840 fixed)
    ===========  ==================  =========================  ==========

    The outputs are penalties (smaller is better). Train with
    :class:`cnnkit.models.layers.LeNetRBFLoss`; :func:`cnnkit.training.train` picks it
    automatically for this model.
    """
    centers = rbf_centers(num_classes)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(scale=1.275, offset=-0.1, name="normalize")(inputs)
    x = layers.Conv2D(6, 5, activation=scaled_tanh, name="C1")(x)
    x = TrainableSubsampling(2, activation=scaled_tanh, name="S2")(x)
    x = PartiallyConnectedConv2D(C3_CONNECTIONS, kernel_size=5, activation=scaled_tanh, name="C3")(x)
    x = TrainableSubsampling(2, activation=scaled_tanh, name="S4")(x)
    x = layers.Conv2D(120, 5, activation=scaled_tanh, name="C5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation=scaled_tanh, name="F6")(x)
    outputs = EuclideanRBF(centers, name="OUTPUT", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="lenet5_classic")


@register(
    summary="LeNet-5 in its textbook form: 28x28 input, sigmoid/ReLU, average/max pooling, softmax",
    year=1998,
    parameters=61_706,
    min_size=12,
    paper="LeCun, Bottou, Bengio & Haffner 1998 (in its textbook form)",
)
def lenet5(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    activation: str = "sigmoid",
    pooling: str = "average",
) -> keras.Model:
    """LeNet-5 as today's textbooks write it.

    ``activation``: ``"sigmoid"`` (default, as in the textbooks) or any Keras activation
    name such as ``"relu"``; ``pooling``: ``"average"`` (default) or ``"max"``.

    On 28x28x1 input the outputs are: C1 28x28x6 (5x5, padding 2), S2 14x14x6, C3 10x10x16,
    S4 5x5x16, flatten 400, F5 120, F6 84, OUTPUT ``num_classes`` (softmax).
    Parameters with 10 classes: 61,706.
    """
    pools = {"average": layers.AveragePooling2D, "max": layers.MaxPooling2D}
    if pooling not in pools:
        raise ValueError(f"pooling must be 'average' or 'max', got {pooling!r}.")
    keras.activations.get(activation)  # fails early, with Keras' message, on an unknown name
    Pool = pools[pooling]
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(6, 5, padding="same", activation=activation, name="C1")(inputs)
    x = Pool(2, name="S2")(x)
    x = layers.Conv2D(16, 5, activation=activation, name="C3")(x)
    x = Pool(2, name="S4")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation=activation, name="F5")(x)
    x = layers.Dense(84, activation=activation, name="F6")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="OUTPUT", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"lenet5_{activation}_{pooling}")
