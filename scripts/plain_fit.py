"""The yardstick for the runner: ResNet-20 trained by a plain `keras.Model.fit`, as a Keras user
would write it, on the same uint8 CIFAR-100 arrays. Prints steady-state training img/s (the
first step, tracing and compiling, excluded). scripts/runner_vs_plain.sh sets it beside
`archbench run` on the same data, alternately, on each backend.

    python scripts/plain_fit.py CIFAR100_DIR [STEPS]
"""

import sys
import time

import keras
import numpy as np

import architectures
from benchmarks.core.config import RECIPES, DataConfig
from benchmarks.data import loader

folder, steps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
splits = loader.load_splits(DataConfig(data_dir=folder))  # the runner's arrays: uint8, val held out
x, y, info = splits.arrays["x_train"], splits.arrays["y_train"], splits.info
recipe = RECIPES["paper"]
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((32, 32, 3), dtype="uint8"),
    keras.layers.Normalization(mean=np.array(info.mean) * 255, variance=(np.array(info.std) * 255) ** 2),
    keras.layers.RandomFlip("horizontal"), keras.layers.RandomTranslation(4 / 32, 4 / 32, fill_mode="reflect"),
    architectures.build("resnet20", num_classes=info.num_classes, input_shape=(32, 32, 3), weight_decay=recipe.weight_decay),
])
model.compile(keras.optimizers.SGD(recipe.learning_rate, momentum=0.9, nesterov=True),
              keras.losses.SparseCategoricalCrossentropy(),
              metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5)],
              jit_compile=keras.backend.backend() == "jax")


class Clock(keras.callbacks.Callback):
    """From the second step's begin to the epoch's end (where Keras waits for the device)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.started = time.perf_counter() if batch == 1 else getattr(self, "started", None)

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.started


clock = Clock()
model.fit(x, y, batch_size=128, epochs=1, steps_per_epoch=steps, shuffle=True, verbose=0, callbacks=[clock])
print(f"plain fit ({keras.backend.backend()}): {(steps - 1) * 128 / clock.seconds:.1f} img/s over {steps - 1} steps")
