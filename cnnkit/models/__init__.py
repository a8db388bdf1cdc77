"""Model builders behind one registry.

>>> from cnnkit.models import build, list_models
>>> model = build("lenet5", num_classes=10)
"""

from cnnkit.models import alexnet, eeg, lenet, resnet  # noqa: F401  (they register their builders)
from cnnkit.models.registry import ModelSpec, build, get_spec, list_models, register

__all__ = ["ModelSpec", "build", "get_spec", "list_models", "register"]
