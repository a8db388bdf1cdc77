"""Convolution on point clouds: PointCNN's X-Conv (Li et al., NeurIPS 2018) and PointNet (Qi et al., CVPR 2017).

A point cloud is an unordered, irregular set: ``(batch, points, 3 + features)``, the first three
columns a point's coordinates, the rest its features (a pixel's intensity, a colour). A grid
convolution needs neighbours at fixed offsets in a fixed order; points have neither. The two
answers taught here:

- **PointNet**: treat every point alike (a shared MLP, 1x1 convolutions) and pool with a
  symmetric function (max), so the output cannot depend on the order of the points.
- **PointCNN**: for each representative point p, take its K nearest neighbours, express them in
  p's frame (local coordinates), lift those to features, and learn from the local coordinates a
  K x K matrix X that weights and permutes the neighbourhood into a canonical order; then an
  ordinary (separable) convolution over the K transformed neighbours follows. :class:`XConv`
  is the paper's Algorithm 1; every step is a public function or sublayer:

  1. :func:`knn_indices`: the K*D nearest points, every D-th kept (dilation D);
  2. :func:`gather_neighbours` and :func:`local_coordinates`: ``P - p``;
  3. ``lift_1``, ``lift_2``: two dense layers lifting each local coordinate to C_delta features;
  4. ``F* = concat(F_delta, F)``;
  5. ``x_0`` (a convolution over the K x 3 coordinates to K*K), ``x_1`` and ``x_2`` (two depthwise
     steps): the K x K matrix X, as the authors' code computes it;
  6. ``F_X = X F*`` (:func:`x_transform`);
  7. ``conv_depthwise`` and ``conv_pointwise``: a separable convolution over the K neighbours with a
     depth multiplier.

Every step uses ``keras.ops`` only, so the layer runs (and compiles) on TensorFlow, JAX and
PyTorch. The representative points are a subset of the input: for classification the paper
samples them at random (:func:`random_sample`: the first N' points of a cloud whose order the data
pipeline shuffles every epoch; the authors' ``tf.slice``), for segmentation by farthest point
sampling (:func:`farthest_point_sample`).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from cnnkit.models.registry import register

PACKAGE = "cnnkit"


# --- the steps, as functions on tensors ------------------------------------------------------


def pairwise_sq_distances(queries, points):
    """Squared Euclidean distances ``(batch, M, N)`` between queries ``(batch, M, d)`` and points
    ``(batch, N, d)``: ``|q|^2 - 2 q.p + |p|^2``, one ``batch x M x N`` block (the only large
    intermediate of a kNN step)."""
    inner = ops.matmul(queries, ops.transpose(points, (0, 2, 1)))
    q2 = ops.sum(ops.square(queries), axis=-1, keepdims=True)
    p2 = ops.expand_dims(ops.sum(ops.square(points), axis=-1), 1)
    return ops.maximum(q2 - 2.0 * inner + p2, 0.0)


def knn_indices(queries, points, k: int, dilation: int = 1):
    """Indices ``(batch, M, k)`` (int32) of each query's nearest points, nearest first: of the
    ``k * dilation`` nearest, every ``dilation``-th (PointCNN's dilated neighbourhood). A query
    that is itself one of the points finds itself first (distance 0)."""
    _, indices = ops.top_k(-pairwise_sq_distances(queries, points), k * dilation, sorted=True)
    return ops.cast(indices[:, :, ::dilation], "int32")


def gather_neighbours(values, indices):
    """``values`` ``(batch, N, C)`` picked at ``indices`` ``(batch, M, K)``: ``(batch, M, K, C)``.
    One flat ``take`` with per-example offsets (no ``batch x M x N`` broadcast)."""
    n, channels = values.shape[1], values.shape[2]
    m, k = indices.shape[1], indices.shape[2]
    offsets = ops.reshape(ops.arange(ops.shape(values)[0], dtype="int32") * n, (-1, 1, 1))
    flat = ops.reshape(indices + offsets, (-1,))
    picked = ops.take(ops.reshape(values, (-1, channels)), flat, axis=0)
    return ops.reshape(picked, (-1, m, k, channels))


def local_coordinates(representatives, neighbours):
    """Neighbours ``(batch, M, K, 3)`` in their representative's frame: ``P - p`` (``p``: ``(batch, M, 3)``)."""
    return neighbours - ops.expand_dims(representatives, 2)


def x_transform(matrices, features):
    """``F_X = X F*``: each neighbourhood's ``K x K`` matrix ``(batch, M, K, K)`` times its features
    ``(batch, M, K, C)``; with ``X`` a permutation matrix this reorders the neighbours."""
    return ops.matmul(matrices, features)


def random_sample(points, m: int):
    """The first ``m`` of ``(batch, N, d)`` points: random representatives when the cloud's order is
    random (the data pipelines shuffle each cloud every training epoch), as the authors' code takes
    them for classification."""
    return points[:, :m, :]


def farthest_point_sample(points, m: int):
    """Indices ``(batch, m)`` (int32) of ``m`` points chosen by farthest point sampling: start at point
    0, then repeatedly take the point farthest from those chosen so far (the paper's choice for
    segmentation). ``m`` steps of one ``batch x N`` distance update each."""
    n = points.shape[1]
    if not 0 < m <= n:
        raise ValueError(f"farthest_point_sample needs 0 < m <= {n} points, got m={m}.")
    batch = ops.shape(points)[0]
    positions = ops.arange(m, dtype="int32")

    def step(i, state):
        chosen, nearest, last = state
        last_point = ops.take_along_axis(points, ops.reshape(last, (-1, 1, 1)) * ops.ones((1, 1, 3), "int32"), axis=1)
        nearest = ops.minimum(nearest, ops.sum(ops.square(points - last_point), axis=-1))
        following = ops.cast(ops.argmax(nearest, axis=-1), "int32")
        chosen = ops.where(ops.expand_dims(positions, 0) == i, ops.expand_dims(following, 1), chosen)
        return chosen, nearest, following

    start = ops.zeros((batch,), "int32")
    state = (ops.zeros((batch, m), "int32"), ops.full((batch, n), float("inf")), start)
    chosen, _, _ = ops.fori_loop(1, m, step, state)
    return chosen


# --- layers ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class PointColumns(keras.layers.Layer):
    """Columns ``start:stop`` of a point cloud ``(batch, N, columns)``: the coordinates (0:3) or the
    features (3:). A layer rather than a slice so that a ``.keras`` file loads in safe mode."""

    def __init__(self, start: int, stop: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), None if stop is None else int(stop)

    def call(self, points):
        return points[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        width = len(range(input_shape[-1])[self.start : self.stop])
        return (*input_shape[:-1], width)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SamplePoints(keras.layers.Layer):
    """``count`` representative points ``(batch, count, 3)`` of ``(batch, N, 3)``: ``"random"`` (the
    first ``count``; :func:`random_sample`) or ``"fps"`` (:func:`farthest_point_sample`)."""

    METHODS = ("random", "fps")

    def __init__(self, count: int, method: str = "random", **kwargs):
        super().__init__(**kwargs)
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}.")
        self.count, self.method = int(count), method

    def call(self, points):
        if self.method == "random":
            return random_sample(points, self.count)
        indices = farthest_point_sample(points, self.count)
        return gather_neighbours(points, ops.expand_dims(indices, -1))[:, :, 0, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.count, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "count": self.count, "method": self.method}


BN_MOMENTUM = 0.9  # the authors' 0.99 assumes 100k+ steps; 0.9 lets the moving statistics catch up in a CPU-sized run


def _dense_elu_bn(units, name, momentum=BN_MOMENTUM):
    """The authors' ``pf.dense``: a bias-free dense layer, ELU, then batch norm."""
    return [layers.Dense(units, use_bias=False, name=f"{name}"), layers.ELU(name=f"{name}_elu"),
            layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")]  # fmt: skip


@keras.saving.register_keras_serializable(package=PACKAGE)
class NeighbourhoodDepthwise(keras.layers.Layer):
    """A depthwise convolution with a (1, K) kernel over neighbourhoods ``(batch, M, K, channels)``:
    each channel's K neighbours combined into ``multiplier`` outputs, ``(batch, M, channels, multiplier)``.

    The authors' ``depthwise_conv2d`` (the same ``K * channels * multiplier`` weights, no bias), written
    as one multiply-and-sum over the neighbours per multiplier: on a CPU this is 2x faster than
    ``DepthwiseConv2D`` on TensorFlow and compiles quickly under XLA (JAX), whose grouped convolutions are slow.
    """

    def __init__(self, multiplier: int, **kwargs):
        super().__init__(**kwargs)
        self.multiplier = int(multiplier)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-2], input_shape[-1], self.multiplier),
                                      initializer="glorot_uniform", name="kernel")  # fmt: skip

    def call(self, neighbourhoods):
        return ops.stack([ops.sum(neighbourhoods * self.kernel[:, :, j], axis=-2) for j in range(self.multiplier)],
                         axis=-1)  # fmt: skip

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-2], input_shape[-1], self.multiplier)

    def get_config(self):
        return {**super().get_config(), "multiplier": self.multiplier}


@keras.saving.register_keras_serializable(package=PACKAGE)
class XConv(keras.layers.Layer):
    """PointCNN's X-Conv (Li et al. 2018, Algorithm 1).

    Inputs ``[representatives, points]`` or ``[representatives, points, features]``:
    representatives p ``(batch, M, 3)``, points P ``(batch, N, 3)``, features F ``(batch, N, C)``.
    Output ``(batch, M, filters)`` (``filters + filters // 4`` with ``with_global``).

    Args:
        filters: C_out, the output features per representative point.
        neighbours: K, the neighbourhood size.
        dilation: D; the K neighbours are every D-th of the K*D nearest.
        lifted: C_delta, the features each local coordinate is lifted to.
        depth_multiplier: of the final separable convolution.
        use_x: False for the paper's ablation without X (``F_X = F*``).
        with_global: append ``filters // 4`` features of the representative's absolute position
            (two dense layers), as the authors' last classification layer does.
        momentum: of every batch norm inside (:data:`BN_MOMENTUM`).

    Every step follows the authors' ``pointfly`` order: a bias-free linear map, ELU, batch norm (the
    last step of X has no ELU). Their (1, K) convolutions over a neighbourhood are written as the dense
    maps they are: ``x_0`` a dense layer over the K x 3 local coordinates (to K*K), ``x_1``, ``x_2`` and
    ``conv_depthwise`` depthwise maps over the K neighbours (:class:`NeighbourhoodDepthwise`), ``conv_pointwise`` the separable convolution's 1x1.
    """

    def __init__(self, filters: int, neighbours: int, dilation: int = 1, lifted: int | None = None,
                 depth_multiplier: int = 1, use_x: bool = True, with_global: bool = False,
                 momentum: float = BN_MOMENTUM, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.filters, self.neighbours, self.dilation = int(filters), int(neighbours), int(dilation)
        self.lifted = int(lifted) if lifted is not None else self.filters // 2
        self.depth_multiplier, self.use_x, self.with_global = int(depth_multiplier), bool(use_x), bool(with_global)
        self.momentum = float(momentum)
        for name, value in (("filters", self.filters), ("neighbours", self.neighbours), ("dilation", self.dilation),
                            ("lifted", self.lifted), ("depth_multiplier", self.depth_multiplier)):  # fmt: skip
            if value < 1:
                raise ValueError(f"XConv's {name} must be a positive integer, got {value}.")
        k, bn = self.neighbours, lambda name: layers.BatchNormalization(momentum=self.momentum, name=name)
        self.lift = _dense_elu_bn(self.lifted, "lift_1", self.momentum) + _dense_elu_bn(self.lifted, "lift_2",
                                                                                           self.momentum)
        self.x_steps = [
            [layers.Dense(k * k, use_bias=False, name="x_0"), layers.ELU(name="x_0_elu"), bn("x_0_bn")],
            [NeighbourhoodDepthwise(k, name="x_1"), layers.ELU(name="x_1_elu"), bn("x_1_bn")],
            [NeighbourhoodDepthwise(k, name="x_2"), bn("x_2_bn")],
        ] if self.use_x else []  # fmt: skip
        self.conv_depthwise = None  # built once the input's channels are known (build)
        self.conv = [layers.Dense(self.filters, use_bias=False, name="conv_pointwise"), layers.ELU(name="conv_elu"),
                     bn("conv_bn")]  # fmt: skip
        quarter = self.filters // 4
        self.global_steps = (_dense_elu_bn(quarter, "global_1", self.momentum)
                             + _dense_elu_bn(quarter, "global_2", self.momentum) if self.with_global else [])  # fmt: skip

    @staticmethod
    def _run(steps, x, training=None):
        for step in steps:
            x = step(x, training=training) if isinstance(step, layers.BatchNormalization) else step(x)
        return x

    @staticmethod
    def _build_steps(steps, shape):
        for step in steps:
            step.build(shape)
            shape = step.compute_output_shape(shape)
        return shape

    def build(self, input_shape):
        representatives, points = input_shape[0], input_shape[1]
        m, k = representatives[1], self.neighbours
        if points[1] is not None and k * self.dilation > points[1]:
            raise ValueError(f"XConv needs K*D = {k}*{self.dilation} = {k * self.dilation} neighbours but the "
                             f"cloud has {points[1]} points.")  # fmt: skip
        lifted = self._build_steps(self.lift, (None, m, k, 3))
        channels = lifted[-1] + (input_shape[2][-1] if len(input_shape) > 2 else 0)
        if self.use_x:
            self._build_steps(self.x_steps[0], (None, m, k * 3))
            for group in self.x_steps[1:]:  # the einsum on (M, K, K), then ELU and batch norm on the K*K values
                self._build_steps(group[:1], (None, m, k, k))
                self._build_steps(group[1:], (None, m, k * k))
        self.conv_depthwise = NeighbourhoodDepthwise(self.depth_multiplier, name="conv_depthwise")
        self.conv_depthwise.build((None, m, k, channels))
        self._build_steps(self.conv, (None, m, channels * self.depth_multiplier))
        self._build_steps(self.global_steps, (None, m, 3))
        self.built = True

    def neighbourhoods(self, representatives, points):
        """Steps 1-2: the neighbours' indices ``(batch, M, K)`` and local coordinates ``(batch, M, K, 3)``."""
        indices = knn_indices(representatives, points, self.neighbours, self.dilation)
        return indices, local_coordinates(representatives, gather_neighbours(points, indices))

    def transform_matrices(self, local, training=None):
        """Step 5: the learned ``X`` ``(batch, M, K, K)`` from the local coordinates ``(batch, M, K, 3)``."""
        k, m = self.neighbours, local.shape[1]
        x = self._run(self.x_steps[0], ops.reshape(local, (-1, m, k * 3)), training)  # (batch, M, K*K)
        for einsum, *rest in self.x_steps[1:]:  # batch norm over the K*K values, as the authors' (1, K*K) maps
            x = self._run(rest, ops.reshape(einsum(ops.reshape(x, (-1, m, k, k))), (-1, m, k * k)), training)
        return ops.reshape(x, (-1, m, k, k))

    def call(self, inputs, training=None):
        representatives, points = inputs[0], inputs[1]
        indices, local = self.neighbourhoods(representatives, points)
        features = self._run(self.lift, local, training)  # F_delta (batch, M, K, C_delta)
        if len(inputs) > 2:
            features = ops.concatenate([features, gather_neighbours(inputs[2], indices)], axis=-1)  # F*
        if self.use_x:
            features = x_transform(self.transform_matrices(local, training), features)  # F_X = X F*
        depthwise = self.conv_depthwise(features)  # (batch, M, C*, multiplier)
        m = depthwise.shape[1]
        flat = ops.reshape(depthwise, (-1, m, depthwise.shape[2] * depthwise.shape[3]))
        out = self._run(self.conv, flat, training)  # (batch, M, filters)
        if self.with_global:
            out = ops.concatenate([self._run(self.global_steps, representatives, training), out], axis=-1)
        return out

    def compute_output_shape(self, input_shape):
        extra = self.filters // 4 if self.with_global else 0
        return (input_shape[0][0], input_shape[0][1], self.filters + extra)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "neighbours": self.neighbours,
                "dilation": self.dilation, "lifted": self.lifted, "depth_multiplier": self.depth_multiplier,
                "use_x": self.use_x, "with_global": self.with_global, "momentum": self.momentum}  # fmt: skip


# --- PointCNN ----------------------------------------------------------------------------------

# (K, D, N', C) per X-Conv layer, N' = None for "all points" (the authors' -1), and (C, dropout) of the
# classifier's dense layers: pointcnn_cls/modelnet_x3_l4.py and mnist_x2_l4.py of the authors' code.
MODELNET_LAYERS = ((8, 1, None, 48), (12, 2, 384, 96), (16, 2, 128, 192), (16, 3, 128, 384))
MODELNET_CLASSIFIER = ((384, 0.0), (192, 0.5))
MNIST_LAYERS = ((8, 1, None, 32), (12, 3, None, 64), (16, 3, 120, 128), (16, 5, 120, 256))
MNIST_CLASSIFIER = ((256, 0.0), (128, 0.5))


def xconv_stack(points, features, table, *, use_x=True, sampling="random", with_global=True):
    """The X-Conv layers of ``table`` ((K, D, N', C) rows) on ``points`` ``(batch, N, 3)`` and
    ``features`` (or None), with the authors' rules: the first layer lifts to C/2 (C/4 with input
    features) with depth multiplier 4; layer i lifts to C_{i-1}/4 with multiplier ceil(C_i / C_{i-1});
    the last adds the global position features. Returns the last layer's ``(batch, N', C')``."""
    previous_count = None
    for i, (k, dilation, count, filters) in enumerate(table):
        if count is None or count == previous_count:
            representatives = points
        else:
            representatives = SamplePoints(count, sampling, name=f"sample_{i + 1}")(points)
        if i == 0:
            lifted, multiplier = (filters // 2 if features is None else filters // 4), 4
        else:
            lifted, multiplier = table[i - 1][3] // 4, math.ceil(filters / table[i - 1][3])
        inputs = [representatives, points] + ([features] if features is not None else [])
        features = XConv(filters, k, dilation, lifted, multiplier, use_x=use_x,
                         with_global=with_global and i == len(table) - 1, name=f"xconv_{i + 1}")(inputs)  # fmt: skip
        points, previous_count = representatives, count
    return features


def point_cnn_network(input_shape, num_classes, table, classifier, *, use_x=True, sampling="random",
                      with_global=True, name="pointcnn"):  # fmt: skip
    """A PointCNN classifier: input features lifted to C_1/2 (dense, ELU, BN), the X-Conv stack, dense
    layers per representative point (with dropout), their mean over the points, a softmax.

    The authors average the per-point logits at test time and train each point's logits on the
    label; this network averages before its last (linear) layer, which gives the test-time output
    the authors compute, in training too."""
    inputs = keras.Input(input_shape, name="points")
    if input_shape[-1] < 3:
        raise ValueError(f"PointCNN takes (points, 3 + features) clouds, got {input_shape}.")
    points = PointColumns(0, 3, name="coordinates")(inputs)
    features = None
    if input_shape[-1] > 3:
        features = PointColumns(3, name="features")(inputs)
        for step in _dense_elu_bn(table[0][3] // 2, "features_lift"):
            features = step(features)
    x = xconv_stack(points, features, table, use_x=use_x, sampling=sampling, with_global=with_global)
    for i, (units, rate) in enumerate(classifier):
        for step in _dense_elu_bn(units, f"fc{i + 1}"):
            x = step(x)
        if rate:
            x = layers.Dropout(rate, name=f"fc{i + 1}_dropout")(x)
    x = layers.GlobalAveragePooling1D(name="mean_over_points")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


POINTCNN_PAPER = ("Li, Bu, Sun, Wu, Di and Chen (2018). PointCNN: Convolution On X-Transformed Points. "
                  "NeurIPS 2018")  # fmt: skip


@register(summary="PointCNN, the paper's ModelNet40 classifier (X-Conv, 1,024 points)", year=2018,
          paper=POINTCNN_PAPER, parameters=607_068, takes="points", fixed_input=False,
          fitted={"mnist_points": "pointcnn_mnist"})  # fmt: skip
def pointcnn(input_shape=(1024, 3), num_classes=40, use_x=True, sampling="random", with_global=True):
    """PointCNN for ModelNet40 (the authors' ``modelnet_x3_l4``): X-Conv layers (K, D, N', C) = (8, 1,
    all, 48), (12, 2, 384, 96), (16, 2, 128, 192), (16, 3, 128, 384), then 384 -> 192 (dropout 0.5)
    -> classes. ``use_x=False``: the ablation without X. ``sampling="fps"``: farthest point sampling."""
    return point_cnn_network(input_shape, num_classes, MODELNET_LAYERS, MODELNET_CLASSIFIER, use_x=use_x,
                             sampling=sampling, with_global=with_global, name="pointcnn" if use_x else "pointcnn_no_x")  # fmt: skip


@register(summary="PointCNN, the paper's MNIST configuration (160 points: x, y, z, intensity)", year=2018,
          paper=POINTCNN_PAPER, parameters=307_226, takes="points")  # fmt: skip
def pointcnn_mnist(input_shape=(160, 4), num_classes=10, use_x=True, sampling="random", with_global=True):
    """PointCNN for MNIST points (the authors' ``mnist_x2_l4``): 160 points with their intensity as a
    feature; X-Conv layers (8, 1, all, 32), (12, 3, all, 64), (16, 3, 120, 128), (16, 5, 120, 256),
    then 256 -> 128 (dropout 0.5) -> classes."""
    return point_cnn_network(input_shape, num_classes, MNIST_LAYERS, MNIST_CLASSIFIER, use_x=use_x,
                             sampling=sampling, with_global=with_global,
                             name="pointcnn_mnist" if use_x else "pointcnn_mnist_no_x")  # fmt: skip


# --- PointNet ----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class OrthogonalRegularizer(keras.regularizers.Regularizer):
    """PointNet's regulariser on a ``k x k`` feature transform A: ``weight * ||I - A A^T||_F^2``,
    summed over the batch (applied to the flat ``(batch, k*k)`` output that becomes A)."""

    def __init__(self, size: int, weight: float = 0.001):
        self.size, self.weight = int(size), float(weight)

    def __call__(self, flat):
        matrices = ops.reshape(flat, (-1, self.size, self.size))
        product = ops.matmul(matrices, ops.transpose(matrices, (0, 2, 1)))
        return self.weight * ops.sum(ops.square(product - ops.eye(self.size)))

    def get_config(self):
        return {"size": self.size, "weight": self.weight}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FlatIdentity(keras.initializers.Initializer):
    """The ``k x k`` identity matrix, flattened to ``(k*k,)``: a T-Net's bias, so that it starts as
    the identity transform."""

    def __call__(self, shape, dtype=None):
        size = math.isqrt(int(shape[0]))
        if size * size != shape[0]:
            raise ValueError(f"FlatIdentity needs a square size, got {shape}.")
        return ops.reshape(ops.eye(size, dtype=dtype), (-1,))


def _conv_bn_relu(x, filters, name):
    x = layers.Conv1D(filters, 1, name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _dense_bn_relu(x, units, name):
    x = layers.Dense(units, name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def transform_net(x, size, name, regularize=False):
    """PointNet's T-Net: shared MLP 64-128-1024, max pool, 512-256, a ``size x size`` matrix that
    starts as the identity; returns ``x`` multiplied by it (``(batch, N, size)``)."""
    t = x
    for i, filters in enumerate((64, 128, 1024)):
        t = _conv_bn_relu(t, filters, f"{name}_conv{i + 1}")
    t = layers.GlobalMaxPooling1D(name=f"{name}_max")(t)
    t = _dense_bn_relu(t, 512, f"{name}_fc1")
    t = _dense_bn_relu(t, 256, f"{name}_fc2")
    t = layers.Dense(size * size, kernel_initializer="zeros",
                     bias_initializer=FlatIdentity(),
                     activity_regularizer=OrthogonalRegularizer(size) if regularize else None,
                     name=f"{name}_matrix")(t)  # fmt: skip
    matrix = layers.Reshape((size, size), name=f"{name}_reshape")(t)
    return layers.Dot(axes=(2, 1), name=f"{name}_apply")([x, matrix])


@register(summary="PointNet (shared MLP, max pooling, input and feature transforms), the baseline", year=2017,
          paper="Qi, Su, Mo and Guibas (2017). PointNet: Deep Learning on Point Sets for 3D Classification and "
                "Segmentation. CVPR 2017", parameters=3_492_209, takes="points")  # fmt: skip
def pointnet(input_shape=(1024, 3), num_classes=40, input_transform=True, feature_transform=True):
    """PointNet's classifier: [input transform 3x3] -> shared MLP 64-64 -> [feature transform 64x64,
    orthogonality regulariser 0.001] -> 64-128-1024 -> max pool over the points -> 512 -> 256 (dropout,
    keep 0.7) -> classes. Features beyond the coordinates join after the input transform. Batch norm with
    momentum :data:`BN_MOMENTUM` (the authors' code anneals it from 0.5 to 0.99 over training)."""
    inputs = keras.Input(input_shape, name="points")
    x = PointColumns(0, 3, name="coordinates")(inputs)
    if input_transform:
        x = transform_net(x, 3, "input_transform")
    if input_shape[-1] > 3:
        x = layers.Concatenate(name="with_features")([x, PointColumns(3, name="features")(inputs)])
    x = _conv_bn_relu(x, 64, "mlp1")
    x = _conv_bn_relu(x, 64, "mlp2")
    if feature_transform:
        x = transform_net(x, 64, "feature_transform", regularize=True)
    for i, filters in enumerate((64, 128, 1024)):
        x = _conv_bn_relu(x, filters, f"mlp{i + 3}")
    x = layers.GlobalMaxPooling1D(name="max_over_points")(x)
    x = _dense_bn_relu(x, 512, "fc1")
    x = _dense_bn_relu(x, 256, "fc2")
    x = layers.Dropout(0.3, name="fc2_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="pointnet")
