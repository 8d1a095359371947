"""`original`: the hand-made 9-conv CNN of the blog post this project started from.

The post's Keras 2 code, layer for layer (every conv 3x3, stride 1, padding "valid"):

    for filters in (128, 20, 20, "pool", 64, 20, 20, "pool", 32, 20, 20, "pool"):
        conv = Conv2D(filters, (3, 3)) -> BatchNormalization -> Activation("relu") -> ZeroPadding2D()
        "pool" = MaxPooling2D((2, 2)) -> Dropout(0.25)
    Flatten -> BatchNormalization -> Dense(90) -> BatchNormalization -> Activation("relu")
            -> Dense(100) -> BatchNormalization -> Activation("softmax")

Its quirks (zero padding after the activation, batch norm right before the softmax) are kept on
purpose: it is the baseline under test, not a model to improve. The generic builder below spans the
post's own five suspects (conv layers per block, number of blocks, filters, batch-norm placement,
dropout, dense width) so that `tune` can search around it; the registered `original` is the one
point of that space that reproduces the post exactly.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from architectures.layers import check_positive_int, l2
from architectures.original_space import BATCHNORM_PLACES

POST_FILTERS = ((128, 20, 20), (64, 20, 20), (32, 20, 20))



def build_original(num_classes: int = 100, input_shape=(32, 32, 3), *,
                   filters: Sequence[Sequence[int]] = POST_FILTERS, batchnorm: str = "every",
                   head_batchnorm: bool = True, dropout: float = 0.25, dense_units: int = 90,
                   weight_decay: float = 0.0, name: str = "original") -> keras.Model:
    """The post's CNN, generalised: `filters[b][c]` is the width of conv c of block b.

    Args:
        batchnorm: "every" conv (the post), once per "block" (after its last conv), or "none".
        head_batchnorm: the post's three batch norms in the head (after Flatten, Dense, logits).
        dropout: rate after each block's max-pooling (the post: 0.25).
    """
    if not filters or any(not block for block in filters):
        raise ValueError(f"filters must be a non-empty list of non-empty blocks, got {filters!r}")
    for block in filters:
        for width in block:
            check_positive_int(width, "every filter count")
    if batchnorm not in BATCHNORM_PLACES:
        raise ValueError(f"batchnorm must be one of {BATCHNORM_PLACES}, got {batchnorm!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    check_positive_int(dense_units, "dense_units")
    if input_shape[0] >> len(filters) < 1:
        raise ValueError(f"{len(filters)} pooling blocks do not fit a {input_shape[0]}px input")

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for b, block in enumerate(filters, start=1):
        for c, width in enumerate(block, start=1):
            prefix = f"block{b}_conv{c}"
            x = layers.Conv2D(width, (3, 3), padding="valid", kernel_regularizer=l2(weight_decay),
                              name=prefix)(x)
            if batchnorm == "every" or (batchnorm == "block" and c == len(block)):
                # Keras' own BatchNormalization defaults, as the post used them.
                x = layers.BatchNormalization(name=f"{prefix}_bn")(x)
            x = layers.Activation("relu", name=f"{prefix}_relu")(x)
            x = layers.ZeroPadding2D(name=f"{prefix}_pad")(x)
        x = layers.MaxPooling2D((2, 2), name=f"block{b}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{b}_dropout")(x)

    x = layers.Flatten(name="head_flatten")(x)
    if head_batchnorm:
        x = layers.BatchNormalization(name="head_flatten_bn")(x)
    x = layers.Dense(dense_units, kernel_regularizer=l2(weight_decay), name="head_dense")(x)
    if head_batchnorm:
        x = layers.BatchNormalization(name="head_dense_bn")(x)
    x = layers.Activation("relu", name="head_relu")(x)
    x = layers.Dense(num_classes, kernel_regularizer=l2(weight_decay), name="predictions_dense")(x)
    if head_batchnorm:
        x = layers.BatchNormalization(name="predictions_bn")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
