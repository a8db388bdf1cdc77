"""U-Net's overlap-tile strategy: segment an image of any size with a network whose input is fixed
and whose output is smaller than its input (Ronneberger et al. 2015, Figure 2).

Each output tile needs a border of context around it (the pixels the unpadded convolutions use up);
at the image's edges that context is the image mirrored. The tiles advance by a multiple of
``2 ** poolings`` so that every tile sees the pooling grid as the whole image would: the tiled
prediction is then exactly the prediction of the same network run over the whole mirrored image.
"""

from __future__ import annotations

import keras
import numpy as np

from cnnkit import backends


def pooling_alignment(model: keras.Model) -> int:
    """``2 ** k`` for the ``k`` 2x2 poolings along the network's contracting path: a shift of the
    input by a multiple of it shifts the output by the same amount."""
    poolings = sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)
    return 2**poolings


def tiled_predict(model: keras.Model, image, batch_size: int = 4) -> np.ndarray:
    """The model's per-pixel outputs ``(height, width, classes)`` for ``image`` ``(height, width,
    channels)`` of any size, by overlapping tiles with mirrored borders.

    The model takes ``(in_h, in_w, channels)`` and gives ``(out_h, out_w, classes)`` with
    ``out <= in``; the context border is ``(in - out) / 2`` on each side. With 'same' padding
    (``out == in``) there is no context to add and the tiles meet edge to edge.
    """
    image = np.asarray(image, dtype="float32")
    (in_h, in_w, channels), (out_h, out_w) = model.input_shape[1:], model.output_shape[1:3]
    if image.ndim != 3 or image.shape[2] != channels:
        raise ValueError(f"image must be (height, width, {channels}), got shape {image.shape}.")
    if (in_h - out_h) % 2 or (in_w - out_w) % 2 or out_h > in_h or out_w > in_w:
        raise ValueError(f"a model from {in_h}x{in_w} to {out_h}x{out_w} has no symmetric border to tile with.")
    align = pooling_alignment(model)
    step_h, step_w = out_h - out_h % align, out_w - out_w % align
    if not step_h or not step_w:
        raise ValueError(f"the output tile ({out_h}x{out_w}) is smaller than the pooling grid ({align}); "
                         "build the model for a larger input.")  # fmt: skip
    height, width = image.shape[:2]
    rows, cols = -(-height // step_h), -(-width // step_w)
    border_h, border_w = (in_h - out_h) // 2, (in_w - out_w) // 2
    padded = np.pad(image, ((border_h, (rows - 1) * step_h + in_h - height - border_h),
                            (border_w, (cols - 1) * step_w + in_w - width - border_w), (0, 0)),
                    mode="symmetric")  # fmt: skip
    corners = [(r * step_h, c * step_w) for r in range(rows) for c in range(cols)]
    result = None
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        tiles = np.stack([padded[top : top + in_h, left : left + in_w] for top, left in chunk])
        outputs = np.asarray(backends.forward(model, tiles))
        if result is None:
            result = np.zeros((rows * step_h, cols * step_w, outputs.shape[-1]), dtype=outputs.dtype)
        for (top, left), output in zip(chunk, outputs, strict=True):
            result[top : top + step_h, left : left + step_w] = output[:step_h, :step_w]
    return result[:height, :width]
