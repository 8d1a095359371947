"""pytest-benchmark suite (`tox -e bench`, `tox -e bench-jax`): throughput per architecture, the
flat step cost in the size of the device's table, the host side of the input path, the cost of
augmenting inside the step, the runner's overhead over a bare `fit`, and ResNet-20 on every
installed backend side by side. Not part of the default run. Every table holds CIFAR's training
split (50,000 images), as a real run does.

A training step is far too slow for pytest-benchmark's calibration, so every benchmark uses
`benchmark.pedantic` with explicit rounds and a warm-up round. Ratios are measured within one
run and asserted: flat step cost, host capacity, in-step augmentation, runner overhead. Three
benchmarks only record, for `--benchmark-compare` to track across commits: training and
evaluation throughput per architecture, and ResNet-20 per backend (absolute img/s depend on
the machine, so no bound on them would hold everywhere).
"""

import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from benchmarks.core.config import DEFAULT_SUITE, RECIPES, Budget, DataConfig, RunConfig
from benchmarks.core.datasets import DATASETS
from benchmarks.core.storage import Claim
from benchmarks.data import feed, loader
from benchmarks.train import models
from benchmarks.train.runner import Run

BATCH = 64
EVAL_BATCH = feed.EVAL_BATCH
STEPS = 4
ROOT = Path(__file__).resolve().parents[2]
TRAIN_SPLIT = DATASETS["cifar100"].train_images  # 50,000: the table a real run holds on the device
PIXELS = np.random.default_rng(0).integers(0, 256, (TRAIN_SPLIT, 32, 32, 3), dtype=np.uint8)


def compiled(arch, num_classes=100, pixels=PIXELS):
    keras.utils.set_random_seed(0)
    jit = keras.backend.backend() == "jax"
    return models.compile_model(arch, num_classes, RECIPES["paper"], pixels=pixels, mean=(0.5,) * 3, std=(0.25,) * 3,
                                jit=jit, learning_rate=1e-3)


def planned_fit(model, steps=STEPS, augment="standard", seed=0):
    """`fit` over `steps` batches drawn at random from the whole table, as an epoch draws them."""
    table = int(model.get_layer(feed.NAME).pixels.shape[0])
    rows = np.random.default_rng(seed).integers(0, table, steps * BATCH)
    plan = feed.epoch_plan(rows, seed, 0, BATCH, augment, (32, 32))
    y = np.random.default_rng(0).integers(0, 100, steps * BATCH)
    args = feed.fit_arguments(feed.model_inputs(plan), y, BATCH)
    return lambda: model.fit(**args, epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize("arch", ["resnet20"])
def test_step_cost_is_flat_in_the_table_size(benchmark, arch):
    """ResNet-20 steps with 1,000, 50,000 (CIFAR's training split) and 500,000 images on the
    device, interleaved so all three see the same machine: each within 3% of the smallest. The
    table is read only by a gather of whole images (B rows); on JAX the compiled step aliases it
    to its output (XLA's dump: `input_output_alias`), so it is never copied."""
    sizes = (1_000, TRAIN_SPLIT, 500_000)
    rng = np.random.default_rng(1)
    fits = {n: planned_fit(compiled(arch, pixels=PIXELS if n == TRAIN_SPLIT else
                                     rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)), steps=2 * STEPS)
            for n in sizes}
    times = {n: [] for n in sizes}
    for fit in fits.values():
        fit()  # tracing

    def one_round():
        for n, fit in fits.items():
            started = time.perf_counter()
            fit()
            times[n].append(time.perf_counter() - started)

    benchmark.pedantic(one_round, rounds=7, warmup_rounds=0)
    ratios = {n: statistics.median(times[n]) / statistics.median(times[sizes[0]]) for n in sizes}
    benchmark.extra_info.update({f"step_seconds_{n}": statistics.median(times[n]) / (2 * STEPS) for n in sizes})
    benchmark.extra_info.update({f"ratio_{n}": r for n, r in ratios.items()})
    print("\nstep cost against 1,000 images: " + ", ".join(f"{n:,}: x{r:.3f}" for n, r in ratios.items()))
    assert max(ratios.values()) <= 1.03, ratios


@pytest.mark.parametrize("arch", DEFAULT_SUITE)
def test_training_step_throughput(benchmark, arch):
    """Records training img/s per architecture (see the module docstring)."""
    steps = 1 if arch == "wrn-28-10" else STEPS
    benchmark.pedantic(planned_fit(compiled(arch), steps), rounds=3, warmup_rounds=1, iterations=1)
    benchmark.extra_info["images_per_second"] = steps * BATCH / benchmark.stats.stats.median


def test_evaluation_throughput(benchmark):
    """Records: `evaluate` as the runner calls it (its inference batch, loss and top-k metrics)."""
    model = compiled("resnet20")
    x = feed.plain(np.random.default_rng(0).integers(0, len(PIXELS), 1024))
    y = np.random.default_rng(0).integers(0, 100, 1024)
    arguments = feed.fit_arguments(x, y, EVAL_BATCH)
    benchmark.pedantic(lambda: model.evaluate(**arguments, verbose=0), rounds=3, warmup_rounds=1)
    benchmark.extra_info["images_per_second"] = 1024 / benchmark.stats.stats.median


@pytest.fixture(scope="module")
def cifar_sized():
    """50,000 training images, as CIFAR's: the host's work per epoch scales with it."""
    return loader.load_splits(DataConfig(dataset="synthetic", synthetic_train=50_000, synthetic_test=200,
                                       val_size=0, select_on="test", train_eval_size=0, batch_size=128))


def test_host_side_of_the_input_path(benchmark, cifar_sized):
    """Drawing an epoch's plan and slicing it into batches: <= 2 us per training image, i.e.
    >= 500,000 img/s of host capacity (the tf.data map it replaced delivered about 12,000)."""
    def epoch():
        x, y = cifar_sized.train(1)
        for start in range(0, len(y), 128):
            [v[start:start + 128] for v in x.values()]

    benchmark.pedantic(epoch, rounds=5, warmup_rounds=1)
    images = cifar_sized.steps_per_epoch * 128
    per_image = benchmark.stats.stats.median / images
    benchmark.extra_info.update(images_per_second=1 / per_image, microseconds_per_image=per_image * 1e6)
    assert per_image <= 2e-6, f"host work {per_image * 1e6:.2f} us per image"


def test_augmenting_inside_the_step_costs_little(benchmark):
    """ResNet-20 steps fed plans (gather, crop, flip, normalise on the device) against the same
    network fed ready float images: the in-step augmentation adds <= 5% on the CPU."""
    model = compiled("resnet20")
    augmented = planned_fit(model)
    net = model.layers[-1]
    net.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9, nesterov=True),
                loss=keras.losses.SparseCategoricalCrossentropy(), jit_compile=keras.backend.backend() == "jax",
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1"),
                         keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")])
    x = np.random.default_rng(0).normal(size=(STEPS * BATCH, 32, 32, 3)).astype(np.float32)
    y = np.random.default_rng(0).integers(0, 100, STEPS * BATCH)
    plain = lambda: net.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)  # noqa: E731
    plain()
    augmented()
    plain_times = []

    def interleaved():  # the benchmarked call is the augmented step; the plain one runs beside it
        started = time.perf_counter()
        plain()
        plain_times.append(time.perf_counter() - started)
        augmented()

    benchmark.pedantic(augmented, rounds=1, warmup_rounds=0)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        interleaved()
        times.append(time.perf_counter() - started - plain_times[-1])
    ratio = statistics.median(plain_times) / statistics.median(times)
    benchmark.extra_info.update(augmented_over_plain_throughput=ratio)
    print(f"\nin-step augmentation: {ratio:.3f}x the plain step's throughput")
    assert ratio >= 0.95, f"augmenting in the step costs {1 - ratio:.1%}"


def test_runner_overhead_against_a_bare_fit(benchmark, tmp_path):
    """Steady-state epochs of the runner with everything on (callbacks, metrics, checkpoints,
    progress, budget accounting) against `model.fit` on the same plans and model: >= 0.95x."""
    splits = loader.load_splits(DataConfig(dataset="synthetic", synthetic_train=3_000, synthetic_test=200, val_size=200,
                                         train_eval_size=200, batch_size=128, augment="standard"))
    jit = keras.backend.backend() == "jax"
    cfg = RunConfig("resnet20", splits.config, RECIPES["paper"], Budget.parse("40epochs"), jit=jit,
                    backend=keras.backend.backend())
    run = Run(cfg, tmp_path / "run", splits, claim=Claim(tmp_path / "run"), log=lambda *_: None, verbose=0)
    run.start()
    run.train_epoch()  # warm-up epoch: tracing
    keras.utils.set_random_seed(0)
    bare = models.compile_model("resnet20", splits.info.num_classes, RECIPES["paper"], pixels=splits.pixels(),
                                mean=splits.info.mean, std=splits.info.std, jit=jit, learning_rate=0.05)
    bare.fit(**feed.fit_arguments(*splits.train(0), 128), verbose=0, shuffle=False)
    harness, plain = [], []

    def runner_epoch():
        evaluated = run.state.eval_seconds + run.state.checkpoint_seconds
        started = time.perf_counter()
        run.train_epoch()
        harness.append(time.perf_counter() - started - (run.state.eval_seconds + run.state.checkpoint_seconds - evaluated))
        started = time.perf_counter()  # the bare loop, interleaved so both see the same machine state
        bare.fit(**feed.fit_arguments(*splits.train(len(harness)), 128), verbose=0, shuffle=False)
        plain.append(time.perf_counter() - started)

    benchmark.pedantic(runner_epoch, rounds=3, warmup_rounds=0)
    ratio = float(np.median(plain) / np.median(harness))
    images = splits.steps_per_epoch * 128
    benchmark.extra_info.update(runner_images_per_second=images / np.median(harness),
                                bare_images_per_second=images / np.median(plain), throughput_ratio=ratio,
                                backend=keras.backend.backend())
    print(f"\nrunner/bare throughput ratio on {keras.backend.backend()}: {ratio:.3f}")
    assert ratio >= 0.95, f"the harness costs {1 - ratio:.1%} of the throughput"


INSTALLED = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]


def test_resnet20_on_every_backend_side_by_side(benchmark):
    """Records the same `speed` measurement of ResNet-20 and `original` under each installed
    backend, in one run; asserts only that every backend measured both."""
    figures = {}

    def measure_all():
        for backend in INSTALLED:
            proc = subprocess.run([sys.executable, "-m", "benchmarks", "speed", "resnet20", "original", "--backend",
                                   backend, "--steps", "8", "--warmup", "2", "--repeats", "3", "--json", "-"],
                                  capture_output=True, text=True, cwd=ROOT, timeout=900)
            assert proc.returncode == 0, proc.stderr[-2000:]
            for row in json.loads(proc.stdout)["results"]:
                figures[f"{backend}/{row['arch']}"] = row["train_images_per_second"]

    benchmark.pedantic(measure_all, rounds=1, warmup_rounds=0)
    benchmark.extra_info.update({f"{k} img/s": v for k, v in figures.items()})
    print("\n" + "\n".join(f"{k}: {v:,.0f} train img/s" for k, v in figures.items()))
    assert len(figures) == 2 * len(INSTALLED)
