"""Wide Residual Networks (Zagoruyko & Komodakis 2016), WRN-D-K for any depth D = 6n + 4.

conv3x3(16) -> 3 groups of n pre-activation basic blocks of width 16K/32K/64K
(BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3) with a 1x1 projection shortcut where the shape
changes -> BN-ReLU -> global average pooling -> Dense. No conv biases, as in the official code,
which also feeds the projection from the block's pre-activated input (done here the same way).
"""

from __future__ import annotations

import keras
from keras import layers

from architectures.layers import batch_norm, check_positive_int, classifier, conv1x1, conv3x3


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
