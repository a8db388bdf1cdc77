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
    with pytest.raises(ValueError, match=r"takes inputs of shape \(32, 32, 1\)"):
        build("lenet5_classic", input_shape=(28, 28, 1))
    assert build("lenet5", input_shape=(32, 32, 3)).input_shape == (None, 32, 32, 3)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register("lenet5", summary="again", input_shape=(28, 28, 1))(lambda **kw: None)
