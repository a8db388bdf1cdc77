"""Label images and what training takes from them: U-Net's weight map.

Ronneberger et al. 2015, equation (2): for every pixel x of a label image,

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

``w_c`` balances the class frequencies; d1 and d2 are the distances to the nearest and the second
nearest object (cell, digit). The second term is large in the narrow gaps between touching objects,
which the network must learn to keep as background so that the objects stay apart. The paper sets
w0 = 10 and sigma of about 5 pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.utils.class_weight import compute_class_weight


def class_balance_weights(classes, num_classes: int) -> np.ndarray:
    """``w_c``: per pixel, the weight of its class, scikit-learn's ``"balanced"`` rule
    ``pixels / (classes present * pixels of that class)``; ``classes`` is an integer mask."""
    classes = np.asarray(classes)
    present = np.unique(classes)
    if present.min() < 0 or present.max() >= num_classes:
        raise ValueError(f"the mask holds classes {present.min()}..{present.max()}, outside 0..{num_classes - 1}.")
    weights = np.zeros(num_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=classes.ravel())
    return weights[classes]


def border_weights(objects, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """The second term of equation (2) for an object label image ``objects`` (height, width):
    0 background, 1..n one label per object. On background pixels, ``w0 exp(-(d1 + d2)^2 / (2
    sigma^2))`` with d1, d2 the Euclidean distances (pixels) to the nearest and second nearest
    object; 0 on the objects themselves and wherever fewer than two objects exist."""
    objects = np.asarray(objects)
    if objects.ndim != 2:
        raise ValueError(f"objects must be one label image (height, width), got shape {objects.shape}.")
    labels = [label for label in np.unique(objects) if label != 0]
    weights = np.zeros(objects.shape, dtype="float64")
    if len(labels) < 2:
        return weights
    # distance from every pixel to each object (0 on the object), the two smallest per pixel
    distances = np.stack([ndimage.distance_transform_edt(objects != label) for label in labels])
    distances.sort(axis=0)
    d1, d2 = distances[0], distances[1]
    background = objects == 0
    weights[background] = w0 * np.exp(-((d1 + d2)[background] ** 2) / (2 * sigma**2))
    return weights


def unet_weight_map(classes, objects, num_classes: int, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """Equation (2): :func:`class_balance_weights` of the class mask plus :func:`border_weights` of
    the object labels (same shape, float32)."""
    classes = np.asarray(classes)
    if np.shape(objects) != classes.shape:
        raise ValueError(f"classes {classes.shape} and objects {np.shape(objects)} must have the same shape.")
    return (class_balance_weights(classes, num_classes) + border_weights(objects, w0, sigma)).astype("float32")


def gap_pixels(objects, within: float = 2.0) -> np.ndarray:
    """The background pixels that separate touching objects: bool (height, width), True where a
    background pixel lies within ``within`` pixels (Euclidean) of two different objects. These are
    the pixels the weight map's second term weights most; predicting them as background keeps the
    two objects apart."""
    objects = np.asarray(objects)
    labels = [label for label in np.unique(objects) if label != 0]
    if len(labels) < 2:
        return np.zeros(objects.shape, bool)
    distances = np.sort(np.stack([ndimage.distance_transform_edt(objects != label) for label in labels]), axis=0)
    return (objects == 0) & (distances[1] <= within)
