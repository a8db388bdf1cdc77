"""ImageNet top-1 accuracy as the papers report it, for plots of accuracy against cost.

These are citations, not measurements: cnnkit never trains on ImageNet. Protocols differ
(single crop or 10 crops, validation set of ILSVRC-2012), and each entry says which one its
paper used, so compare neighbours with care. Keys are registry names.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd


class Reported(NamedTuple):
    top1: float  # percent, ILSVRC-2012 validation set
    source: str  # paper, table, protocol


IMAGENET_TOP1 = {
    "alexnet": Reported(59.3, "Krizhevsky et al. 2012, Table 2: 1 CNN, top-1 error 40.7% (10 crops)"),
    "zfnet": Reported(61.6, "Zeiler & Fergus 2014, Table 2: 1 convnet as in Fig. 3, top-1 error 38.4%"),
    "vgg11": Reported(70.4, "Simonyan & Zisserman 2015, Table 3: A, single scale 256, top-1 error 29.6%"),
    "vgg13": Reported(71.3, "Simonyan & Zisserman 2015, Table 3: B, single scale 256, top-1 error 28.7%"),
    "vgg16": Reported(73.0, "Simonyan & Zisserman 2015, Table 3: D, single scale 256, top-1 error 27.0%"),
    "vgg19": Reported(72.7, "Simonyan & Zisserman 2015, Table 3: E, single scale 256, top-1 error 27.3%"),
    "googlenet": Reported(71.0, "Szegedy et al. 2016 (Inception-v3), Table 3: GoogLeNet, 1 crop, top-1 error 29%"),
    "inception_v3": Reported(78.8, "Szegedy et al. 2016, Table 3: Inception-v3 (BN-auxiliary), 1 crop, error 21.2%"),
    "xception": Reported(79.0, "Chollet 2017, Table 1: single crop, top-1 0.790"),
    "resnet18": Reported(72.1, "He et al. 2016, Table 2: 18 layers, 10 crops, top-1 error 27.88%"),
    "resnet34": Reported(75.5, "He et al. 2016, Table 3: ResNet-34 B, 10 crops, top-1 error 24.52%"),
    "resnet50": Reported(77.2, "He et al. 2016, Table 3: ResNet-50, 10 crops, top-1 error 22.85%"),
    "resnet101": Reported(78.3, "He et al. 2016, Table 3: ResNet-101, 10 crops, top-1 error 21.75%"),
    "resnet152": Reported(78.6, "He et al. 2016, Table 3: ResNet-152, 10 crops, top-1 error 21.43%"),
    "inception_resnet_v2": Reported(80.1, "Szegedy et al. 2017, Table 2: 1 crop, top-1 error 19.9%"),
    "densenet121": Reported(75.0, "Huang et al. 2017, Table 3: single crop, top-1 error 25.02%"),
    "densenet169": Reported(76.2, "Huang et al. 2017, Table 3: single crop, top-1 error 23.80%"),
    "densenet201": Reported(77.4, "Huang et al. 2017, Table 3: single crop, top-1 error 22.58%"),
    "resnext50_32x4d": Reported(77.8, "Xie et al. 2017, Table 3: 224 single crop, top-1 error 22.2%"),
    "mobilenet": Reported(70.6, "Howard et al. 2017, Table 8: 1.0 MobileNet-224"),
    "nasnet_mobile": Reported(74.0, "Zoph et al. 2018, Table 2: NASNet-A (4 @ 1056)"),
    "mobilenet_v2": Reported(72.0, "Sandler et al. 2018, Table 4: MobileNetV2 1.0"),
    "mixnet_s": Reported(75.8, "Tan & Le 2019, Table 2: MixNet-S"),
    "mixnet_m": Reported(77.0, "Tan & Le 2019, Table 2: MixNet-M"),
}  # fmt: skip


def imagenet_top1() -> pd.DataFrame:
    """:data:`IMAGENET_TOP1` as a table indexed by model name: ``top1`` (%) and ``source``."""
    return pd.DataFrame(IMAGENET_TOP1, index=list(Reported._fields)).T.astype({"top1": float})
