"""Wide Residual Networks (Zagoruyko & Komodakis 2016), WRN-D-K for any depth D = 6n + 4.

conv3x3(16) -> 3 groups of n pre-activation basic blocks of width 16K/32K/64K
(BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3) with a 1x1 projection shortcut where the shape
changes -> BN-ReLU -> global average pooling -> Dense. No conv biases, as in the official code,
which also feeds the projection from the block's pre-activated input (done here the same way).
"""

from __future__ import annotations

import functools
import re

import keras
from keras import layers

from architectures.layers import batch_norm, check_positive_int, classifier, conv1x1, conv3x3
from architectures.registry import Spec, register, register_family

# The paper's parameter counts (10 classes), Tables 1-4.
PAPER_PARAMS = {(16, 4): ("2.7M", 2_700_000), (16, 8): ("11.0M", 11_000_000),
                (28, 10): ("36.5M", 36_500_000), (40, 4): ("8.9M", 8_900_000)}
PUBLISHED = {(28, 10): {"test_top1": 0.8075, "test_top1_dropout": 0.8115,
                        "recipe": "200 epochs, batch 128, SGD Nesterov 0.9, lr 0.1 x0.2 at 60/120/160, wd 5e-4"},
             (16, 4): {"test_top1": 0.765, "recipe": "200-240 epochs, lr 0.1 step decay, wd 5e-4"}}


def _block(x, filters: int, strides: int, dropout: float, weight_decay: float, prefix: str):
    preact = batch_norm(f"{prefix}_bn1")(x)
    preact = layers.ReLU(name=f"{prefix}_relu1")(preact)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv1x1(filters, f"{prefix}_shortcut_conv", strides=strides,
                           weight_decay=weight_decay)(preact)
    else:
        shortcut = x
    y = conv3x3(filters, f"{prefix}_conv1", strides=strides, weight_decay=weight_decay)(preact)
    y = batch_norm(f"{prefix}_bn2")(y)
    y = layers.ReLU(name=f"{prefix}_relu2")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{prefix}_dropout")(y)
    y = conv3x3(filters, f"{prefix}_conv2", weight_decay=weight_decay)(y)
    return layers.Add(name=f"{prefix}_add")([shortcut, y])


def build_wide_resnet(num_classes: int = 100, input_shape=(32, 32, 3), *, depth: int = 28,
                      width: int = 10, dropout: float = 0.0, weight_decay: float = 0.0) -> keras.Model:
    """WRN-`depth`-`width`; `dropout` between the two convolutions of each block (paper: 0.3)."""
    if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n+4 (10, 16, 22, 28, 40, ...), got {depth!r}")
    check_positive_int(width, "WRN width")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    blocks = (depth - 4) // 6

    inputs = keras.Input(shape=input_shape, name="images")
    x = conv3x3(16, "stem_conv", weight_decay=weight_decay)(inputs)
    for group, base in enumerate((16, 32, 64), start=1):
        for block in range(1, blocks + 1):
            strides = 2 if group > 1 and block == 1 else 1
            x = _block(x, base * width, strides, dropout, weight_decay, f"stage{group}_block{block}")
    x = batch_norm("final_bn")(x)
    x = layers.ReLU(name="final_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = classifier(x, num_classes, weight_decay=weight_decay)
    return keras.Model(inputs, outputs, name=f"wrn-{depth}-{width}")


def _spec(depth: int, width: int) -> Spec:
    text, count = PAPER_PARAMS.get((depth, width), (None, None))
    return Spec(name=f"wrn-{depth}-{width}", family="wide_resnet",
                description=f"Wide-ResNet {depth}-{width}: pre-activation blocks, widths "
                            f"{16 * width}/{32 * width}/{64 * width}",
                reference="Zagoruyko & Komodakis 2016, Wide Residual Networks, Tables 1-4",
                paper_params=count, paper_params_text=text,
                options=(("depth", depth), ("width", width)),
                published=tuple(sorted(PUBLISHED.get((depth, width), {}).items())))


for (_depth, _width) in PAPER_PARAMS:
    _s = _spec(_depth, _width)
    register(_s.name, family=_s.family, description=_s.description, reference=_s.reference,
             paper_params=_s.paper_params, paper_params_text=_s.paper_params_text,
             published=_s.published_dict, depth=_depth, width=_width)(build_wide_resnet)


def _resolve(match: re.Match[str]):
    depth, width = int(match.group(1)), int(match.group(2))
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"wrn-{depth}-{width}: WRN depth must be 6n+4 (10, 16, 22, 28, 40, ...)")
    if width < 1:
        raise ValueError(f"wrn-{depth}-{width}: width must be >= 1")
    return functools.partial(build_wide_resnet, depth=depth, width=width), _spec(depth, width)


register_family(r"wrn-(\d+)-(\d+)", _resolve)
