"""Data augmentation as ``tf.data`` map functions over batches of ``(images, labels)``.

- :func:`random_shift`: LeCun et al. (1998) lowered LeNet-5's MNIST error from 0.95% to 0.8%
  by adding randomly distorted copies of the training images; a shift is the simplest one.
- :func:`random_crop_flip`, :func:`center_crop`, :func:`ten_crops`: AlexNet's crops and
  mirrors (Krizhevsky et al., 2012, Section 4.1), and its ten-crop evaluation.
- :func:`fit_pca_colour` and :meth:`PCAColour.augmentation`: AlexNet's PCA colour
  augmentation, fitted once in a streaming pass and applied on the fly.

Every augmentation runs per batch inside ``tf.data`` (``dataset.map(fn)``), so nothing is
precomputed or stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


def random_shift(max_fraction: float = 0.08, seed: int = 0):
    """Shift each training image by a random offset of up to ``max_fraction`` of its size.

    Returns a function for ``dataset.map`` that takes float images ``(batch, h, w, c)`` and
    labels, and returns the shifted images (zeros fill the uncovered border) with the same
    labels. 0.08 of a 28-pixel digit is about 2 pixels in each direction.
    """
    if not 0 < max_fraction < 0.5:
        raise ValueError(f"max_fraction must lie in (0, 0.5), got {max_fraction}.")
    shift = keras.layers.RandomTranslation(max_fraction, max_fraction, fill_mode="constant", seed=seed)

    def augment(images, labels):
        return shift(images, training=True), labels

    return augment


def _crop_at(images, tops, lefts, size: int):
    """Crop ``size x size`` from each image at its own ``(top, left)``; shapes ``(b,)``."""
    rows = tops[:, None] + tf.range(size)[None, :]  # (b, size) row indices per image
    cols = lefts[:, None] + tf.range(size)[None, :]
    images = tf.gather(images, rows, axis=1, batch_dims=1)  # (b, size, w, c)
    return tf.gather(images, cols, axis=2, batch_dims=1)  # (b, size, size, c)


def random_crop_flip(size: int, flip: bool = True, seed: int = 0, padding: int = 0):
    """AlexNet's training augmentation: a random ``size x size`` crop of every image (each
    image its own position) and, with ``flip``, a horizontal flip half of the time.

    Returns a function for ``dataset.map`` over ``(images, labels)`` batches; images
    ``(b, h, w, c)`` with ``h, w >= size`` become ``(b, size, size, c)``. The paper took
    224x224 crops of 256x256 images; for 32 px images, 28 px crops are the same idea.
    ``padding`` first adds that many zero pixels on every side: ResNet's CIFAR recipe pads
    32x32 images by 4 and crops 32x32 back out.
    """

    def augment(images, labels):
        if padding:
            images = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        height, width = images.shape[1], images.shape[2]
        if height < size or width < size:
            raise ValueError(f"Cannot crop {size}x{size} from {height}x{width} images.")
        batch = tf.shape(images)[0]
        tops = tf.random.uniform((batch,), 0, height - size + 1, dtype=tf.int32, seed=seed)
        lefts = tf.random.uniform((batch,), 0, width - size + 1, dtype=tf.int32, seed=seed + 1)
        crops = _crop_at(images, tops, lefts, size)
        if flip:
            mirrored = tf.random.uniform((batch, 1, 1, 1), seed=seed + 2) < 0.5
            crops = tf.where(mirrored, tf.reverse(crops, axis=[2]), crops)
        return crops, labels

    return augment


def center_crop(images, size: int):
    """The central ``size x size`` crop of every image (AlexNet's single-crop test view)."""
    height, width = images.shape[1], images.shape[2]
    top, left = (height - size) // 2, (width - size) // 2
    return images[:, top : top + size, left : left + size]


def ten_crops(images, size: int) -> list:
    """The paper's ten test views: four corner crops, the centre crop, and their mirrors.

    Returns a list of ten ``(b, size, size, c)`` batches; average the model's predictions
    over them (see :func:`ten_crop_predict`).
    """
    height, width = images.shape[1], images.shape[2]
    corners = [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size)]
    views = [images[:, t : t + size, left : left + size] for t, left in corners]
    views.append(center_crop(images, size))
    return views + [tf.reverse(view, axis=[2]) for view in views]


def ten_crop_predict(model, images, size: int) -> np.ndarray:
    """Class probabilities averaged over :func:`ten_crops`, as a NumPy array ``(b, classes)``
    (on any Keras backend)."""
    views = ten_crops(images, size)
    return np.mean([keras.ops.convert_to_numpy(model(np.asarray(view), training=False)) for view in views], axis=0)


@dataclass(frozen=True)
class PCAColour:
    """The RGB statistics behind AlexNet's colour augmentation (Section 4.1 of the paper).

    Attributes:
        eigenvalues: ``(3,)`` eigenvalues of the training pixels' 3x3 RGB covariance.
        eigenvectors: ``(3, 3)``, one orthonormal eigenvector per *column*.
        mean: ``(3,)`` mean RGB value.
        pixels: how many pixels the statistics were computed from.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    mean: np.ndarray
    pixels: int

    def augmentation(self, std: float = 0.1, seed: int = 0):
        """A ``dataset.map`` function adding ``sum_i alpha_i * lambda_i * p_i`` to every pixel
        of each image, with ``alpha_i ~ N(0, std)`` drawn once per image (the paper: 0.1).
        Images must be RGB ``(b, h, w, 3)``."""
        eigenvectors = tf.constant(self.eigenvectors, tf.float32)
        eigenvalues = tf.constant(self.eigenvalues, tf.float32)

        def augment(images, labels):
            if images.shape[-1] != 3:
                raise ValueError(
                    f"PCA colour augmentation needs RGB images (3 channels), got {images.shape[-1]}."
                )
            alphas = tf.random.normal((tf.shape(images)[0], 3), stddev=std, seed=seed)
            offsets = tf.matmul(alphas * eigenvalues, eigenvectors, transpose_b=True)  # (b, 3)
            return images + offsets[:, None, None, :], labels

        return augment


def fit_pca_colour(batches) -> PCAColour:
    """Fit :class:`PCAColour` in one streaming pass over RGB images.

    ``batches``: an iterable of image batches ``(b, h, w, 3)`` or of ``(images, labels)``
    pairs (a ``tf.data`` pipeline works). Only running sums are kept (the pixel sum and the
    sum of outer products, in float64), so the dataset is never loaded whole.
    """
    count, total, outer = 0, np.zeros(3), np.zeros((3, 3))
    for batch in batches:
        images = batch[0] if isinstance(batch, tuple | list) else batch
        pixels = np.asarray(images, dtype="float64")
        if pixels.ndim != 4 or pixels.shape[-1] != 3:
            raise ValueError(
                f"PCA colour augmentation needs RGB images (batch, height, width, 3), got shape "
                f"{pixels.shape}; grayscale images have no colour to augment."
            )
        pixels = pixels.reshape(-1, 3)
        count += len(pixels)
        total += pixels.sum(axis=0)
        outer += pixels.T @ pixels
    if count < 2:
        raise ValueError("fit_pca_colour needs at least two pixels.")
    mean = total / count
    covariance = (outer - count * np.outer(mean, mean)) / (count - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending, orthonormal columns
    order = np.argsort(eigenvalues)[::-1]
    return PCAColour(np.clip(eigenvalues[order], 0, None), eigenvectors[:, order], mean, count)


def chain(*functions):
    """One ``dataset.map`` function that applies ``functions`` in order."""

    def augment(images, labels):
        for function in functions:
            images, labels = function(images, labels)
        return images, labels

    return augment
