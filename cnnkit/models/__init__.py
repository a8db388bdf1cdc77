"""Model builders behind one registry.

>>> from cnnkit.models import build, list_models
>>> model = build("lenet5", num_classes=10)

One file per family: ``lenet``, ``alexnet``, ``zfnet``, ``vgg``, ``inception`` (GoogLeNet,
BN-Inception, Inception-v3, Xception), ``inception_resnet`` (Inception-v4, Inception-ResNet-v1/v2), ``resnet``, ``resnext``, ``wrn``, ``densenet``, ``mobilenet``
(MobileNet v1/v2, MixNet), ``eeg``, ``points`` (PointCNN's X-Conv, PointNet), ``unet`` (U-Net, UNet++, 3D U-Net), ``tasnet`` (Conv-TasNet),
``tagging`` (the 1D CNN tagger and its CRF form), and ``applications`` (models used from keras.applications
as they are). Their blocks are public, e.g. ``cnnkit.models.inception.inception_module``.
Transfer learning: ``cnnkit.models.pretrained("mobilenet_v2", num_classes=5)``.

Every fact about a model lives in its registry record (:class:`ModelSpec`), given where its
function is defined; ``list_models("resnet*", kind="images")`` narrows the list down and
``reported_accuracy()`` tabulates the ImageNet accuracies the papers report.
"""

from cnnkit.models import (  # noqa: F401  (they register their builders and custom objects)
    alexnet,
    applications,
    densenet,
    eeg,
    inception,
    inception_resnet,
    lenet,
    losses,
    mobilenet,
    points,
    resnet,
    resnext,
    tagging,
    tasnet,
    unet,
    vgg,
    wrn,
    zfnet,
)
from cnnkit.models.applications import pretrained
from cnnkit.models.registry import (
    INPUT_KINDS,
    TASK_KINDS,
    ImagenetWeights,
    ModelSpec,
    Reported,
    build,
    get_spec,
    list_models,
    register,
    reported_accuracy,
)

__all__ = ["INPUT_KINDS", "TASK_KINDS", "ImagenetWeights", "ModelSpec", "Reported", "build", "get_spec", "list_models", "pretrained",
           "register", "reported_accuracy"]  # fmt: skip
