"""The one place a model is made to be trained: the registry's network behind the device feed,
compiled the one way every command trains it (the runner, `speed`, the tuner)."""

from __future__ import annotations

import keras
import numpy as np

import architectures
from benchmarks import backends, feed
from benchmarks.config import Recipe


def compile_model(arch: str, num_classes: int, recipe: Recipe, *, pixels: np.ndarray, mean, std, jit: bool,
                  hparams=(), learning_rate=0.0, host: bool = False) -> keras.Model:
    """`arch` on `pixels` (uint8, N x H x W x C, held on the device): the recipe's optimizer,
    sparse cross-entropy on probabilities, top-1/top-5. Its inputs are plans (see `feed`).
    `learning_rate`: a float or a schedule (BudgetSchedule); `host`: the pixels stay in host
    memory and travel with each batch (data too large for the device)."""
    net = architectures.build(arch, num_classes=num_classes, input_shape=tuple(pixels.shape[1:]),
                              weight_decay=recipe.weight_decay, **dict(hparams))
    model = feed.on_device(net, pixels, mean, std, host=host)
    if recipe.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=recipe.momentum, nesterov=recipe.nesterov)
    else:
        optimizer = keras.optimizers.Adam(learning_rate)
    # Weighted metrics: without sample weights they are the plain ones; with them (a multi-host
    # evaluation padded to whole batches) the padding counts for nothing. Keras' `metrics` ignore weights.
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(),
                  weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1"),
                                    keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")],
                  jit_compile=jit)
    return model


class BudgetSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The budget-aware schedule (`runner.learning_rate`) of a step-like budget as a function of
    the optimizer's step, computed inside the compiled step. Assigning the lr from the loop at
    every step would, on JAX, force a sync of the whole device state each time."""

    def __init__(self, peak: float, warmup: float, total_steps: int):
        self.peak, self.warmup, self.total_steps = float(peak), float(warmup), int(total_steps)

    def __call__(self, step):
        progress = keras.ops.minimum(keras.ops.cast(step, "float32") / self.total_steps, 1.0)
        decay = self.peak * (1.0 - progress) / (1.0 - self.warmup)
        if self.warmup <= 0:
            return decay
        return keras.ops.where(progress < self.warmup, self.peak * progress / self.warmup, decay)

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "total_steps": self.total_steps}


def sync(model: keras.Model) -> None:
    """Bring the model's variables up to date inside `fit` (JAX keeps them in its own state
    until the epoch ends); nothing to do on the other backends."""
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def build_state(model: keras.Model) -> None:
    """Create optimizer slots and metric accumulators now, so a checkpoint can fill them (Keras
    builds them lazily on the first step, which comes after restoring)."""
    x = feed.plain(np.zeros(1, np.int64))
    if "images" in model.input:  # host mode
        x = feed.to_host(x, np.zeros((1, *model.input["images"].shape[1:]), np.uint8))
    model._symbolic_build(data_batch=(x, np.zeros((1,), np.int64)))


def weights(model: keras.Model) -> list:
    """The model's weight variables, without the device's copy of the data."""
    return [v for v in model.weights if not feed.is_data(v)]


def get_weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(backends.to_numpy(v)) for v in weights(model)]


def set_weights(model: keras.Model, values: list[np.ndarray]) -> None:
    for variable, value in zip(weights(model), values, strict=True):
        variable.assign(value)
