"""Size and cost of a built model, computed from its layers' shapes (never typed in)."""

from __future__ import annotations

import math

import keras
from keras import layers


def trainable_params(model: keras.Model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_weights))


def _layer_macs(layer: layers.Layer) -> int:
    if isinstance(layer, layers.Conv2D):
        _, h, w, c_out = layer.output.shape
        kh, kw = layer.kernel_size
        c_in = layer.input.shape[-1]
        return h * w * c_out * kh * kw * c_in // layer.groups
    if isinstance(layer, layers.Dense):
        return int(math.prod(layer.output.shape[1:-1]) * layer.input.shape[-1] * layer.units)
    return 0


def macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass for one image (convolutions and dense layers).

    Batch norm, activations, pooling and additions are left out, as in the papers' FLOP counts.
    A training step costs about 3x this (forward, plus gradients w.r.t. inputs and weights).
    """
    return int(sum(_layer_macs(layer) for layer in _flat_layers(model)))


def _flat_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer
