"""VGG with batch norm (Simonyan & Zisserman 2015), adapted to 32x32 inputs the usual CIFAR way.

conv3x3-BN-ReLU stacks with the paper's channel configurations (A=11, B=13, D=16, E=19 layers)
and max-pooling between the five stages, which leaves a 1x1x512 feature map for a 32x32 input.

Head: Flatten -> Dense(512)-ReLU-Dropout(0.5) -> Dense(512)-ReLU-Dropout(0.5) -> Dense(classes).
The ImageNet head (two 4096-wide layers over 7x7x512) would add about 20M parameters on top of a
1x1x512 feature map and overfit CIFAR badly; 512-512-classes is the common CIFAR choice
(chenyaofo/pytorch-cifar-models) and gives VGG-16-BN about 15.3M parameters with 100 classes.
The convolutions have no bias: the batch norm right after each one makes a bias redundant.
"""

from __future__ import annotations

import keras
from keras import layers

from architectures.layers import batch_norm, classifier, conv3x3, l2

# Channels per conv, "M" = max-pool; the columns of the paper's Table 1.
CONFIGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}


def build_vgg(num_classes: int = 100, input_shape=(32, 32, 3), *, depth: int = 16,
              head_units: int = 512, dropout: float = 0.5, weight_decay: float = 0.0) -> keras.Model:
    """VGG-`depth`-BN for small images."""
    if depth not in CONFIGS:
        raise ValueError(f"VGG depth must be one of {sorted(CONFIGS)}, got {depth!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    inputs = keras.Input(shape=input_shape, name="images")
    x, stage, block = inputs, 1, 1
    for item in CONFIGS[depth]:
        if item == "M":
            x = layers.MaxPooling2D(2, padding="same", name=f"stage{stage}_pool")(x)  # "same": any image size
            stage, block = stage + 1, 1
            continue
        prefix = f"stage{stage}_block{block}"
        x = conv3x3(item, f"{prefix}_conv", weight_decay=weight_decay)(x)
        x = batch_norm(f"{prefix}_bn")(x)
        x = layers.ReLU(name=f"{prefix}_relu")(x)
        block += 1

    x = layers.Flatten(name="head_flatten")(x)
    for i in (1, 2):
        x = layers.Dense(head_units, kernel_regularizer=l2(weight_decay), name=f"head_dense{i}")(x)
        x = layers.ReLU(name=f"head_relu{i}")(x)
        x = layers.Dropout(dropout, name=f"head_dropout{i}")(x)
    outputs = classifier(x, num_classes, weight_decay=weight_decay)
    return keras.Model(inputs, outputs, name=f"vgg{depth}")
