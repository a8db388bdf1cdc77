"""The model registry: names, errors, fixed inputs."""

import pytest

from cnnkit.errors import UnknownNameError
from cnnkit.models import build, get_spec, list_models, register


def test_list_models_includes_both_lenets():
    assert {"lenet5", "lenet5_classic"} <= set(list_models())
    assert list_models() == sorted(list_models())


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
    with pytest.raises(ValueError, match="already registered"):
        register("lenet5", summary="again")(lambda input_shape=(28, 28, 1), **kw: None)


def test_the_default_input_shape_is_read_from_the_builder_itself():
    """A model's facts live once: the registry reads the default from the builder's signature."""
    from cnnkit.models import registry

    known = {"lenet5_classic": (32, 32, 1), "lenet5": (28, 28, 1), "alexnet": (227, 227, 3),
             "inception_v3": (299, 299, 3), "resnet_cifar": (32, 32, 3), "ccnn": (9, 9, 4)}  # fmt: skip
    assert {name: get_spec(name).input_shape for name in known} == known
    try:
        register("odd_default", summary="x")(lambda input_shape=(17, 19, 2), num_classes=3: None)
        assert get_spec("odd_default").input_shape == (17, 19, 2)
    finally:
        registry._REGISTRY.pop("odd_default", None)
    with pytest.raises(TypeError, match="needs an input_shape argument"):
        register("no_shape", summary="x")(lambda num_classes=10: None)
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
