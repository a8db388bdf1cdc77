"""A convolutional network from scratch in NumPy: every forward and backward pass written out.

The steps of the classic MATLAB DeepLearnToolbox walk-through, in Python:

1. set-up: build layers and initialize their weights (:func:`glorot_uniform`, :func:`he_uniform`);
2. feed-forward: ``net.forward(x)``;
3. back-propagation: ``net.backward(dlogits)`` after :func:`softmax_cross_entropy`;
4. apply gradients: ``SGD.step(net)``;
5. test: :func:`accuracy`.

Shapes are channels-last like Keras: images ``(batch, height, width, channels)`` and conv
kernels ``(kh, kw, in_channels, filters)``, so weights can be copied to and from Keras and
TensorFlow for checking. Every layer keeps what its backward pass needs from the forward
pass (its *cache*) and stores its gradients in ``grads`` under the same names as ``params``.
"""

from __future__ import annotations

import math

import numpy as np

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
