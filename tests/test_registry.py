"""The model registry: names, errors, fixed inputs."""

import pytest

from cnnkit.errors import UnknownNameError
from cnnkit.models import build, get_spec, list_models, register
from cnnkit.models.registry import natural_key


def test_list_models_includes_both_lenets():
    assert {"lenet5", "lenet5_classic"} <= set(list_models())
    assert list_models() == sorted(list_models(), key=natural_key)


def test_models_are_listed_in_natural_order():
    """resnet18 before resnet101, vgg11 before vgg16, as timm and keras.applications list them (issue 35)."""
    names = list_models()
    assert names.index("resnet18") < names.index("resnet34") < names.index("resnet50") < names.index("resnet101")
    assert list_models("vgg1[0-9]") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert sorted(["b10", "a2", "b9", "a10"], key=natural_key) == ["a2", "a10", "b9", "b10"]


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="Unknown model 'lenet6'.*alexnet, .*lenet5, lenet5_classic"):
        build("lenet6")
    with pytest.raises(ValueError):  # UnknownNameError is a ValueError too
        get_spec("nope")


def test_builders_return_uncompiled_named_models():
    for name in ("lenet5", "lenet5_classic"):
        model = build(name)
        assert not model.compiled
        assert model.name.startswith("lenet5")


def test_fixed_input_models_refuse_other_shapes():
    with pytest.raises(ValueError, match=r"takes inputs of shape \(32, 32, 1\) only"):
        build("lenet5_classic", input_shape=(28, 28, 1))
    assert build("lenet5", input_shape=(32, 32, 3)).input_shape == (None, 32, 32, 3)


def test_duplicate_registration_is_refused():
    def lenet5(input_shape=(28, 28, 1), **options):
        return None

    with pytest.raises(ValueError, match="already registered"):
        register(summary="again")(lenet5)
    with pytest.raises(TypeError, match="named function"):
        register(summary="anonymous")(lambda input_shape=(28, 28, 1): None)


def test_the_default_input_shape_is_read_from_the_builder_itself():
    """A model's facts live once: the registry reads the default from the builder's signature."""
    from cnnkit.models import registry

    known = {"lenet5_classic": (32, 32, 1), "lenet5": (28, 28, 1), "alexnet": (227, 227, 3),
             "inception_v3": (299, 299, 3), "resnet_cifar": (32, 32, 3), "ccnn": (9, 9, 4)}  # fmt: skip
    assert {name: get_spec(name).input_shape for name in known} == known
    def odd_default(input_shape=(17, 19, 2), num_classes=3):
        return None

    def no_shape(num_classes=10):
        return None

    try:
        register(summary="x")(odd_default)
        assert get_spec("odd_default").input_shape == (17, 19, 2)
    finally:
        registry._REGISTRY.pop("odd_default", None)
    with pytest.raises(TypeError, match="needs an input_shape argument"):
        register(summary="x")(no_shape)
    assert "no_shape" not in list_models()


def test_too_small_images_are_refused_with_the_size_needed():
    with pytest.raises(ValueError, match="needs images of at least 75x75 pixels, not 32x32"):
        build("inception_resnet_v2", input_shape=(32, 32, 3), num_classes=10)


def test_alexnet_textbook_is_the_one_tower_alexnet_without_lrn():
    textbook = build("alexnet_textbook")
    same = build("alexnet", input_shape=(224, 224, 1), num_classes=10, groups=1, lrn=False)
    strip = lambda model: [(layer.__class__.__name__, layer.name, layer.output.shape) for layer in model.layers]  # noqa: E731
    assert strip(textbook) == strip(same) and textbook.count_params() == same.count_params()
    assert textbook.name == "alexnet_textbook"


def test_a_model_is_one_named_function_with_a_docstring():
    """timm's rule: the registry name is the function's name; no partial objects registered in loops."""
    for name in list_models():
        builder = get_spec(name).builder
        assert builder.__name__ == name and builder.__module__.startswith("cnnkit.models.")
        assert builder.__doc__ and builder.__doc__.strip(), f"{name} has no docstring"


def test_list_models_filters_like_timm():
    assert list_models("resnet*", pretrained=False) == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                                        "resnet_cifar"]  # fmt: skip
    assert list_models("resnet*", exclude=["*cifar", "*_pretrained"]) == ["resnet18", "resnet34", "resnet50",
                                                                          "resnet101", "resnet152"]  # fmt: skip
    assert list_models(["vgg1?", "lenet*"], exclude=["vgg16"]) == ["lenet5", "lenet5_classic", "vgg11", "vgg13", "vgg19"]
    assert list_models(kind="eeg_window") == ["cnn1d_gru", "cnn1d_lstm"]
    assert set(list_models(kind="de_grid")) == {"ccnn", "eeg_mlp"}
    pretrained = list_models(pretrained=True)
    assert pretrained == [n for n in list_models() if n.endswith("_pretrained")] and len(pretrained) == 4
    assert set(list_models(pretrained=False)) == set(list_models()) - set(pretrained)
    with pytest.raises(ValueError, match="kind must be one of"):
        list_models(kind="image")


def test_the_record_holds_the_papers_facts():
    alexnet = get_spec("alexnet")
    assert alexnet.year == 2012 and "Krizhevsky" in alexnet.paper and alexnet.reported.top1 == 59.3
    assert "10 crops" in alexnet.reported.protocol
    assert get_spec("lenet5").reported is None  # LeNet-5 predates ImageNet
    weights = get_spec("mobilenet_v2_pretrained").weights
    assert weights.application == "MobileNetV2" and weights.preprocessing == "tf"
    assert get_spec("mobilenet_v2").weights is None and not get_spec("mobilenet_v2").pretrained
