"""`speed`: training and inference throughput per architecture, without training to convergence.

The model part runs on any Keras backend and is fed a fixed batch already in memory (no input
pipeline), so it measures compute; the input pipeline (tf.data with augmentation, no model) is
measured on its own, and the two together say whether an architecture is input-bound. This is why
GPU checks can run it on the JAX backend, where TensorFlow is absent (the pipeline is then skipped).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from typing import Any

import keras
import numpy as np

import architectures
from benchmarks.config import RECIPES, Budget, DataConfig
from benchmarks.runner import compile_model

# Dense peak TFLOP/s per GPU (fp32, bf16/fp16 tensor cores), from the vendors' datasheets, no
# sparsity; matched against the device name. Give another with --peak-tflops.
PEAK_TFLOPS = {
    "H200": (67.0, 989.0), "H100": (67.0, 989.0), "A100": (19.5, 312.0), "L40S": (91.6, 362.0),
    "L4": (30.3, 121.0), "A10": (31.2, 125.0), "V100": (15.7, 125.0), "T4": (8.1, 65.0),
    "RTX 4090": (82.6, 165.0), "RTX 3090": (35.6, 71.0), "P100": (9.3, 18.7), "K80": (4.4, None),
}
TRAIN_FLOPS_PER_MAC = 6  # forward 2 FLOPs per MAC, backward about twice the forward
INFER_FLOPS_PER_MAC = 2
INPUT_BOUND_MARGIN = 1.2  # input-bound when the pipeline delivers < 1.2x what the model consumes


@dataclasses.dataclass(frozen=True)
class SpeedConfig:
    batch_size: int = 128  # images per step
    precision: str = "float32"  # float32 | mixed_float16 | mixed_bfloat16 | auto
    jit: bool | None = None  # XLA; None: auto (on for GPUs and JAX, off on the CPU)
    steps: int = 20  # timed steps per repeat
    warmup: int = 3  # untimed steps first (tracing/compiling is timed separately)
    repeats: int = 3  # timed repeats; the median is reported, with min and max
    num_classes: int = 100
    budget: str | None = None  # e.g. 30m: how many epochs each architecture gets
    train_images: int = 45_000  # images per epoch for that plan (CIFAR train minus val)
    peak_tflops: float | None = None  # the device's peak, when it is not in PEAK_TFLOPS


def device_name() -> str:
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform.upper()}: {device.device_kind}"
    from benchmarks.environment import device

    return device()


def resolve(config: SpeedConfig, device: str) -> SpeedConfig:
    """Fill the automatic choices: bf16 and XLA on GPUs (and XLA on JAX), float32 on the CPU."""
    gpu = device.startswith("GPU")
    precision = ("mixed_bfloat16" if gpu else "float32") if config.precision == "auto" else config.precision
    jit = (gpu or keras.backend.backend() == "jax") if config.jit is None else config.jit
    return dataclasses.replace(config, precision=precision, jit=jit)


def peak(device: str, precision: str, given: float | None) -> float | None:
    if given:
        return given
    for name, (fp32, low) in PEAK_TFLOPS.items():
        if name in device:
            return fp32 if precision == "float32" else low
    return None


def gflops(images_per_second: float, macs: float, training: bool) -> float:
    """Achieved GFLOP/s: 2 FLOPs per multiply-accumulate, x3 for a training step."""
    return images_per_second * macs * (TRAIN_FLOPS_PER_MAC if training else INFER_FLOPS_PER_MAC) / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _feed(x, y, steps: int):
    """A fixed batch repeated `steps` times, on the backend's fastest path."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        from benchmarks.data import options

        feed = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2).with_options(options())
        return {"x": feed, "steps_per_epoch": steps}
    return {"x": np.concatenate([x] * steps), "y": np.concatenate([y] * steps), "batch_size": len(x)}


def measure(arch: str, config: SpeedConfig) -> dict[str, Any]:
    """Training and inference images/s of one architecture (median over repeats)."""
    keras.mixed_precision.set_global_policy(config.precision)
    keras.utils.set_random_seed(0)
    model = compile_model(arch, config.num_classes, RECIPES["paper"], jit=config.jit, learning_rate=1e-3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(config.batch_size, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, config.num_classes, config.batch_size)
    compile_seconds = _timed(lambda: model.fit(**_feed(x, y, config.warmup), epochs=1, verbose=0, shuffle=False))
    train = [config.steps * config.batch_size /
             _timed(lambda: model.fit(**_feed(x, y, config.steps), epochs=1, verbose=0, shuffle=False))
             for _ in range(config.repeats)]
    predict = _feed(x, y, config.steps)
    predict_args = {"x": predict["x"], "steps": predict.get("steps_per_epoch")} if "steps_per_epoch" in predict \
        else {"x": predict["x"], "batch_size": predict["batch_size"]}
    model.predict(**{**predict_args, **({"steps": 1} if "steps" in predict_args else {})}, verbose=0)  # warm-up
    infer = [config.steps * config.batch_size / _timed(lambda: model.predict(**predict_args, verbose=0))
             for _ in range(config.repeats)]
    macs = architectures.macs(model)
    keras.mixed_precision.set_global_policy("float32")
    return {"arch": arch, "batch_size": config.batch_size, "precision": config.precision, "jit": bool(config.jit),
            "params": architectures.trainable_params(model), "mmacs": macs / 1e6,
            "compile_seconds": compile_seconds,
            "train_images_per_second": statistics.median(train), "train_min": min(train), "train_max": max(train),
            "train_gflops": gflops(statistics.median(train), macs, training=True),
            "infer_images_per_second": statistics.median(infer), "infer_min": min(infer), "infer_max": max(infer),
            "infer_gflops": gflops(statistics.median(infer), macs, training=False)}


def pipeline_rate(batch_size: int, augment: str = "standard") -> float | None:
    """Images/s of the tf.data training pipeline alone (synthetic CIFAR-sized images); None
    without TensorFlow (the JAX GPU machine)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return None
    from benchmarks import data

    config = DataConfig(dataset="synthetic", synthetic_train=8_000, synthetic_test=100, val_size=0,
                        select_on="test", batch_size=batch_size, augment=augment, train_eval_size=0)
    return data.pipeline_throughput(data.load_splits(config), batches=40)


def run(archs: list[str], config: SpeedConfig, log=print) -> dict[str, Any]:
    device = device_name()
    config = resolve(config, device)
    device_peak = peak(device, config.precision, config.peak_tflops)
    pipeline = pipeline_rate(config.batch_size)
    budget = Budget.parse(config.budget) if config.budget else None
    rows = []
    for arch in archs:
        row = measure(arch, config)
        row["train_peak_share"] = row["train_gflops"] / (device_peak * 1e3) if device_peak else None
        row["verdict"] = ("unknown (no pipeline measured)" if pipeline is None else
                          "input-bound" if pipeline < INPUT_BOUND_MARGIN * row["train_images_per_second"]
                          else "compute-bound")
        if budget is not None:
            row["epochs_in_budget"] = _epochs_in(budget, row["train_images_per_second"], config)
        rows.append(row)
        log(f"{arch}: {row['train_images_per_second']:,.0f} train img/s, {row['infer_images_per_second']:,.0f} "
            f"inference img/s")
    return {"device": device, "backend": keras.backend.backend(), "peak_tflops": device_peak,
            "pipeline_images_per_second": pipeline, "config": dataclasses.asdict(config),
            "cpu_threads": os.cpu_count(), "results": rows}


def _epochs_in(budget: Budget, images_per_second: float, config: SpeedConfig) -> float:
    """Epochs a budget buys at the measured speed (time budgets); exact for step-like budgets."""
    if budget.kind == "seconds":
        return budget.amount * images_per_second / config.train_images
    images = {"epochs": budget.amount * config.train_images, "steps": budget.amount * config.batch_size,
              "images": budget.amount}[budget.kind]
    return images / config.train_images


def table(report: dict[str, Any]):
    import pandas as pd

    rows = []
    for r in report["results"]:
        rows.append({"arch": r["arch"], "compile s": f"{r['compile_seconds']:.1f}",
                     "train img/s": f"{r['train_images_per_second']:,.0f} [{r['train_min']:,.0f}-{r['train_max']:,.0f}]",
                     "train GFLOP/s": f"{r['train_gflops']:,.1f}",
                     "% of peak": "-" if r["train_peak_share"] is None else f"{100 * r['train_peak_share']:.1f}",
                     "inference img/s": f"{r['infer_images_per_second']:,.0f}",
                     "verdict": r["verdict"],
                     **({"epochs in budget": f"{r['epochs_in_budget']:.1f}"} if "epochs_in_budget" in r else {})})
    return pd.DataFrame(rows)
