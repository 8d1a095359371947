"""Building blocks shared by the families: convolutions with the papers' init and decay, the
classifier head that fixes the zoo's output convention, and the parameter-free shortcut."""

from __future__ import annotations

import keras
from keras import layers


def l2(weight_decay: float) -> keras.regularizers.Regularizer | None:
    """Keras' L2(l) adds 2*l*w to the gradient; the papers' weight decay `wd` adds wd*w, so l = wd/2."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    return keras.regularizers.L2(weight_decay / 2) if weight_decay else None


def conv3x3(filters: int, name: str, *, strides: int = 1, weight_decay: float = 0.0,
            padding: str = "same", use_bias: bool = False) -> layers.Conv2D:
    """A 3x3 convolution with He-normal initialisation (He et al. 2015), as all the papers use."""
    return layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=use_bias,
                         kernel_initializer="he_normal", kernel_regularizer=l2(weight_decay),
                         name=name)


def conv1x1(filters: int, name: str, *, strides: int = 1, weight_decay: float = 0.0) -> layers.Conv2D:
    return layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False,
                         kernel_initializer="he_normal", kernel_regularizer=l2(weight_decay),
                         name=name)


def batch_norm(name: str) -> layers.BatchNormalization:
    # PyTorch's defaults (momentum 0.1 there = 0.9 here, eps 1e-5), which the published CIFAR
    # recipes were trained with; Keras' 0.99 lags badly on short budgets.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def classifier(x, num_classes: int, *, weight_decay: float = 0.0, name: str = "predictions"):
    """Dense -> softmax in float32: the zoo's single output convention (probabilities)."""
    x = layers.Dense(num_classes, kernel_regularizer=l2(weight_decay), name=f"{name}_dense")(x)
    return layers.Activation("softmax", dtype="float32", name=name)(x)


def check_positive_int(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


@keras.saving.register_keras_serializable(package="archbench")
class ChannelZeroPad(layers.Layer):
    """He et al.'s option A shortcut: subsample by `strides` and zero-pad the new channels.

    Parameter-free, which is what makes ResNet-20 0.27M parameters in the paper's Table 6.
    """

    def __init__(self, out_channels: int, strides: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = out_channels
        self.strides = strides

    def call(self, x):
        x = x[:, :: self.strides, :: self.strides, :]
        extra = self.out_channels - x.shape[-1]
        before = extra // 2
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = lambda d: None if d is None else -(-d // self.strides)  # noqa: E731
        return (n, out(h), out(w), self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels, "strides": self.strides}
