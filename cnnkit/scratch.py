"""A convolutional network from scratch in NumPy: every forward and backward pass written out.

The steps of the classic MATLAB DeepLearnToolbox walk-through, in Python:

1. set-up: build layers and initialize their weights (:func:`glorot_uniform`, :func:`he_uniform`);
2. feed-forward: ``net.forward(x)``;
3. back-propagation: ``net.backward(dlogits)`` after :func:`softmax_cross_entropy`;
4. apply gradients: ``SGD.step(net)``;
5. test: :func:`accuracy`.

:class:`ToolboxCNN` is the toolbox's own example network as published (6c5-2s-12c5-2s, sigmoid
units, mean pooling, a sigmoid output layer trained on the mean squared error with learning rate 1
and batches of 50), written the way the toolbox writes it: true convolutions, Kronecker-product
upsampling and kernels rotated by 180 degrees.

Shapes are channels-last like Keras: images ``(batch, height, width, channels)`` and conv
kernels ``(kh, kw, in_channels, filters)``, so weights can be copied to and from Keras and
TensorFlow for checking. Every layer keeps what its backward pass needs from the forward
pass (its *cache*) and stores its gradients in ``grads`` under the same names as ``params``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

# ---------------------------------------------------------------------------------------
# Initialization


def glorot_uniform(shape, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Xavier/Glorot uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (as the toolbox)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he_uniform(shape, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """He uniform: U(-a, a) with a = sqrt(6 / fan_in), for ReLU layers (fan_out is unused)."""
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


INITIALIZERS = {"glorot": glorot_uniform, "he": he_uniform}

# ---------------------------------------------------------------------------------------
# Sliding windows: im2col and its adjoint col2im


def padding_amounts(size: int, kernel: int, stride: int, padding) -> tuple[int, int]:
    """Zeros added ``(before, after)`` along one axis for ``"valid"``, ``"same"`` or an int.

    ``"same"`` follows TensorFlow: output ``ceil(size / stride)``, with the odd extra zero
    after (bottom/right).
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}.")
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        before, after = total // 2, total - total // 2
    elif isinstance(padding, int | np.integer) and padding >= 0:
        before = after = int(padding)
    else:
        raise ValueError(f"padding must be 'valid', 'same' or an integer >= 0, got {padding!r}.")
    if kernel > size + before + after:
        raise ValueError(
            f"a {kernel}-wide window does not fit an input of {size} padded to {size + before + after}."
        )
    return before, after


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, pads, pad_value: float = 0.0) -> np.ndarray:
    """Every ``kh x kw`` window of ``x`` as a row-ready block.

    ``x``: ``(n, h, w, c)``; ``pads``: ``((top, bottom), (left, right))``.
    Returns ``(n, out_h, out_w, kh, kw, c)``: the window under each output position.
    """
    padded = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=pad_value)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # (n, out_h, out_w, c, kh, kw)
    return windows.transpose(0, 1, 2, 4, 5, 3)


def col2im(cols: np.ndarray, x_shape, stride: int, pads) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each window's values back where they came from.

    ``cols``: ``(n, out_h, out_w, kh, kw, c)``; returns an array of ``x_shape``. Where windows
    overlap the contributions add up, which is exactly what the gradient needs.
    """
    n, h, w, c = x_shape
    _, out_h, out_w, kh, kw, _ = cols.shape
    (top, bottom), (left, right) = pads
    padded = np.zeros((n, h + top + bottom, w + left + right, c), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride] += cols[:, :, :, i, j]
    return padded[:, top : top + h, left : left + w]


# ---------------------------------------------------------------------------------------
# Layers


class Layer:
    """Base class: ``forward``, ``backward``, and dicts of ``params`` and their ``grads``."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep learning library) via im2col.

    ``out[n, y, x, f] = b[f] + sum_{i, j, c} window[n, y, x, i, j, c] * W[i, j, c, f]``:
    one matrix product ``(n * out_h * out_w, kh * kw * c) @ (kh * kw * c, filters)``.
    """

    def __init__(self, in_channels, filters, kernel_size, stride=1, padding="valid", init="glorot", rng=None):
        super().__init__()
        if kernel_size < 1 or filters < 1 or in_channels < 1:
            raise ValueError("kernel_size, filters and in_channels must be positive.")
        rng = rng if rng is not None else np.random.default_rng(0)
        k = self.kernel_size = int(kernel_size)
        self.stride, self.padding = int(stride), padding
        fan_in, fan_out = k * k * in_channels, k * k * filters
        self.params["W"] = INITIALIZERS[init]((k, k, in_channels, filters), fan_in, fan_out, rng)
        self.params["b"] = np.zeros(filters)

    def forward(self, x):
        n, h, w, _ = x.shape
        k, s = self.kernel_size, self.stride
        self.pads = (padding_amounts(h, k, s, self.padding), padding_amounts(w, k, s, self.padding))
        windows = im2col(x, k, k, s, self.pads)
        self.cache = (x.shape, windows)
        W = self.params["W"]
        return np.tensordot(windows, W, axes=3) + self.params["b"]

    def backward(self, dout):
        x_shape, windows = self.cache
        W = self.params["W"]
        self.grads["W"] = np.tensordot(windows, dout, axes=([0, 1, 2], [0, 1, 2]))
        self.grads["b"] = dout.sum(axis=(0, 1, 2))
        dwindows = np.tensordot(dout, W, axes=([3], [3]))  # (n, oh, ow, kh, kw, c)
        return col2im(dwindows, x_shape, self.stride, self.pads)


class _Pool2D(Layer):
    """Shared window bookkeeping of the pooling layers (no parameters)."""

    def __init__(self, pool_size=2, stride=None, padding="valid"):
        super().__init__()
        self.pool_size = int(pool_size)
        self.stride = int(stride or pool_size)
        self.padding = padding

    def _windows(self, x, pad_value):
        n, h, w, c = x.shape
        p, s = self.pool_size, self.stride
        self.pads = (padding_amounts(h, p, s, self.padding), padding_amounts(w, p, s, self.padding))
        return im2col(x, p, p, s, self.pads, pad_value)  # (n, oh, ow, p, p, c)


class MaxPool2D(_Pool2D):
    """Max pooling: the gradient flows only to the largest value of each window."""

    def forward(self, x):
        windows = self._windows(x, pad_value=-np.inf)
        n, oh, ow, p, _, c = windows.shape
        flat = windows.reshape(n, oh, ow, p * p, c)
        self.cache = (x.shape, flat.argmax(axis=3))
        return flat.max(axis=3)

    def backward(self, dout):
        x_shape, winners = self.cache
        n, oh, ow, c = dout.shape
        p = self.pool_size
        dflat = np.zeros((n, oh, ow, p * p, c), dtype=dout.dtype)
        np.put_along_axis(dflat, winners[:, :, :, None, :], dout[:, :, :, None, :], axis=3)
        return col2im(dflat.reshape(n, oh, ow, p, p, c), x_shape, self.stride, self.pads)


class AvgPool2D(_Pool2D):
    """Average pooling; with 'same' padding the padded zeros are not counted (as TensorFlow)."""

    def forward(self, x):
        windows = self._windows(x, pad_value=0.0)
        counts = self._windows(np.ones((1, *x.shape[1:3], 1)), pad_value=0.0).sum(axis=(3, 4))
        self.cache = (x.shape, counts)  # counts: (1, oh, ow, 1) real pixels per window
        return windows.sum(axis=(3, 4)) / counts

    def backward(self, dout):
        x_shape, counts = self.cache
        p = self.pool_size
        share = (dout / counts)[:, :, :, None, None, :]
        dwindows = np.broadcast_to(share, (*dout.shape[:3], p, p, dout.shape[3]))
        return col2im(np.ascontiguousarray(dwindows), x_shape, self.stride, self.pads)


class Dense(Layer):
    """Fully connected: ``out = x @ W + b``; ``x``: ``(n, in)``, ``W``: ``(in, out)``."""

    def __init__(self, in_features, units, init="glorot", rng=None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["W"] = INITIALIZERS[init]((in_features, units), in_features, units, rng)
        self.params["b"] = np.zeros(units)

    def forward(self, x):
        self.cache = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.cache.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T


class Flatten(Layer):
    """``(n, h, w, c)`` to ``(n, h * w * c)`` in channels-last order (as Keras' Flatten)."""

    def forward(self, x):
        self.cache = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dout):
        return dout.reshape(self.cache)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``; derivative ``s (1 - s)``, at most 0.25."""

    def forward(self, x):
        self.cache = 1.0 / (1.0 + np.exp(-x))
        return self.cache

    def backward(self, dout):
        return dout * self.cache * (1.0 - self.cache)


class Tanh(Layer):
    """``tanh(x)``; derivative ``1 - tanh(x)^2``."""

    def forward(self, x):
        self.cache = np.tanh(x)
        return self.cache

    def backward(self, dout):
        return dout * (1.0 - self.cache**2)


class ReLU(Layer):
    """``max(0, x)``; derivative 1 where ``x > 0``, else 0."""

    def forward(self, x):
        self.cache = x > 0
        return x * self.cache

    def backward(self, dout):
        return dout * self.cache


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably by subtracting each row's maximum first."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    Returns ``(loss, dlogits)``; the gradient is the famous ``(softmax - one_hot) / n``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(logits):
        raise ValueError(f"labels must have shape ({len(logits)},), got {labels.shape}.")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1}, got {labels.min()}..{labels.max()}.")
    probabilities = softmax(logits)
    n = len(labels)
    loss = -np.log(probabilities[np.arange(n), labels] + 1e-12).mean()
    dlogits = probabilities.copy()
    dlogits[np.arange(n), labels] -= 1.0
    return float(loss), dlogits / n


# ---------------------------------------------------------------------------------------
# Network, optimizer, training


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, layers: list[Layer]):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self):
        """``(layer, name)`` for every parameter, in a fixed order."""
        return [(layer, name) for layer in self.layers for name in layer.params]

    def count_params(self) -> int:
        return sum(layer.params[name].size for layer, name in self.parameters())


class SGD:
    """Stochastic gradient descent with momentum: ``v = m v - lr g``; ``w += v``."""

    def __init__(self, learning_rate=0.05, momentum=0.9):
        self.learning_rate, self.momentum = learning_rate, momentum
        self.velocity: dict[tuple[int, str], np.ndarray] = {}

    def step(self, net: Sequential):
        for layer, name in net.parameters():
            key = (id(layer), name)
            v = self.velocity.get(key, 0.0)
            v = self.momentum * v - self.learning_rate * layer.grads[name]
            self.velocity[key] = v
            layer.params[name] += v


def lenet_scratch(num_classes=10, in_channels=1, seed=0) -> Sequential:
    """A small LeNet-style network for 28x28 images, built from the layers above.

    conv 5x5x6 'same' -> ReLU -> max pool 2 -> conv 5x5x16 -> ReLU -> max pool 2 -> flatten
    (400) -> dense 120 -> ReLU -> dense 84 -> ReLU -> dense ``num_classes`` (logits).
    """
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(in_channels, 6, 5, padding="same", init="he", rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(6, 16, 5, init="he", rng=rng), ReLU(), MaxPool2D(2),
        Flatten(),
        Dense(400, 120, init="he", rng=rng), ReLU(),
        Dense(120, 84, init="he", rng=rng), ReLU(),
        Dense(84, num_classes, rng=rng),
    ])  # fmt: skip


def predict(net: Sequential, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted class per image (argmax of the logits), in batches."""
    return np.concatenate(
        [net.forward(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    )


def accuracy(net: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of images whose predicted class equals the label."""
    return float((predict(net, x) == y).mean())


def fit(net, x, y, epochs=10, batch_size=32, optimizer=None, seed=0, x_val=None, y_val=None):
    """Train with mini-batches; returns a list of dicts, one per epoch (loss, accuracies).

    ``x``: float images ``(n, h, w, c)``; ``y``: integer labels ``(n,)``.
    """
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError(f"x must be (n, h, w, c) with one label each; got {x.shape} and {np.shape(y)}.")
    optimizer = optimizer or SGD()
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            logits = net.forward(x[batch])  # 2. feed-forward
            loss, dlogits = softmax_cross_entropy(logits, y[batch])
            net.backward(dlogits)  # 3. back-propagation
            optimizer.step(net)  # 4. apply gradients
            losses.append(loss)
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "accuracy": accuracy(net, x, y)}
        if x_val is not None:
            row["val_accuracy"] = accuracy(net, x_val, y_val)  # 5. test
        history.append(row)
    return history


# ---------------------------------------------------------------------------------------
# The 1990s toolbox network, as the MATLAB DeepLearnToolbox's CNN example builds and trains it


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))``, the toolbox's ``sigm``."""
    return 1.0 / (1.0 + np.exp(-x))


class ToolboxCNN:
    """The toolbox's example CNN: input 28x28 -> 6 maps, 5x5 convolutions (24x24) -> 2x2 mean
    pooling (12x12) -> 12 maps, 5x5 (8x8) -> 2x2 mean pooling (4x4) -> the 12 x 4 x 4 = 192
    values in one feature vector -> 10 sigmoid outputs. Sigmoid after every convolution, no
    activation and no weights in the pooling layers, loss ``1/2 sum (o - y)^2`` averaged over the
    batch, plain gradient descent (``cnnsetup.m``, ``cnnff.m``, ``cnnbp.m``, ``cnnapplygrads.m``).

    Maps are kept as the toolbox keeps them, one array per map: ``maps[l][j]`` is
    ``(batch, h, w)``; kernels ``kernels[l][i][j]`` ``(5, 5)`` from input map ``i`` to output
    map ``j``. Images: ``(batch, 28, 28)`` in [0, 1]; targets: one-hot ``(batch, 10)``.
    """

    def __init__(self, maps=(6, 12), kernel_size: int = 5, scale: int = 2, classes: int = 10,
                 image_size: int = 28, seed: int = 0):  # fmt: skip
        rng = np.random.default_rng(seed)
        self.kernel_size, self.scale, self.maps = kernel_size, scale, tuple(maps)
        self.kernels, self.biases = [], []
        inputs, size = 1, image_size
        for outputs in self.maps:  # 1. set-up, as cnnsetup.m
            fan_in, fan_out = inputs * kernel_size**2, outputs * kernel_size**2  # maps x kernel area
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            self.kernels.append([[rng.uniform(-limit, limit, (kernel_size, kernel_size)) for _ in range(outputs)]
                                 for _ in range(inputs)])  # fmt: skip
            self.biases.append(np.zeros(outputs))
            size = (size - kernel_size + 1) // scale
            if size < 1:
                raise ValueError(f"{image_size}x{image_size} images are too small for {len(self.maps)} stages.")
            inputs = outputs
        self.features = inputs * size * size  # 12 x 4 x 4 = 192
        limit = math.sqrt(6.0 / (classes + self.features))
        self.output_weights = rng.uniform(-limit, limit, (classes, self.features))
        self.output_bias = np.zeros(classes)

    def count_params(self) -> int:
        convolutions = sum(len(k) * len(k[0]) * self.kernel_size**2 + len(b) for k, b in zip(self.kernels, self.biases, strict=True))
        return convolutions + self.output_weights.size + self.output_bias.size

    def forward(self, images: np.ndarray) -> np.ndarray:
        """2. Feed-forward (``cnnff.m``): ``images`` ``(batch, 28, 28)`` -> outputs ``(batch, 10)``."""
        if images.ndim != 3:
            raise ValueError(f"images must be (batch, height, width), got shape {images.shape}.")
        self.inputs = [[images]]  # what each convolution stage received, map by map
        self.activations, maps = [], [images]
        mean = np.ones((1, self.scale, self.scale)) / self.scale**2
        for kernels, biases in zip(self.kernels, self.biases, strict=True):
            activated = [sigmoid(sum(signal.convolve(maps[i], kernels[i][j][None], mode="valid")
                                     for i in range(len(maps))) + biases[j])
                         for j in range(len(biases))]  # fmt: skip
            self.activations.append(activated)
            # mean pooling: convolve with a 2x2 box of 1/4, keep every second value
            maps = [signal.convolve(a, mean, mode="valid")[:, :: self.scale, :: self.scale] for a in activated]
            self.inputs.append(maps)
        self.feature_vector = np.concatenate([m.reshape(len(images), -1) for m in maps], axis=1)  # (batch, 192)
        self.outputs = sigmoid(self.feature_vector @ self.output_weights.T + self.output_bias)
        return self.outputs

    def backward(self, targets: np.ndarray) -> float:
        """3. Back-propagation (``cnnbp.m``) after :meth:`forward`; returns the loss
        ``1/2 sum (o - y)^2 / batch`` and stores every gradient (``self.gradients``)."""
        batch = len(targets)
        error = self.outputs - targets
        loss = 0.5 * float(np.sum(error**2)) / batch
        output_delta = error * self.outputs * (1 - self.outputs)  # through the output sigmoid
        feature_delta = output_delta @ self.output_weights  # (batch, 192)
        last = self.inputs[-1]
        size = last[0].shape[1]
        deltas = [feature_delta[:, j * size * size:(j + 1) * size * size].reshape(batch, size, size)
                  for j in range(len(last))]  # the pooled maps' deltas  # fmt: skip
        kernel_grads, bias_grads = [], []
        for stage in reversed(range(len(self.kernels))):
            # Through mean pooling: each delta is copied to its 2x2 block (a Kronecker product with
            # a block of ones) and divided by the pooling area; then through the sigmoid.
            block = np.ones((1, self.scale, self.scale))
            conv_deltas = [a * (1 - a) * np.kron(d, block) / self.scale**2
                           for a, d in zip(self.activations[stage], deltas, strict=True)]  # fmt: skip
            previous = self.inputs[stage]
            # Kernel gradient. The toolbox computes each as convn(flipall(a), d, 'valid') / batch: the
            # input map correlated with the delta over every position and example, rotated by 180
            # degrees (the forward pass is a true convolution). Here for all pairs of maps at once.
            windows = np.lib.stride_tricks.sliding_window_view(np.stack(previous, 1), conv_deltas[0].shape[1:], axis=(2, 3))
            correlation = np.einsum("niuvyx,njyx->ijuv", windows, np.stack(conv_deltas, 1)) / batch
            kernel_grads.insert(0, [[np.rot90(correlation[i, j], 2) for j in range(len(conv_deltas))]
                                    for i in range(len(previous))])  # fmt: skip
            bias_grads.insert(0, np.array([d.sum() / batch for d in conv_deltas]))
            if stage > 0:  # the previous pooled maps' deltas: full convolution with the kernel rotated 180 degrees
                deltas = [sum(signal.convolve(conv_deltas[j], np.rot90(self.kernels[stage][i][j], 2)[None], mode="full")
                              for j in range(len(conv_deltas))) for i in range(len(previous))]  # fmt: skip
        self.gradients = {"kernels": kernel_grads, "biases": bias_grads,
                          "output_weights": output_delta.T @ self.feature_vector / batch,
                          "output_bias": output_delta.mean(axis=0)}  # fmt: skip
        return loss

    def apply_gradients(self, learning_rate: float = 1.0) -> None:
        """4. Apply the gradients (``cnnapplygrads.m``): ``w -= learning_rate * dw``, no momentum."""
        g = self.gradients
        for stage, kernels in enumerate(self.kernels):
            for i, row in enumerate(kernels):
                for j in range(len(row)):
                    row[j] -= learning_rate * g["kernels"][stage][i][j]
            self.biases[stage] -= learning_rate * g["biases"][stage]
        self.output_weights -= learning_rate * g["output_weights"]
        self.output_bias -= learning_rate * g["output_bias"]

    def error_rate(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> float:
        """5. Test (``cnntest.m``): the fraction of images whose largest output is not the label."""
        predicted = np.concatenate([self.forward(images[i:i + batch_size]).argmax(1)
                                    for i in range(0, len(images), batch_size)])  # fmt: skip
        return float(np.mean(predicted != np.asarray(labels)))


def train_toolbox(net: ToolboxCNN, images: np.ndarray, labels: np.ndarray, epochs: int = 1, batch_size: int = 50,
                  learning_rate: float = 1.0, seed: int = 0) -> list[float]:  # fmt: skip
    """``cnntrain.m``: ``epochs`` passes over ``images`` ``(n, 28, 28)`` in a random order,
    batches of ``batch_size`` (the last partial batch is left out, as the toolbox does), one
    gradient step each. Integer ``labels`` ``(n,)`` become one-hot targets. Returns the loss of
    every step."""
    images, labels = np.asarray(images, dtype="float64"), np.asarray(labels)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"images must be (n, height, width) with one label each; got {images.shape} and {labels.shape}.")
    if len(images) < batch_size:
        raise ValueError(f"{len(images)} images do not fill one batch of {batch_size}.")
    targets = np.eye(len(net.output_bias))[labels]
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(images) - batch_size + 1, batch_size):
            batch = order[start:start + batch_size]
            net.forward(images[batch])
            losses.append(net.backward(targets[batch]))
            net.apply_gradients(learning_rate)
    return losses
