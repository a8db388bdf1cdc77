"""Evaluation metrics, plots written to disk, and the per-layer table / conv arithmetic."""

import re
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cnnkit import arithmetic, evaluation, plots
from cnnkit.arithmetic import conv_output_size, layer_table
from cnnkit.models import build

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Constant(keras.layers.Layer):
    """Outputs fixed per-example scores taken from the first pixel, for predictable predictions."""

    def __init__(self, table, **kwargs):
        super().__init__(**kwargs)
        self.table = np.asarray(table, "float32")

    def call(self, x):
        index = keras.ops.cast(x[:, 0, 0, 0], "int32")
        return keras.ops.take(self.table, index, axis=0)


def scripted_model(table, penalty=False):
    inputs = keras.Input((2, 2, 1))
    layer = Constant(table, name="OUTPUT")
    layer.output_is_penalty = penalty
    return keras.Model(inputs, layer(inputs))


def dataset(labels):
    import tensorflow as tf

    x = np.zeros((len(labels), 2, 2, 1), "float32")
    x[:, 0, 0, 0] = np.arange(len(labels))
    return tf.data.Dataset.from_tensor_slices((x, np.asarray(labels))).batch(2)


def test_predictions_use_argmax_or_argmin_for_penalties():
    table = [[0.1, 0.9], [0.8, 0.2], [0.6, 0.4]]
    probabilities = evaluation.predict(scripted_model(table), dataset([1, 0, 1]))
    np.testing.assert_array_equal(probabilities.y_pred, [1, 0, 0])
    penalties = evaluation.predict(scripted_model(table, penalty=True), dataset([1, 0, 1]), keep_images=True)
    np.testing.assert_array_equal(penalties.y_pred, [0, 1, 1])
    assert penalties.images.shape == (3, 2, 2, 1)


def test_evaluate_classifier_reports_sklearn_metrics():
    table = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]
    result = evaluation.evaluate_classifier(scripted_model(table), dataset([0, 1, 1, 1]), ["cat", "dog"])
    assert result.accuracy == pytest.approx(0.5)
    np.testing.assert_array_equal(result.confusion, [[1, 0], [2, 1]])
    assert result.report.loc["dog", "recall"] == pytest.approx(1 / 3)
    assert result.report.loc["cat", "precision"] == pytest.approx(1 / 3)
    assert result.report.loc["dog", "support"] == 3
    assert result.report.loc["accuracy", "f1-score"] == pytest.approx(0.5)
    assert result.report.loc["accuracy", "support"] == 4
    assert list(result.report.index) == ["cat", "dog", "accuracy", "macro avg", "weighted avg"]


def test_misclassified_puts_the_most_confident_mistakes_first():
    table = [[0.6, 0.4], [0.99, 0.01], [0.2, 0.8], [0.7, 0.3]]
    predictions = evaluation.predict(scripted_model(table), dataset([1, 1, 1, 1]))
    np.testing.assert_array_equal(evaluation.misclassified(predictions), [1, 3, 0])
    np.testing.assert_array_equal(evaluation.misclassified(predictions, limit=1), [1])


def test_plots_are_written_as_png_files(tmp_path, digits):
    history = pd.DataFrame({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8],
                            "val_accuracy": [0.4, 0.7]}, index=pd.Index([0, 1], name="epoch"))  # fmt: skip
    model = build("lenet5")
    images = next(iter(digits.test))[0].numpy()[:10]
    figures = {
        "curves.png": plots.learning_curves(history, title="t"),
        "confusion.png": plots.confusion_heatmap(np.eye(3) * 5, ["a", "b", "c"], normalize=True),
        "grid.png": plots.image_grid(images, np.arange(10), np.arange(10)[::-1], columns=5),
        "filters.png": plots.first_layer_filters(model),
        "maps.png": plots.feature_maps(model, "C1", images[0], max_maps=6),
    }
    for name, figure in figures.items():
        plots.save_figure(figure, tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(figures)  # no temporary files left
    assert len(figures["curves.png"].axes) == 2
    assert len(figures["filters.png"].axes) == 6  # one small image per C1 filter


def test_scalp_maps_share_one_colour_scale_centred_on_zero():
    """Notebook 04's maps by class and band: two rows on different scales cannot be compared (issue 21)."""
    grid = np.full((9, 9), np.nan)
    grid[2:7, 2:7] = 0.01
    grids = {"alpha, high": grid * 14, "alpha, low": grid * -10, "beta, high": grid * 5}
    figure = plots.scalp_maps(grids, columns=2)
    images = [axis.images[0] for axis in figure.axes if axis.images]
    assert len(images) == 3 and {image.get_clim() for image in images} == {(-0.14, 0.14)}
    assert sum(axis.get_label() == "<colorbar>" for axis in figure.axes) == 1  # one colour bar for all
    plt.close(figure)
    with pytest.raises(ValueError, match="must be 2-D"):
        plots.scalp_maps({"flat": np.zeros(81)})


def test_plot_functions_reject_bad_input():
    with pytest.raises(ValueError, match="no layer 'C9'"):
        plots.feature_maps(build("lenet5"), "C9", np.zeros((28, 28, 1)))
    with pytest.raises(ValueError, match="not feature maps"):
        plots.feature_maps(build("lenet5"), "F5", np.zeros((28, 28, 1)))
    with pytest.raises(ValueError, match="does not match 2 class names"):
        plots.confusion_heatmap(np.eye(3), ["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(n, height, width"):
        plots.image_grid(np.zeros((4, 28, 28)))
    with pytest.raises(ValueError, match="no 'loss' or 'accuracy'"):
        plots.learning_curves(pd.DataFrame({"lr": [1.0]}))


def test_layer_table_counts_parameters_and_multiply_adds():
    table = layer_table(build("lenet5_classic")).set_index("layer")
    assert table["trainable"].sum() == 60_000 and table.loc["OUTPUT", "non_trainable"] == 840
    assert table.loc["C1", "output_shape"] == (28, 28, 6)
    # Multiply-adds per example: output positions x kernel size x connected input maps.
    assert table.loc["C1", "mult_adds"] == 28 * 28 * 6 * 25
    assert table.loc["C3", "mult_adds"] == 10 * 10 * 60 * 25
    assert table.loc["C5", "mult_adds"] == 120 * 16 * 25
    assert table.loc["F6", "mult_adds"] == 120 * 84
    assert table["params_share"].sum() == pytest.approx(1.0)
    textbook = layer_table(build("lenet5")).set_index("layer")
    assert textbook.loc["F5", "params"] == 400 * 120 + 120
    assert textbook["params"].sum() == build("lenet5").count_params()


@pytest.mark.parametrize("size", [7, 28, 32, 33])
@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_keras(size, kernel, stride, padding):
    layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
    expected = layer.compute_output_shape((1, size, size, 1))[1]
    assert conv_output_size(size, kernel, stride, padding) == expected


def test_conv_output_size_formula_and_bad_settings():
    assert conv_output_size(32, 5) == 28  # LeNet-5 C1
    assert conv_output_size(227, 11, stride=4) == 55  # AlexNet conv1
    assert conv_output_size(28, 5, padding=2) == 28  # 'same' by hand
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError, match="stride must be at least 1"):
        conv_output_size(28, 3, stride=0)


def test_shape_trace_runs_a_real_batch_through_every_layer():
    model = build("lenet5")
    trace = arithmetic.shape_trace(model, np.zeros((2, 28, 28, 1)))
    assert list(trace["layer"]) == ["C1", "S2", "C3", "S4", "flatten", "F5", "F6", "OUTPUT"]
    assert trace["output shape"].tolist() == [(2, 28, 28, 6), (2, 14, 14, 6), (2, 10, 10, 16), (2, 5, 5, 16),
                                              (2, 400), (2, 120), (2, 84), (2, 10)]  # fmt: skip
    chosen = arithmetic.shape_trace(model, np.zeros((1, 28, 28, 1)), layers=["S4", "OUTPUT"])
    assert chosen["output shape"].tolist() == [(1, 5, 5, 16), (1, 10)]
    with pytest.raises(ValueError, match=r"no layer named \['C7'\]"):
        arithmetic.shape_trace(model, np.zeros((1, 28, 28, 1)), layers=["C7"])


def test_source_shows_the_code_that_build_runs():
    """The notebooks show the package's own builders (issue 21): the text is the file's lines."""
    from cnnkit import source
    from cnnkit.models import lenet

    shown = source.text(lenet.lenet5)
    header, code = shown.split("\n", 1)
    first, last = map(int, re.fullmatch(r"# cnnkit/models/lenet\.py, lines (\d+)-(\d+)", header).groups())
    lines = (Path(lenet.__file__).read_text().splitlines())[first - 1 : last]
    assert code == "\n".join(lines) and "def lenet5(" in code and code.startswith("@register(")
