"""The one place a model is made to be trained: the registry's network behind the device feed,
compiled the one way every command trains it (the runner, `speed`, the tuner)."""

from __future__ import annotations

import keras
import numpy as np

import architectures
from benchmarks.core import compat
from benchmarks.core.config import Recipe
from benchmarks.data import feed
from benchmarks.train import backends
from benchmarks.train.clock import budget_lr


def make(arch: str, num_classes: int, recipe: Recipe, *, pixels: np.ndarray, mean, std, hparams=(),
         host: bool = False) -> keras.Model:
    """`arch` on `pixels` (uint8, N x H x W x C, held on the device), not compiled. Its inputs are
    plans (see `feed`); `host`: the pixels stay in host memory and travel with each batch."""
    net = architectures.build(arch, num_classes=num_classes, input_shape=tuple(pixels.shape[1:]),
                              weight_decay=recipe.weight_decay, **dict(hparams))
    return feed.on_device(net, pixels, mean, std, host=host)


def strict_top_k(y_true, y_pred, k: int = 1):
    """1 where the true class is in the top k with ties counted against it: a hit only when fewer
    than k other classes score at least as high. Keras' top-k (`in_top_k`) counts every tie as a
    hit, so a saturated model whose outputs are all equal scored 100% top-5; its argmax accuracy
    wins every tie that falls on class 0."""
    labels = keras.ops.cast(keras.ops.reshape(y_true, (-1, 1)), "int32")
    true_score = keras.ops.take_along_axis(y_pred, labels, axis=-1)
    rivals = keras.ops.sum(keras.ops.cast(y_pred >= true_score, "int32"), axis=-1) - 1
    return keras.ops.cast(rivals < k, "float32")


class StrictTopK(keras.metrics.MeanMetricWrapper):
    """Top-k accuracy without credit for ties (see `strict_top_k`); weighted like Keras' own."""

    def __init__(self, k: int, name: str, dtype=None):
        super().__init__(fn=strict_top_k, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}


def compile_for_training(model: keras.Model, recipe: Recipe, *, jit: bool, learning_rate=0.0) -> keras.Model:
    """The one way every command trains: the recipe's optimizer, sparse cross-entropy on
    probabilities, top-1/top-5, and the cross-entropy alone as a metric (`ce`: Keras' `loss` also
    holds the weight-decay penalty, so it cannot be held against ln(classes)). `learning_rate`: a
    float or a schedule (BudgetSchedule)."""
    # Weighted metrics: without sample weights they are the plain ones; with them (a multi-host
    # evaluation padded to whole batches) the padding counts for nothing. Keras' `metrics` ignore weights.
    model.compile(optimizer=keras.optimizers.get(recipe.optimizer_config(learning_rate)),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  weighted_metrics=[StrictTopK(1, name="top1"), StrictTopK(5, name="top5"),
                                    keras.metrics.SparseCategoricalCrossentropy(name="ce")],
                  jit_compile=jit)
    if jit and not model.jit_compile:  # Keras turned it off (a layer without XLA support): never record XLA that did not run
        raise RuntimeError(f"XLA was asked for, but Keras cannot compile {model.name} with XLA here: run it with --no-jit")
    return model


def compile_model(arch: str, num_classes: int, recipe: Recipe, *, pixels: np.ndarray, mean, std, jit: bool,
                  hparams=(), learning_rate=0.0, host: bool = False) -> keras.Model:
    """`make` then `compile`: what `speed` and the benchmarks measure."""
    model = make(arch, num_classes, recipe, pixels=pixels, mean=mean, std=std, hparams=hparams, host=host)
    return compile_for_training(model, recipe, jit=jit, learning_rate=learning_rate)


class BudgetSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The budget-aware schedule (`clock.budget_lr`, the same formula) of a step-like budget as a
    function of the optimizer's step, computed inside the compiled step. Assigning the lr from the
    loop at every step would, on JAX, force a sync of the whole device state each time."""

    def __init__(self, peak: float, warmup: float, total_steps: int):
        self.peak, self.warmup, self.total_steps = float(peak), float(warmup), int(total_steps)

    def __call__(self, step):
        progress = keras.ops.minimum(keras.ops.cast(step, "float32") / self.total_steps, 1.0)
        return budget_lr(progress, self.peak, self.warmup, minimum=keras.ops.minimum)

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "total_steps": self.total_steps}


def compiled_schedule(recipe: Recipe, peak: float, total_steps: int | None):
    """What the optimizer is compiled with: for step-like budgets the whole schedule, computed in
    the step from the optimizer's own counter (exact, free, and restored with it); for time
    budgets (`total_steps` None) a value the step callback moves with the clock."""
    if recipe.schedule == "constant":
        return peak
    return 0.0 if total_steps is None else BudgetSchedule(peak, recipe.warmup, total_steps)


def penalty(model: keras.Model) -> float:
    """The weight-decay (L2) term that Keras adds to the loss, for the model's weights as they are."""
    terms = model.losses
    return float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.stack([keras.ops.sum(t) for t in terms])))) \
        if terms else 0.0


def sync(model: keras.Model) -> None:
    """Bring the model's variables up to date inside `fit` (JAX keeps them in its own state
    until the epoch ends); nothing to do on the other backends."""
    compat.sync_jax_state(model)


def build_state(model: keras.Model) -> None:
    """Create optimizer slots and metric accumulators now, so a checkpoint can fill them (Keras
    builds them lazily on the first step, which comes after restoring)."""
    x = feed.plain(np.zeros(1, np.int64))
    if "images" in model.input:  # host mode
        x = feed.to_host(x, np.zeros((1, *model.input["images"].shape[1:]), np.uint8))
    compat.symbolic_build(model, (x, np.zeros((1,), np.int64)))


def weights(model: keras.Model) -> list:
    """The model's weight variables, without the device's copy of the data."""
    return [v for v in model.weights if not feed.is_data(v)]


def get_weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(backends.to_numpy(v)) for v in weights(model)]


def set_weights(model: keras.Model, values: list[np.ndarray]) -> None:
    for variable, value in zip(weights(model), values, strict=True):
        variable.assign(value)
