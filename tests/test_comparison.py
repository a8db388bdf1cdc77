"""The tools of notebook 07: block arithmetic, the cost table, reported accuracies, and the fair race."""

import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from keras import layers

import cnnkit
from cnnkit import recipes
from cnnkit.arithmetic import block_cost
from cnnkit.models import build, get_spec, list_models, reported_accuracy
from cnnkit.models.inception import inception_module
from cnnkit.models.resnet import bottleneck_block
from cnnkit.models.resnext import grouped_bottleneck
from cnnkit.profiling import cost_table, inference_latency


def test_block_cost_counts_the_papers_arithmetic():
    module = block_cost(lambda x: inception_module(x, 64, 96, 128, 16, 32, 32, name="3a"), (28, 28, 192))
    assert round(module["mult_adds"] / 1e6) == 128  # GoogLeNet, Table 1: 128 M for inception (3a)
    assert module["output_shape"] == (28, 28, 256)
    assert module["parameters"] - module["conv_weights"] == 64 + 96 + 128 + 16 + 32 + 32  # the biases
    separable = block_cost(
        lambda x: layers.SeparableConv2D(256, 3, padding="same", use_bias=False)(x), (8, 8, 128)
    )
    standard = block_cost(lambda x: layers.Conv2D(256, 3, padding="same", use_bias=False)(x), (8, 8, 128))
    assert separable["mult_adds"] / standard["mult_adds"] == pytest.approx(1 / 256 + 1 / 9, rel=1e-12)
    resnet = block_cost(lambda x: bottleneck_block(x, 64, name="r"), (56, 56, 256))["conv_weights"]
    resnext = block_cost(lambda x: grouped_bottleneck(x, 64, name="g"), (56, 56, 256))["conv_weights"]
    assert resnet == 69_632 and resnext == 70_144  # ResNeXt, Table 1: "~70k" each


def test_reported_accuracies_name_registered_models_and_cite_a_source():
    table = reported_accuracy()
    assert set(table.index) <= set(list_models()) and list(table.columns) == ["top1", "top5", "source", "headline"]
    assert table["top1"].between(50, 85).all() and table["source"].str.contains(r"20\d\d").all()
    assert table["headline"].notna().sum() >= 5 and table["headline"].dropna().str.contains(r"20\d\d").all()
    assert (
        get_spec("resnet50").reported.top1 == 77.2 and table.loc["mixnet_m", "top1"] > table.loc["vgg16", "top1"]
    )
    has_top5 = table["top5"].notna()
    assert has_top5.sum() >= 15 and (table.loc[has_top5, "top5"] > table.loc[has_top5, "top1"]).all()
    assert table.loc["alexnet", "top5"] == 81.8  # Krizhevsky et al. 2012, Table 2: top-5 error 18.2%
    # every ImageNet-size model of the family table has its paper's figure (LeNet-5 predates ImageNet;
    # the pretrained wrappers and the one-channel textbook AlexNet are not the papers' networks)
    imagenet_size = [name for name in list_models(kind="images", task="classification", pretrained=False,
                                                exclude="alexnet_textbook")
                     if min(get_spec(name).input_shape[:2]) >= 200]  # fmt: skip
    assert set(imagenet_size) == set(list_models(reported=True)) == set(table.index)
    assert all(min(get_spec(name).input_shape[:2]) >= 200 for name in table.index)


def test_inference_latency_and_cost_table():
    model = build("lenet5")
    seconds = inference_latency(model, batch_size=4, repeats=2)
    assert 0 < seconds < 5
    with pytest.raises(ValueError, match="batch_size"):
        inference_latency(model, batch_size=0)
    table = cost_table(
        ["lenet5", "lenet5_classic"], batch_sizes=(1, 2), repeats=1, time_up_to=400_000
    )  # lenet5: 416,520; classic: 328,096
    assert list(table.columns) == ["year", "input", "parameters", "mult_adds", "ms_batch_1", "ms_batch_2"]
    assert table.loc["lenet5", "parameters"] == 61_706 and table.loc["lenet5", "input"] == "28x28x1"
    assert table.loc["lenet5", "mult_adds"] == cnnkit.arithmetic.mult_adds(build("lenet5"))
    timed = table["mult_adds"] <= 400_000
    assert timed.any() and not timed.all()  # the threshold splits the two: one is timed, one is not
    assert (table.loc[timed, "ms_batch_1"] > 0).all() and table.loc[~timed, "ms_batch_1"].isna().all()


def test_small_versions_for_the_race():
    vgg = build("vgg11", input_shape=(32, 32, 1), num_classes=10, batch_norm=True, width=0.25, fc_units=128)
    assert [vgg.get_layer(f"block{i}_conv1").filters for i in range(1, 6)] == [16, 32, 64, 128, 128]
    assert vgg.get_layer("fc1").units == 128
    assert build("vgg16").count_params() == 138_357_544  # the defaults are the paper's
    small = build("googlenet", input_shape=(32, 32, 3), num_classes=10, width=0.25)
    assert small.get_layer("inception_3a_output").output.shape[-1] == 64  # 256 / 4
    assert build("googlenet").count_params() == 6_998_552
    with pytest.raises(ValueError, match="width"):
        build("googlenet", width=0)


def bn_network():
    inputs = keras.Input((4,))
    x = layers.BatchNormalization(name="bn")(layers.Dense(3, kernel_initializer="ones", name="sum")(inputs))
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def test_reestimate_batch_norm_averages_the_batch_statistics():
    model = bn_network()
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (64, 4)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(64))).batch(16)
    assert recipes.reestimate_batch_norm(model, dataset, batches=3) == 3
    hidden = x[:48].sum(axis=1).reshape(3, 16)  # the dense layer sums the inputs, into 3 equal units
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.full(3, hidden.mean(axis=1).mean()), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.full(3, hidden.var(axis=1).mean()), rtol=1e-4)
    assert bn.momentum == 0.99  # restored
    assert recipes.reestimate_batch_norm(build("lenet5"), dataset) == 0  # nothing to do


def test_compare_trains_every_candidate_per_seed_and_summarizes_the_noise():
    data = cnnkit.load_dataset("digits", batch_size=64)
    runs = recipes.compare({"LeNet-5": ("lenet5", {}), "ResNet-8": ("resnet_cifar", {"depth": 8})}, data,
                           epochs=1, seeds=(0, 1), train_batches=4)  # fmt: skip
    assert list(runs.columns) == ["model", "seed", "parameters", "seconds", "test_accuracy"]
    assert len(runs) == 4 and runs.groupby("model")["seed"].apply(list).to_dict() == {
        "LeNet-5": [0, 1],
        "ResNet-8": [0, 1],
    }
    assert runs["test_accuracy"].between(0, 1).all() and (runs["seconds"] > 0).all()
    summary = recipes.summarize_comparison(runs, test_size=data.info.num_examples["test"])
    assert summary["accuracy"].is_monotonic_decreasing and summary["within_noise_of_best"].iloc[0]
    with pytest.raises(ValueError, match="train_batches"):
        recipes.compare({"LeNet-5": ("lenet5", {})}, data, epochs=1, train_batches=0)


def test_summarize_comparison_says_which_gaps_are_noise():
    runs = pd.DataFrame([
        {"model": m, "seed": s, "parameters": 10, "seconds": 1.0, "test_accuracy": a}
        for m, accuracies in {"a": (0.90, 0.92), "b": (0.89, 0.91), "c": (0.70, 0.72)}.items()
        for s, a in enumerate(accuracies)
    ])  # fmt: skip
    summary = recipes.summarize_comparison(runs, test_size=1000)
    assert summary.index.tolist() == ["a", "b", "c"]
    # seeds spread 0.0141; binomial error sqrt(.91 * .09 / 1000) = 0.009: the spread counts
    assert summary.loc["a", "standard_error"] == pytest.approx(np.std([0.90, 0.92], ddof=1) / math.sqrt(2))
    assert summary["within_noise_of_best"].tolist() == [True, True, False]
    one_seed = recipes.summarize_comparison(runs[runs["seed"] == 0], test_size=1000)
    assert one_seed.loc["a", "standard_error"] == pytest.approx(math.sqrt(0.9 * 0.1 / 1000))
    with pytest.raises(ValueError, match="test_size"):
        recipes.summarize_comparison(runs, test_size=0)
