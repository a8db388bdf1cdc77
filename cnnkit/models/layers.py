"""The few custom layers the classic papers need (layers only: losses live in ``losses.py``), each serializable through ``.keras`` files.

Everything here is registered with ``keras.saving.register_keras_serializable`` under the
``cnnkit`` package and implements ``get_config``, so a model that uses these layers saves and
loads with ``keras.saving.load_model(path, safe_mode=True)`` (no Lambda layers, no pickles).

For AlexNet (Krizhevsky, Sutskever and Hinton, 2012):

- :class:`LocalResponseNormalization`: the paper's LRN across neighbouring channels.

Layers for LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998):

- :func:`scaled_tanh`: the paper's squashing function ``f(a) = 1.7159 * tanh(2a / 3)``.
- :class:`TrainableSubsampling`: S2 / S4, the sum of each 2x2 block times a trainable
  coefficient plus a trainable bias, per feature map.
- :class:`PartiallyConnectedConv2D`: C3, a convolution whose output maps each see only some
  of the input maps (the paper's Table I).
- :class:`EuclideanRBF`: the output layer, one Euclidean radial basis unit per class with a
  fixed parameter vector; its outputs are *penalties* (smaller means more likely).

The losses and metrics that go with the RBF output are in :mod:`cnnkit.models.losses`.

For Inception-ResNet (Szegedy, Ioffe, Vanhoucke and Alemi, 2016):

- :class:`ScaledResidual`: ``shortcut + scale * residual``, the residual scaled down (by 0.1 to
  0.3) before the addition, which kept very wide residual networks from dying early in training.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

PACKAGE = "cnnkit"

# LeCun et al. (1998), Section II.A and Appendix A: f(a) = A tanh(S a), A = 1.7159, S = 2/3,
# chosen so that f(1) = 1 and f(-1) = -1.
TANH_AMPLITUDE = 1.7159
TANH_SLOPE = 2.0 / 3.0


@keras.saving.register_keras_serializable(package=PACKAGE)
def scaled_tanh(x):
    """LeNet-5's squashing function ``1.7159 * tanh(2x / 3)``; elementwise, any shape."""
    return TANH_AMPLITUDE * ops.tanh(TANH_SLOPE * x)


@keras.saving.register_keras_serializable(package=PACKAGE)
class TrainableSubsampling(keras.layers.Layer):
    """LeNet-5's subsampling layer (S2, S4): trainable coefficient and bias per feature map.

    For each map ``k`` and each non-overlapping ``pool_size x pool_size`` block:
    ``out = activation(coefficient[k] * sum(block) + bias[k])``.

    Input ``(batch, height, width, maps)``; output
    ``(batch, height // pool_size, width // pool_size, maps)``. Parameters: ``2 * maps``.
    The coefficient starts at ``1 / pool_size**2`` (an average) and the bias at zero.
    """

    def __init__(self, pool_size: int = 2, activation=None, **kwargs):
        super().__init__(**kwargs)
        if int(pool_size) < 1:
            raise ValueError(f"pool_size must be a positive integer, got {pool_size!r}.")
        self.pool_size = int(pool_size)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        maps = input_shape[-1]
        self.coefficient = self.add_weight(
            name="coefficient",
            shape=(maps,),
            initializer=keras.initializers.Constant(1.0 / self.pool_size**2),
        )
        self.bias = self.add_weight(name="bias", shape=(maps,), initializer="zeros")

    def call(self, inputs):
        window = (self.pool_size, self.pool_size)
        block_sums = ops.average_pool(inputs, window, strides=window) * self.pool_size**2
        return self.activation(block_sums * self.coefficient + self.bias)

    def compute_output_shape(self, input_shape):
        batch, height, width, maps = input_shape
        size = self.pool_size
        return (
            batch,
            None if height is None else height // size,
            None if width is None else width // size,
            maps,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class PartiallyConnectedConv2D(keras.layers.Layer):
    """A 'valid' convolution in which output map ``j`` sees only input maps ``connections[j]``.

    LeNet-5's C3 uses it to break symmetry and save parameters (the paper's Table I).
    Only the connected kernels are weights: ``sum(len(c) for c in connections) * kh * kw``
    kernel parameters plus one bias per output map. In ``call`` the connected kernels are
    scattered into a full ``(kh, kw, in_maps, out_maps)`` kernel (zeros elsewhere) with one
    matrix product against a fixed 0/1 selection matrix, and an ordinary convolution runs.

    Input ``(batch, height, width, in_maps)``; output
    ``(batch, height - kh + 1, width - kw + 1, len(connections))``.
    """

    def __init__(self, connections, kernel_size=5, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.connections = [sorted(int(i) for i in inputs) for inputs in connections]
        if not self.connections or any(not inputs for inputs in self.connections):
            raise ValueError("connections must list, for every output map, at least one input map.")
        if any(len(set(inputs)) != len(inputs) for inputs in self.connections):
            raise ValueError("connections must not list the same input map twice for one output map.")
        size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.kernel_size = tuple(int(k) for k in size)
        if len(self.kernel_size) != 2 or min(self.kernel_size) < 1:
            raise ValueError(f"kernel_size must be a positive int or (height, width), got {kernel_size!r}.")
        self.activation = keras.activations.get(activation)

    @property
    def filters(self) -> int:
        return len(self.connections)

    @property
    def num_connections(self) -> int:
        return sum(len(inputs) for inputs in self.connections)

    def build(self, input_shape):
        in_maps = input_shape[-1]
        used = max(max(inputs) for inputs in self.connections)
        if min(min(inputs) for inputs in self.connections) < 0 or used >= in_maps:
            raise ValueError(
                f"connections refer to input map {used}, but the input has {in_maps} maps "
                f"(valid indices 0..{in_maps - 1})."
            )
        # selection[c, i * filters + j] = 1 when connection c links input map i to output map j.
        selection = np.zeros((self.num_connections, in_maps * self.filters), dtype="float32")
        pairs = [(i, j) for j, inputs in enumerate(self.connections) for i in inputs]
        for row, (i, j) in enumerate(pairs):
            selection[row, i * self.filters + j] = 1.0
        self._selection = selection
        self._in_maps = in_maps
        fan_in = self.kernel_size[0] * self.kernel_size[1] * self.num_connections / self.filters
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, self.num_connections),
            initializer=keras.initializers.RandomUniform(-2.4 / fan_in, 2.4 / fan_in),
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def full_kernel(self):
        """The equivalent dense kernel ``(kh, kw, in_maps, out_maps)``, zero where unconnected."""
        kh, kw = self.kernel_size
        flat = ops.reshape(self.kernel, (kh * kw, self.num_connections))
        selection = ops.convert_to_tensor(self._selection, dtype=flat.dtype)
        return ops.reshape(ops.matmul(flat, selection), (kh, kw, self._in_maps, self.filters))

    def call(self, inputs):
        outputs = ops.conv(inputs, self.full_kernel(), strides=1, padding="valid")
        return self.activation(outputs + self.bias)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        kh, kw = self.kernel_size
        return (
            batch,
            None if height is None else height - kh + 1,
            None if width is None else width - kw + 1,
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "connections": self.connections,
            "kernel_size": self.kernel_size,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class EuclideanRBF(keras.layers.Layer):
    """Euclidean radial basis function units with fixed (non-trainable) parameter vectors.

    ``penalty[i] = sum_j (x[j] - centers[i, j]) ** 2`` for each unit ``i``: the squared
    distance between the input and the unit's parameter vector. The outputs are penalties,
    so the predicted class is the *smallest* one (``argmin``); see :func:`predicts_penalties`.

    Input ``(batch, features)``; output ``(batch, units)`` where ``centers`` has shape
    ``(units, features)``. The centers are stored as a non-trainable weight.
    """

    output_is_penalty = True

    def __init__(self, centers, **kwargs):
        super().__init__(**kwargs)
        centers = np.asarray(centers, dtype="float32")
        if centers.ndim != 2:
            raise ValueError(f"centers must have shape (units, features), got {centers.shape}.")
        self.centers_value = centers

    @property
    def units(self) -> int:
        return self.centers_value.shape[0]

    def build(self, input_shape):
        features = input_shape[-1]
        if features != self.centers_value.shape[1]:
            raise ValueError(
                f"EuclideanRBF centers have {self.centers_value.shape[1]} features, "
                f"but its input has {features}."
            )
        self.centers = self.add_weight(
            name="centers",
            shape=self.centers_value.shape,
            initializer=keras.initializers.Constant(self.centers_value),
            trainable=False,
        )

    def call(self, inputs):
        differences = ops.expand_dims(inputs, 1) - ops.expand_dims(self.centers, 0)
        return ops.sum(ops.square(differences), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "centers": self.centers_value.tolist()}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's local response normalization across channels (Section 3.3 of the paper).

    For channel ``i`` at each position: ``b_i = a_i / (k + alpha * sum_j a_j^2) ** beta``,
    the sum running over the ``n`` channels ``j`` centred on ``i`` (fewer at the edges).
    The paper's constants are the defaults: ``n=5, k=2, alpha=1e-4, beta=0.75``. This is
    exactly ``tf.nn.local_response_normalization(depth_radius=(n - 1) // 2, bias=k,
    alpha=alpha, beta=beta)`` (TensorFlow does not divide ``alpha`` by ``n``; Caffe does).

    Input and output ``(batch, height, width, channels)``; no parameters.
    """

    def __init__(self, n: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        if n < 1 or n % 2 == 0:
            raise ValueError(f"n must be a positive odd number of channels, got {n}.")
        self.n, self.k, self.alpha, self.beta = int(n), float(k), float(alpha), float(beta)

    def build(self, input_shape):
        # band[j, i] = 1 when channel j is among the n channels centred on channel i, so the
        # window sums for all channels at once are one matrix product: squares @ band.
        channels, radius = input_shape[-1], (self.n - 1) // 2
        distance = np.abs(np.arange(channels)[:, None] - np.arange(channels)[None, :])
        self._band = (distance <= radius).astype("float32")
        # Keras then refuses, with the layer's name, an input with another channel count.
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: channels})

    def call(self, inputs):
        band = ops.convert_to_tensor(self._band, dtype=inputs.dtype)
        window_sum = ops.matmul(ops.square(inputs), band)
        return inputs * ops.exp(-self.beta * ops.log(self.k + self.alpha * window_sum))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n": self.n, "k": self.k, "alpha": self.alpha, "beta": self.beta}


def split_channels(channels: int, groups: int, partition: str = "equal") -> list[int]:
    """Split ``channels`` into ``groups`` parts (MixConv, Section 3.2). ``"equal"``: near-equal
    parts, the first taking the remainder (MixNet's rule): ``split_channels(200, 3) == [68, 66, 66]``.
    ``"exponential"``: the i-th part about ``2^-i`` of the channels, the last taking what is left,
    so the small kernels get most channels: ``split_channels(32, 4, "exponential") == [16, 8, 4, 4]``."""
    if partition == "equal":
        parts = [channels // groups] * groups
        parts[0] += channels - sum(parts)
    elif partition == "exponential":
        parts = [channels >> (index + 1) for index in range(groups - 1)]
        parts.append(channels - sum(parts))
    else:
        raise ValueError(f"partition must be 'equal' or 'exponential', got {partition!r}.")
    if min(parts) < 1:
        raise ValueError(f"{channels} channels cannot be split {partition}ly into {groups} groups.")
    return parts


@keras.saving.register_keras_serializable(package=PACKAGE)
class MixedDepthwiseConv2D(keras.layers.Layer):
    """MixNet's mixed depthwise convolution (Tan and Le, 2019): the channels are split into
    groups (:func:`split_channels`: equal parts as MixNet, or ``partition="exponential"``) and each group gets a depthwise convolution with its own
    kernel size, e.g. 3x3, 5x5, 7x7 and 9x9; the results are concatenated.

    Small kernels see fine detail and large ones wider context, at the cost of a depthwise
    convolution (``k^2`` weights per channel). With one kernel size it is an ordinary
    ``DepthwiseConv2D``. Input and output ``(batch, height, width, channels)``; 'same'
    padding, so the output is ``ceil(size / strides)``.
    """

    def __init__(self, kernel_sizes=(3, 5, 7, 9), strides: int = 1, use_bias: bool = False, partition: str = "equal",
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if not self.kernel_sizes or any(k < 1 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be positive integers, got {kernel_sizes!r}.")
        if partition not in ("equal", "exponential"):
            raise ValueError(f"partition must be 'equal' or 'exponential', got {partition!r}.")
        self.strides, self.use_bias, self.partition = int(strides), bool(use_bias), partition

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels < len(self.kernel_sizes):
            raise ValueError(f"{channels} channels cannot be split across {len(self.kernel_sizes)} kernel sizes.")
        self.splits = split_channels(channels, len(self.kernel_sizes), self.partition)
        self.convs = []
        for index, (kernel, width) in enumerate(zip(self.kernel_sizes, self.splits, strict=True)):
            conv = keras.layers.DepthwiseConv2D(kernel, strides=self.strides, padding="same",
                                                use_bias=self.use_bias, name=f"dw{kernel}x{kernel}_{index}")  # fmt: skip
            conv.build((*input_shape[:-1], width))
            self.convs.append(conv)
        self.input_spec = keras.layers.InputSpec(min_ndim=4, axes={-1: channels})

    def call(self, inputs):
        if len(self.convs) == 1:
            return self.convs[0](inputs)
        boundaries = np.cumsum(self.splits)[:-1].tolist()
        parts = ops.split(inputs, boundaries, axis=-1)
        return ops.concatenate([conv(part) for conv, part in zip(self.convs, parts, strict=True)], axis=-1)

    def compute_output_shape(self, input_shape):
        shrink = lambda size: None if size is None else -(-size // self.strides)  # noqa: E731
        return (input_shape[0], shrink(input_shape[1]), shrink(input_shape[2]), input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "kernel_sizes": list(self.kernel_sizes), "strides": self.strides,
                "use_bias": self.use_bias, "partition": self.partition}  # fmt: skip


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledResidual(keras.layers.Layer):
    """``shortcut + scale * residual`` for inputs ``[shortcut, residual]`` of one shape.

    Inception-ResNet (Section 3.3 of the paper): "if the number of filters exceeded 1000, the
    residual variants started to exhibit instabilities ... scaling down the residuals before
    adding them to the previous layer activation seemed to stabilize the training"; the scales
    are 0.17 (35x35 blocks), 0.10 (17x17) and 0.20 (8x8) in Google's released code.
    """

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
