"""Data augmentation as ``tf.data`` map functions over batches of ``(images, labels)``.

LeCun et al. (1998) lowered LeNet-5's MNIST error from 0.95% to 0.8% by adding randomly
distorted copies of the training images; :func:`random_shift` is the simplest such
distortion, and it matters most on small sets such as the bundled digits.
"""

from __future__ import annotations

import keras


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
