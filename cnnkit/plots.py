"""Plots for training and inspection (matplotlib + seaborn); every function returns a Figure.

In a notebook the figure is shown inline; elsewhere save it with :func:`save_figure`.
"""

from __future__ import annotations

import math
import os

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cnnkit import backends
from cnnkit.files import atomic_path, printable


def save_figure(figure: plt.Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save ``figure`` as PNG (or the format of the suffix) atomically, then close it."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, bbox_inches="tight")
    plt.close(figure)


def learning_curves(history: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Training vs validation loss and accuracy (or, for masks, mean IoU) per epoch.

    ``history``: the DataFrame returned by :func:`cnnkit.training.train` (columns ``loss``,
    ``val_loss`` and, when present, ``accuracy`` / ``mean_iou`` and their ``val_`` columns).
    """
    metrics = [m for m in ("loss", "accuracy", "mean_iou") if m in history.columns]
    if not metrics:
        raise ValueError(f"history has no 'loss' or 'accuracy' column: {list(history.columns)}.")
    figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    epochs = np.asarray(history.index) + 1
    for axis, metric in zip(axes[0], metrics, strict=True):
        axis.plot(epochs, history[metric], marker="o", markersize=3, label="train")
        if f"val_{metric}" in history.columns:
            axis.plot(epochs, history[f"val_{metric}"], marker="o", markersize=3, label="validation")
        axis.set(xlabel="epoch", ylabel=metric, title=metric)
        axis.legend()
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def confusion_heatmap(confusion: np.ndarray, class_names, normalize: bool = False) -> plt.Figure:
    """Seaborn heatmap of a confusion matrix (rows: true class, columns: predicted)."""
    values = np.asarray(confusion, dtype=float)
    if values.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion {values.shape} does not match {len(class_names)} class names.")
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    sns.heatmap(
        values,
        annot=True,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        cbar=False,
        xticklabels=[printable(name) for name in class_names],
        yticklabels=[printable(name) for name in class_names],
        ax=axis,
    )
    axis.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    figure.tight_layout()
    return figure


def mask_examples(examples, class_names, title: str | None = None) -> plt.Figure:
    """One row per ``(image, true mask, predicted mask)``: the image, the truth and the prediction,
    every class in its own colour (background black), with a legend of the class names."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    colours = ["black", *plt.get_cmap("tab20").colors[: len(class_names) - 1]]
    cmap = ListedColormap(colours)
    figure, axes = plt.subplots(len(examples), 3, figsize=(7, 2.3 * len(examples)), squeeze=False)
    for row, (image, truth, predicted) in zip(axes, examples, strict=True):
        row[0].imshow(np.squeeze(image), cmap="gray")
        for axis, mask in zip(row[1:], (truth, predicted), strict=True):
            axis.imshow(mask, cmap=cmap, vmin=0, vmax=len(class_names) - 1, interpolation="nearest")
    for axis, label in zip(axes[0], ("image", "truth", "prediction"), strict=True):
        axis.set_title(label)
    for axis in axes.ravel():
        axis.axis("off")
    figure.legend(handles=[Patch(color=c, label=str(n)) for c, n in zip(colours, class_names, strict=True)],
                  loc="center right", fontsize=8)  # fmt: skip
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 0.82, 1))
    return figure


def scalp_maps(grids: dict[str, np.ndarray], columns: int = 4, cmap: str = "RdBu_r") -> plt.Figure:
    """Several 2-D maps (e.g. 9x9 EEG scalp grids, one per band and class) on **one** colour scale,
    centred on 0 and symmetric (``-m`` to ``m``, ``m`` the largest absolute value of all maps), with
    one colour bar, so that any two maps can be compared by their colours.

    ``grids``: title -> array ``(rows, cols)``; NaN cells (no electrode there) are left blank.
    """
    if not grids:
        raise ValueError("scalp_maps needs at least one grid.")
    arrays = {title: np.asarray(grid, dtype=float) for title, grid in grids.items()}
    if any(array.ndim != 2 for array in arrays.values()):
        raise ValueError(f"each grid must be 2-D, got shapes {[a.shape for a in arrays.values()]}.")
    limit = max(float(np.nanmax(np.abs(array))) for array in arrays.values()) or 1.0
    rows = math.ceil(len(arrays) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns + 1, 3.0 * rows), squeeze=False)
    for axis, (title, array) in zip(axes.flat, arrays.items(), strict=False):
        image = axis.imshow(array, cmap=cmap, vmin=-limit, vmax=limit)
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in axes.flat[len(arrays):]:
        axis.axis("off")
    figure.colorbar(image, ax=axes, shrink=0.8, label=f"shared scale, {-limit:.3g} to {limit:.3g}")
    return figure


def image_grid(images, labels=None, predictions=None, class_names=None, columns: int = 8) -> plt.Figure:
    """A grid of images, titled with the true label and, if given, the prediction.

    ``images``: ``(n, h, w, c)`` floats in [0, 1] (c = 1 or 3). Wrong predictions are red.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have shape (n, height, width, 1 or 3), got {images.shape}.")
    count = len(images)
    rows = max(1, math.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)

    def name(label):
        return class_names[label] if class_names is not None else str(label)

    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        image = images[index]
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        if labels is not None:
            text, color = name(labels[index]), "black"
            if predictions is not None:
                text = f"{text} -> {name(predictions[index])}"
                color = "black" if predictions[index] == labels[index] else "red"
            axis.set_title(text, fontsize=8, color=color)
    figure.tight_layout()
    return figure


def _conv_layers(model: keras.Model):
    return [layer for layer in model.layers if hasattr(layer, "kernel") and len(layer.kernel.shape) == 4]


def first_layer_filters(model: keras.Model, layer_name: str | None = None) -> plt.Figure:
    """The kernels of the first (or the named) 2-D convolution, one small image per filter.

    For a ``(kh, kw, in, filters)`` kernel, each filter's input channels are averaged
    (or shown as RGB when there are three), and each is scaled to its own range.
    """
    convs = _conv_layers(model)
    if layer_name is not None:
        convs = [layer for layer in convs if layer.name == layer_name]
    if not convs:
        raise ValueError(
            f"No 2-D convolution{' named ' + repr(layer_name) if layer_name else ''} in {model.name}."
        )
    kernel = np.asarray(convs[0].kernel)
    filters = np.moveaxis(kernel, -1, 0)  # (filters, kh, kw, in)
    if filters.shape[-1] != 3:
        filters = filters.mean(axis=-1, keepdims=True)
    low = filters.min(axis=(1, 2, 3), keepdims=True)
    high = filters.max(axis=(1, 2, 3), keepdims=True)
    scaled = (filters - low) / np.maximum(high - low, 1e-12)
    figure = image_grid(scaled, columns=min(8, len(scaled)))
    figure.suptitle(f"{convs[0].name}: {len(scaled)} filters {kernel.shape[0]}x{kernel.shape[1]}")
    figure.tight_layout()
    return figure


def feature_maps(model: keras.Model, layer_name: str, image, max_maps: int = 16) -> plt.Figure:
    """The activations of layer ``layer_name`` for one ``image`` ``(h, w, c)``.

    Shows up to ``max_maps`` channels of the layer's ``(h', w', channels)`` output.
    """
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"{model.name} has no layer {layer_name!r}; its layers are {names}.")
    layer = model.get_layer(layer_name)
    if len(layer.output.shape) != 4:
        raise ValueError(f"{layer_name} outputs {layer.output.shape}, not feature maps (batch, h, w, c).")
    probe = keras.Model(model.input, layer.output)
    maps = backends.forward(probe, np.asarray(image, dtype="float32")[None])[0]
    count = min(max_maps, maps.shape[-1])
    columns = min(8, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.5 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(maps[..., index], cmap="viridis")
            axis.set_title(str(index), fontsize=8)
    figure.suptitle(f"{layer_name}: {count} of {maps.shape[-1]} maps, {maps.shape[0]}x{maps.shape[1]}")
    figure.tight_layout()
    return figure


def residual_block_diagram(preact: bool = False) -> plt.Figure:
    """A drawing of a basic residual block: two 3x3 convolutions and the identity shortcut.

    Post-activation (v1, default): conv-BN-ReLU-conv-BN, add, ReLU. Pre-activation (v2):
    BN-ReLU-conv twice, then add.
    """
    steps = (["BN, ReLU", "3x3 conv", "BN, ReLU", "3x3 conv"] if preact
             else ["3x3 conv", "BN, ReLU", "3x3 conv", "BN"])  # fmt: skip
    figure, axis = plt.subplots(figsize=(3.6, 6))
    axis.set(xlim=(0, 4), ylim=(-0.6, len(steps) + 2.2))
    axis.axis("off")
    top = len(steps) + 1.5
    axis.text(1.5, top + 0.4, "x", ha="center", fontsize=13)
    for index, step in enumerate(steps):
        y = top - 1 - index
        axis.add_patch(plt.Rectangle((0.6, y - 0.3), 1.8, 0.6, facecolor="#dbe9f6", edgecolor="black"))
        axis.text(1.5, y, step, ha="center", va="center", fontsize=11)
        start = top + 0.2 if index == 0 else y + 0.7
        axis.annotate("", (1.5, y + 0.3), (1.5, start), arrowprops={"arrowstyle": "->"})
    add_y = top - 1 - len(steps)
    axis.add_patch(plt.Circle((1.5, add_y), 0.22, facecolor="white", edgecolor="black"))
    axis.text(1.5, add_y, "+", ha="center", va="center", fontsize=14)
    axis.annotate("", (1.5, add_y + 0.22), (1.5, add_y + 0.7), arrowprops={"arrowstyle": "->"})
    axis.plot([1.5, 3.2], [top + 0.2, top + 0.2], color="black", linewidth=1)  # x also goes right...
    skip = {"arrowstyle": "->", "connectionstyle": "angle,angleA=-90,angleB=180"}  # ...down, into +
    axis.annotate("", (1.72, add_y), (3.2, top + 0.2), arrowprops=skip)
    axis.text(3.3, (top + add_y) / 2, "identity\nshortcut", fontsize=10, rotation=90, va="center")
    axis.text(1.5, add_y - 0.55, "F(x) + x" + ("" if preact else ", then ReLU"), ha="center", fontsize=11)
    axis.set_title("residual block, " + ("pre-activation (v2)" if preact else "post-activation (v1)"))
    return figure


def _show(axis, image):
    image = np.asarray(image, dtype="float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    axis.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    axis.axis("off")


def heatmap_overlay(images, heatmaps, titles=None, alpha: float = 0.5) -> plt.Figure:
    """Each image ``(h, w, c)`` in [0, 1] beside the same image under its heat map (any size,
    stretched over the image; e.g. Grad-CAM or occlusion sensitivity), in a row per image."""
    images = np.asarray(images)
    figure, axes = plt.subplots(len(images), 2, figsize=(5, 2.5 * len(images)), squeeze=False)
    for index, (image, heat) in enumerate(zip(images, heatmaps, strict=True)):
        _show(axes[index, 0], image)
        _show(axes[index, 1], image)
        height, width = image.shape[:2]
        shown = axes[index, 1].imshow(heat, cmap="jet", alpha=alpha, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        figure.colorbar(shown, ax=axes[index, 1], fraction=0.046)
        if titles is not None:
            axes[index, 0].set_title(titles[index], fontsize=9)
    figure.tight_layout()
    return figure


def patch_rows(rows, row_labels, columns_title: str | None = None) -> plt.Figure:
    """A grid of small images (patches, projections), one row per entry of ``rows``, each row
    a list of ``(h, w, c)`` arrays in [0, 1] (sizes may differ), labelled by ``row_labels``."""
    width = max(len(row) for row in rows)
    figure, axes = plt.subplots(len(rows), width, figsize=(1.1 * width, 1.2 * len(rows)), squeeze=False)
    for axes_row, row, label in zip(axes, rows, row_labels, strict=True):
        for axis in axes_row:
            axis.axis("off")
        for axis, patch in zip(axes_row, row, strict=False):
            _show(axis, patch)
        axes_row[0].set_title(label, fontsize=8, loc="left")
    if columns_title:
        figure.suptitle(columns_title, fontsize=10)
    figure.tight_layout()
    return figure


def cell_diagram(table: pd.DataFrame, outputs, title: str = "") -> plt.Figure:
    """Draw a cell from :func:`cnnkit.models.applications.nasnet_cell`'s ``(table, outputs)`` as
    the paper does: the two inputs at the bottom; each block a "+" with its two operations just
    below it; a block that reads another block one level higher; the concatenation on top."""
    blocks = list(dict.fromkeys(table["block"]))
    level = {name: 1 for name in blocks}
    for _ in blocks:  # a block sits one level above every block it reads
        for row in table.itertuples():
            if row.input in level:
                level[row.block] = max(level[row.block], level[row.input] + 1)
    step, width = 2.0, 1.5 * len(blocks)
    where = {"h[i-1]": (width * 0.3, 0.0), "h[i]": (width * 0.7, 0.0)}
    for index, name in enumerate(blocks):
        where[name] = (1.5 * index + 0.75, step * level[name])
    top = step * (max(level.values()) + 1)
    where["concat"] = (width / 2, top)
    figure, axis = plt.subplots(figsize=(1.5 * len(blocks) + 1, 1.1 * top + 1))
    side = {}
    for row in table.itertuples():
        offset = -0.38 if side.setdefault(row.block, 0) == 0 else 0.38
        side[row.block] += 1
        bx, by = where[row.block]
        ox, oy = bx + offset, by - 0.8
        source = where[row.input]
        axis.plot([source[0], ox], [source[1], oy], color="0.65", linewidth=1, zorder=1)
        axis.plot([ox, bx], [oy, by], color="0.4", linewidth=1, zorder=1)
        colour = {"sep": "#cfe8cf", "avg": "#f5e3c3", "max": "#f5d0c3"}.get(row.operation[:3], "white")
        axis.text(ox, oy, row.operation.replace(" ", "\n"), ha="center", va="center", fontsize=7,
                  bbox={"boxstyle": "round", "facecolor": colour, "edgecolor": "0.5"}, zorder=2)  # fmt: skip
    for name in outputs:
        (x0, y0), (x1, y1) = where[name], where["concat"]
        axis.plot([x0, x1], [y0, y1], color="0.8", linewidth=1, linestyle="--", zorder=1)
    for name, (x, y) in where.items():
        block = name in level
        axis.text(x, y, "+" if block else name, ha="center", va="center", fontsize=10 if block else 9,
                  bbox={"boxstyle": "circle" if block else "round", "facecolor": "#dde6f5"}, zorder=3)  # fmt: skip
    axis.set(xlim=(-0.3, width + 0.3), ylim=(-0.6, top + 0.6), title=title)
    axis.axis("off")
    figure.tight_layout()
    return figure


def separation_spectrograms(mixture, sources, estimates, rate: int, names=None) -> plt.Figure:
    """The spectrograms of one ``mixture`` ``(samples,)``, its true ``sources`` and the ``estimates``
    ``(speakers, samples)`` (estimate ``k`` already matched to source ``k``): one column each, decibels
    on one colour scale, time in seconds and frequency in kHz (scipy's ``spectrogram``, 32-ms windows)."""
    from scipy.signal import spectrogram

    names = list(names or [f"speaker {k + 1}" for k in range(len(sources))])
    panels = [("mixture", mixture)] + [(f"{n}: truth", s) for n, s in zip(names, sources, strict=True)]
    panels += [(f"{n}: estimate", e) for n, e in zip(names, estimates, strict=True)]
    window = int(0.032 * rate)
    figure, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 2.8), sharey=True)
    for axis, (title, wave) in zip(axes, panels, strict=True):
        frequencies, times, power = spectrogram(np.asarray(wave, "float64"), fs=rate, nperseg=window)
        image = axis.pcolormesh(times, frequencies / 1000, 10 * np.log10(power + 1e-10), vmin=-100, vmax=-30,
                                shading="auto", cmap="magma")  # fmt: skip
        axis.set(title=title, xlabel="time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    figure.colorbar(image, ax=axes, label="power (dB)", shrink=0.9)
    return figure
