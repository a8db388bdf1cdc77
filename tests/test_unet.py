"""U-Net, UNet++ and 3D U-Net against their papers (and the UNet++ authors' code): parameter counts,
per-level shapes, the size rule, deep supervision and the pruned fast mode."""

import keras
import numpy as np
import pytest
from keras import layers

from cnnkit.models import build, get_spec, list_models
from cnnkit.models.unet import (
    check_unet_size,
    paper_parameter_count_3d,
    unet_output_size,
    unet_plus_plus_inference,
    valid_unet_sizes,
)


def test_unet_as_published_has_31_030_658_parameters_and_the_figure_1_shapes():
    model = build("unet")  # 572x572x1, two classes
    assert model.count_params() == 31_030_658 == get_spec("unet").parameters
    sides = {layer.name: layer.output.shape[1] for layer in model.layers}
    # Ronneberger et al. 2015, Figure 1, the side of every map on the way down and up
    down = [sides[f"down{i}_conv{j}"] for i in range(1, 5) for j in (1, 2)]
    assert down == [570, 568, 282, 280, 138, 136, 66, 64]
    assert [sides["bottom_conv1"], sides["bottom_conv2"]] == [30, 28]
    up = [sides[f"up{i}_{part}"] for i in (4, 3, 2, 1) for part in ("up", "conv1", "conv2")]
    assert up == [56, 54, 52, 104, 102, 100, 200, 198, 196, 392, 390, 388]
    assert [sides[f"up{i}_crop"] for i in (4, 3, 2, 1)] == [56, 104, 200, 392]  # 64 -> 56, ..., 568 -> 392
    channels = [model.get_layer(f"down{i}_conv2").output.shape[-1] for i in range(1, 5)]
    assert channels + [model.get_layer("bottom_conv2").output.shape[-1]] == [64, 128, 256, 512, 1024]
    assert [model.get_layer(f"up{i}_up").output.shape[-1] for i in (4, 3, 2, 1)] == [512, 256, 128, 64]
    assert model.output_shape == (None, 388, 388, 2)


def test_the_size_rule_follows_the_convolution_arithmetic():
    assert unet_output_size(572) == 388 and unet_output_size(188) == 4
    assert valid_unet_sizes(100, 300) == [188, 204, 220, 236, 252, 268, 284, 300]  # 16 apart: four pools
    assert valid_unet_sizes(1, 64, padding="same") == [16, 32, 48, 64]
    for size in (180, 571, 573):
        with pytest.raises(ValueError, match="odd side|cannot be applied"):
            unet_output_size(size)
    with pytest.raises(ValueError, match=r"cannot take a side of 571 pixels.*nearest sides it takes: 556, 572"):
        check_unet_size(571)
    with pytest.raises(ValueError, match="side of 570 pixels.*nearest sides it takes: 556, 572"):
        build("unet", input_shape=(570, 572, 1))
    with pytest.raises(ValueError, match="padding must be"):
        unet_output_size(572, padding="reflect")


def test_same_padding_keeps_the_input_size_and_a_base_width_scales_every_level():
    model = build("unet", input_shape=(64, 48, 3), num_classes=11, padding="same", base_width=4)
    assert model.output_shape == (None, 64, 48, 11)
    assert model.get_layer("bottom_conv2").output.shape[-1] == 64
    outputs = model(np.random.default_rng(0).uniform(0, 1, (2, 64, 48, 3)).astype("float32"))
    np.testing.assert_allclose(np.sum(keras.ops.convert_to_numpy(outputs), axis=-1), 1.0, rtol=1e-5)


def test_unet_plus_plus_and_its_controls_have_the_authors_counts():
    """Zhou et al.'s own code (MrGiovanni/UNetPlusPlus, model_logic.py, one sigmoid output, 96x96x1):
    U-Net 7,759,521, the wide U-Net 9,282,246 (widths 35-560) and UNet++ 9,041,601 parameters. The
    paper's control: UNet++'s gain is not its extra parameters, since a U-Net as large gains less."""
    shape = {"input_shape": (96, 96, 1), "num_classes": 1}
    unet32 = build("unet", padding="same", base_width=32, dropout=0, **shape)
    wide = build("unet", padding="same", base_width=35, dropout=0, **shape)
    nested = build("unet_plus_plus", **shape)
    assert (unet32.count_params(), wide.count_params(), nested.count_params()) == (7_759_521, 9_282_246, 9_041_601)
    assert build("unet_plus_plus").count_params() == get_spec("unet_plus_plus").parameters


def test_unet_plus_plus_nodes_join_every_earlier_node_of_their_level():
    model = build("unet_plus_plus", input_shape=(32, 32, 1), base_width=4)
    for i, j in [(0, 1), (0, 4), (1, 3), (3, 1)]:
        joined = model.get_layer(f"x{i}_{j}_concat")
        sources = [tensor._keras_history.operation.name for tensor in joined.input]
        assert sources == [*(f"x{i}_{k}_relu2" for k in range(j)), f"x{i}_{j}_up"]
        assert model.get_layer(f"x{i}_{j}_conv2").output.shape[1] == 32 // 2**i
    assert not any(layer.name.startswith("x4_1") for layer in model.layers)  # i + j <= depth


def test_deep_supervision_gives_one_head_per_level_and_the_fast_mode_prunes():
    model = build("unet_plus_plus", input_shape=(32, 32, 1), base_width=4, deep_supervision=True, num_classes=3)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 32, 32, 3)] * 4
    x = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 1)).astype("float32")
    heads = [keras.ops.convert_to_numpy(o) for o in model(x)]
    accurate = unet_plus_plus_inference(model, "accurate")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(accurate(x)), np.mean(heads, axis=0), rtol=1e-5, atol=1e-6)
    counts = []
    for level in range(1, 5):
        fast = unet_plus_plus_inference(model, "fast", level)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fast(x)), heads[level - 1], rtol=1e-5, atol=1e-6)
        deepest = max(int(layer.name[1]) for layer in fast.layers if layer.name.startswith("x"))
        assert deepest == level  # UNet++ L1 reaches level 1 only, ..., L4 the whole encoder
        counts.append(fast.count_params())
    assert counts == sorted(counts) and counts[-1] < model.count_params()
    with pytest.raises(ValueError, match="level in 1..4"):
        unet_plus_plus_inference(model, "fast", 5)
    with pytest.raises(ValueError, match="deep_supervision=True"):
        unet_plus_plus_inference(build("unet_plus_plus", input_shape=(32, 32, 1), base_width=4))


def test_3d_unet_has_the_papers_shapes_and_its_count_under_the_papers_rule():
    model = build("unet3d")
    assert model.input_shape == (None, 132, 132, 116, 3) and model.output_shape == (None, 44, 44, 28, 3)
    assert model.count_params() == 19_080_195 == get_spec("unet3d").parameters  # Keras: biases and statistics
    assert paper_parameter_count_3d(model) == 19_069_955
    widths = [model.get_layer(f"down{i}_conv{j}").output.shape[-1] for i in (1, 2, 3) for j in (1, 2)]
    assert widths == [32, 64, 64, 128, 128, 256]  # doubled before each pooling
    assert [model.get_layer(f"bottom_conv{j}").output.shape[-1] for j in (1, 2)] == [256, 512]
    assert [model.get_layer(f"up{i}_up").output.shape[-1] for i in (3, 2, 1)] == [512, 256, 128]
    assert isinstance(model.get_layer("down1_bn1"), layers.BatchNormalization)
    order = [layer.name for layer in model.layers if layer.name.startswith("down1_")]
    assert order.index("down1_bn1") == order.index("down1_conv1") + 1 < order.index("down1_relu1")


def test_segmentation_models_are_listed_by_task_and_save_and_load_in_safe_mode(tmp_path):
    assert list_models(task="segmentation") == ["unet", "unet3d", "unet_plus_plus"]
    assert list_models(kind="volumes") == ["unet3d"]
    for name in list_models(task="segmentation"):
        model = build(name, num_classes=3, **get_spec(name).small_build)
        x = np.random.default_rng(2).uniform(0, 1, (1, *model.input_shape[1:])).astype("float32")
        model.save(tmp_path / f"{name}.keras")
        loaded = keras.saving.load_model(tmp_path / f"{name}.keras", safe_mode=True)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="task must be one of"):
        list_models(task="detection")


def test_a_model_and_a_dataset_of_different_tasks_are_refused_in_one_line(monkeypatch, capsys, tmp_path):
    from cnnkit import cli
    from cnnkit.data import registry
    from cnnkit.errors import UnknownNameError
    from cnnkit.fitting import check_task

    assert cli.main(["train", "unet", "--out", str(tmp_path / "run")]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "unet predicts one class per pixel" in message
    assert "mnist_sample carries one class per example" in message and not (tmp_path / "run").exists()
    masks = registry.DatasetSpec(name="masks_for_the_test", summary="a segmentation set", task="segmentation",
                                 kind="images")
    monkeypatch.setitem(registry.DATASETS, masks.name, masks)
    with pytest.raises(UnknownNameError, match="lenet5 predicts one class per example .* masks_for_the_test "
                                               "carries one class per pixel or voxel .*train it on cifar10, digits, fashion_mnist, mnist, mnist_sample[.]"):
        check_task("lenet5", "masks_for_the_test")
    with pytest.raises(UnknownNameError, match="train it on masks_for_the_test"):
        check_task("unet", "digits")
    check_task("unet_plus_plus", "masks_for_the_test")  # the same task: no error
