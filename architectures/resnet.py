"""The CIFAR ResNet of He et al. 2016 ("Deep Residual Learning", section 4.2).

conv3x3(16) -> 3 stages of n basic blocks with 16/32/64 filters (the first block of stages 2 and 3
halves the resolution) -> global average pooling -> Dense. Depth = 6n + 2.

Shortcuts: option "A" (the paper's CIFAR choice and the default) is parameter-free: subsample and
zero-pad the new channels; option "B" projects with a 1x1 convolution where the shape changes.
"""

from __future__ import annotations

import keras
from keras import layers

from architectures.layers import ChannelZeroPad, batch_norm, classifier, conv1x1, conv3x3

WIDTHS = (16, 32, 64)


def _basic_block(x, filters: int, strides: int, shortcut: str, weight_decay: float, prefix: str):
    residual = conv3x3(filters, f"{prefix}_conv1", strides=strides, weight_decay=weight_decay)(x)
    residual = batch_norm(f"{prefix}_bn1")(residual)
    residual = layers.ReLU(name=f"{prefix}_relu1")(residual)
    residual = conv3x3(filters, f"{prefix}_conv2", weight_decay=weight_decay)(residual)
    residual = batch_norm(f"{prefix}_bn2")(residual)
    if strides != 1 or x.shape[-1] != filters:
        if shortcut == "A":
            x = ChannelZeroPad(filters, strides, name=f"{prefix}_shortcut")(x)
        else:
            x = conv1x1(filters, f"{prefix}_shortcut_conv", strides=strides,
                        weight_decay=weight_decay)(x)
            x = batch_norm(f"{prefix}_shortcut_bn")(x)
    x = layers.Add(name=f"{prefix}_add")([x, residual])
    return layers.ReLU(name=f"{prefix}_out")(x)


def build_resnet(num_classes: int = 100, input_shape=(32, 32, 3), *, depth: int = 20,
                 shortcut: str = "A", weight_decay: float = 0.0) -> keras.Model:
    """ResNet-`depth` for CIFAR; depth must be 6n + 2."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth!r}")
    if shortcut not in ("A", "B"):
        raise ValueError(f"shortcut must be 'A' (zero-padding) or 'B' (projection), got {shortcut!r}")
    blocks = (depth - 2) // 6

    inputs = keras.Input(shape=input_shape, name="images")
    x = conv3x3(WIDTHS[0], "stem_conv", weight_decay=weight_decay)(inputs)
    x = batch_norm("stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(WIDTHS, start=1):
        for block in range(1, blocks + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = _basic_block(x, filters, strides, shortcut, weight_decay, f"stage{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = classifier(x, num_classes, weight_decay=weight_decay)
    return keras.Model(inputs, outputs, name=f"resnet{depth}")
