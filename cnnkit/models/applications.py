"""Models taken straight from ``keras.applications``, not rewritten here.

Inception-ResNet-v2 (Szegedy et al. 2016: inception modules with residual connections) and
NASNet-A Mobile (Zoph et al. 2017: cells found by architecture search) are registered so that
they can be built, listed and compared by name like the others. ``weights=None`` by default
(offline); pass ``weights="imagenet"`` to download Keras' ImageNet weights once.
"""

from __future__ import annotations

import keras

from cnnkit.models.registry import register


@register("inception_resnet_v2", summary="Inception-ResNet-v2 (2016), from keras.applications, 299x299x3",
          year=2016, parameters=55_873_736, min_size=75)  # fmt: skip
def inception_resnet_v2(input_shape=(299, 299, 3), num_classes: int = 1000, weights=None) -> keras.Model:
    """``keras.applications.InceptionResNetV2`` with a softmax head of ``num_classes``."""
    return keras.applications.InceptionResNetV2(
        weights=weights, input_shape=tuple(input_shape), classes=num_classes
    )


@register("nasnet_mobile", summary="NASNet-A Mobile (2017): searched cells, from keras.applications, 224x224x3",
          year=2017, parameters=5_326_716, min_size=32)  # fmt: skip
def nasnet_mobile(input_shape=(224, 224, 3), num_classes: int = 1000, weights=None) -> keras.Model:
    """``keras.applications.NASNetMobile`` with a softmax head of ``num_classes``."""
    return keras.applications.NASNetMobile(
        weights=weights, input_shape=tuple(input_shape), classes=num_classes
    )
