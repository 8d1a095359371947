"""pytest-benchmark suite (`tox -e bench`): throughput per architecture, the input pipeline, and
the runner's overhead over a bare compiled loop. Not part of the default test run.

A training step is far too slow for pytest-benchmark's calibration, so every benchmark uses
`benchmark.pedantic` with explicit rounds and a warm-up round; images/s go into `extra_info`.
"""

import time

import keras
import numpy as np
import pytest

from benchmarks import data, speed
from benchmarks.config import DEFAULT_SUITE, RECIPES, Budget, DataConfig, RunConfig
from benchmarks.runner import Run, compile_model
from benchmarks.storage import Claim

BATCH = 64
STEPS = 4


def fixed_batch_fit(model, steps=STEPS):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 100, BATCH)
    feed = speed._feed(x, y, steps)
    return lambda: model.fit(**feed, epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize("arch", DEFAULT_SUITE)
def test_training_step_throughput(benchmark, arch):
    keras.utils.set_random_seed(0)
    model = compile_model(arch, 100, RECIPES["paper"], jit=False, learning_rate=1e-3)
    step = fixed_batch_fit(model, steps=1 if arch == "wrn-28-10" else STEPS)
    benchmark.pedantic(step, rounds=3, warmup_rounds=1, iterations=1)
    steps = 1 if arch == "wrn-28-10" else STEPS
    benchmark.extra_info["images_per_second"] = steps * BATCH / benchmark.stats.stats.median


def test_evaluation_throughput(benchmark):
    model = compile_model("resnet20", 100, RECIPES["paper"], jit=False)
    x = np.zeros((512, 32, 32, 3), np.float32)
    benchmark.pedantic(lambda: model.predict(x, batch_size=256, verbose=0), rounds=3, warmup_rounds=1)
    benchmark.extra_info["images_per_second"] = 512 / benchmark.stats.stats.median


@pytest.fixture(scope="module")
def splits():
    return data.load_splits(DataConfig(dataset="synthetic", synthetic_train=3_000, synthetic_test=200,
                                       val_size=200, train_eval_size=200, batch_size=128, augment="standard"))


def test_input_pipeline_alone(benchmark, splits):
    def epoch():
        for _ in splits.train(0):
            pass

    benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)
    rate = splits.steps_per_epoch * 128 / benchmark.stats.stats.median
    fastest = max(speed.measure(a, speed.SpeedConfig(batch_size=128, steps=3, warmup=1, repeats=1, jit=False))
                  ["train_images_per_second"] for a in ("resnet20", "original"))
    benchmark.extra_info.update(images_per_second=rate, fastest_model_images_per_second=fastest,
                                pipeline_over_fastest_model=rate / fastest)
    print(f"\npipeline {rate:,.0f} img/s = {rate / fastest:.1f}x the fastest model ({fastest:,.0f} img/s)")
    assert rate >= 5 * fastest, "the input pipeline would starve the fastest model"


def test_runner_overhead_against_a_bare_loop(benchmark, splits, tmp_path):
    """Steady-state epochs (the first, with tracing, excluded) of the runner with everything on
    (callbacks, metrics, checkpoints, progress, budget accounting) vs model.fit on the same data."""
    cfg = RunConfig("resnet20", splits.config, RECIPES["paper"], Budget.parse("20epochs"))
    run = Run(cfg, tmp_path / "run", splits, claim=Claim(tmp_path / "run"), log=lambda *_: None)
    run.build()
    run._train_epoch()  # warm-up epoch: tracing

    def runner_epochs():
        evaluated = run.state.eval_seconds
        started = time.perf_counter()
        run._train_epoch()
        return time.perf_counter() - started - (run.state.eval_seconds - evaluated)

    keras.utils.set_random_seed(0)
    bare = compile_model("resnet20", splits.info.num_classes, RECIPES["paper"], jit=False, learning_rate=0.05)
    bare.fit(splits.train(0), verbose=0)

    def bare_epoch(epoch):
        started = time.perf_counter()
        bare.fit(splits.train(epoch), verbose=0, shuffle=False)
        return time.perf_counter() - started

    # Interleaved, so both see the same machine state; medians of 3.
    harness, plain = [], []
    for epoch in range(1, 4):
        harness.append(runner_epochs())
        plain.append(bare_epoch(epoch))
    benchmark.pedantic(lambda: None, rounds=1)
    ratio = float(np.median(plain) / np.median(harness))
    images = splits.steps_per_epoch * 128
    benchmark.extra_info.update(runner_images_per_second=images / np.median(harness),
                                bare_images_per_second=images / np.median(plain), throughput_ratio=ratio)
    print(f"\nrunner/bare throughput ratio: {ratio:.3f}")
    assert ratio >= 0.95, f"the harness costs {1 - ratio:.1%} of the throughput"
