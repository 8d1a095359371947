"""`speed`: training and inference throughput per architecture, without training to convergence.

The model part runs on any Keras backend and trains exactly as the runner does: pixels on the
device, a plan per image from the host, augmentation inside the compiled step. The host side of
the input path (drawing and slicing plans) is measured on its own, and the two together say
whether an architecture is input-bound. Nothing here needs TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from architectures import complexity
from benchmarks.core.budget import TRAIN_FLOPS_PER_MAC, Budget, train_flops_per_image
from benchmarks.core.config import RECIPES, DataConfig
from benchmarks.core.datasets import DATASETS
from benchmarks.data import feed
from benchmarks.train import backends, models

# Dense peak TFLOP/s per GPU (fp32, bf16/fp16 tensor cores), from the vendors' datasheets, no
# sparsity; matched against the device name. Give another with --peak-tflops.
PEAK_TFLOPS = {
    "H200": (67.0, 989.0), "H100": (67.0, 989.0), "A100": (19.5, 312.0), "L40S": (91.6, 362.0),
    "L4": (30.3, 121.0), "A10": (31.2, 125.0), "V100": (15.7, 125.0), "T4": (8.1, 65.0),
    "RTX 4090": (82.6, 165.0), "RTX 3090": (35.6, 71.0), "P100": (9.3, 18.7), "K80": (4.4, None),
}
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
    budget: Budget | None = None  # e.g. 30m: how many epochs each architecture gets
    peak_tflops: float | None = None  # the device's peak, when it is not in PEAK_TFLOPS
    # The device table a run holds: the training split of this dataset (val held out), read from
    # data_dir; None: random pixels of CIFAR-100's training split's size, so no data is needed.
    dataset: str | None = None
    data_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class Pool:
    """The images on the device while `speed` trains: as many as a real run holds."""
    pixels: np.ndarray  # uint8 (N, H, W, C)
    num_classes: int
    source: str  # e.g. "cifar100 (folder)", "random pixels"

    @property
    def train_images(self) -> int:
        """Images per epoch of a run on this pool: the split less the default val hold-out."""
        val = DataConfig().val_size
        return len(self.pixels) - val if len(self.pixels) > 2 * val else len(self.pixels)


def pool(config: SpeedConfig) -> Pool:
    """The training split of `config.dataset` (real pixels), or random pixels of CIFAR-100's size."""
    if config.dataset is None:
        spec = DATASETS["cifar100"]
        n = spec.train_images
        pixels = np.random.default_rng(0).integers(0, 256, (n, *spec.image_shape), dtype=np.uint8)
        return Pool(pixels, spec.label_sets["fine"], "random pixels, CIFAR-100's training split size")
    from benchmarks.data import loader

    splits = loader.load_splits(DataConfig(dataset=config.dataset, data_dir=config.data_dir, train_eval_size=0,
                                         val_size=0, select_on="test", batch_size=config.batch_size))
    return Pool(splits.arrays["x_train"], splits.info.num_classes, f"{splits.info.name} ({splits.info.source})")


def resolve(config: SpeedConfig) -> SpeedConfig:
    """Fill the automatic choices as `run` does (see backends.resolve_precision)."""
    precision, jit = backends.resolve_precision(config.precision, config.jit)
    return dataclasses.replace(config, precision=precision, jit=jit)


def peak(device: str, precision: str, given: float | None) -> tuple[float | None, str]:
    """(peak TFLOP/s, where it comes from): given, or a GPU's datasheet. A CPU has none here: what
    can be estimated from /proc/cpuinfo is a nominal rate (`cpu_nominal`), not a ceiling."""
    if given:
        return given, "given (--peak-tflops)"
    for name, (fp32, low) in PEAK_TFLOPS.items():
        if name in device:
            return (fp32 if precision == "float32" else low), f"{name} datasheet, dense, no sparsity"
    if device.startswith("CPU"):
        return None, "none for a CPU (see the nominal rate)"
    return None, "unknown: give --peak-tflops"


def cpu_nominal(precision: str, cpuinfo: str | None = None, cores: int | None = None) -> tuple[float | None, str]:
    """A nominal float32 rate of the CPUs this process may use: cores x base clock x 2 FMA units x
    fp32 lanes of the widest FMA the flags show (AVX-512: 16, AVX2: 8, else SSE: 4) x 2 FLOPs per
    FMA. Not a peak: turbo clocks run above /proc/cpuinfo's base clock (README, Speed), and a Zen 4
    runs AVX-512 on 256-bit units (half). None for mixed precision: bf16 on AVX512_BF16 or AMX has
    rates of its own that are not estimated here."""
    if precision != "float32":
        return None, f"none for {precision} (AVX512_BF16 and AMX rates are not estimated)"
    try:
        cpuinfo = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, "unknown: no /proc/cpuinfo"
    flags = backends.flags_in(cpuinfo)
    clocks = [float(value) for key, _, value in (line.partition(":") for line in cpuinfo.splitlines())
              if key.strip() == "cpu MHz"]
    if not clocks:
        return None, "unknown: the CPU's clock is not in /proc/cpuinfo"
    cores = cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    lanes, name = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2+FMA") if {"avx2", "fma"} <= flags else (4, "SSE")
    ghz = max(clocks) / 1000
    tflops = cores * ghz * 2 * lanes * 2 / 1000
    return tflops, f"{cores} cores x {ghz:.2f} GHz base clock x 2 FMA units x {lanes} fp32 lanes ({name}) x 2"


def gflops(images_per_second: float, macs: float, training: bool) -> float:
    """Achieved GFLOP/s: 2 FLOPs per multiply-accumulate, x3 for a training step."""
    return images_per_second * macs * (TRAIN_FLOPS_PER_MAC if training else INFER_FLOPS_PER_MAC) / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _inputs(batch_size: int, steps: int, num_classes: int, images: Pool | int, seed: int = 0):
    """`steps` batches of plans drawn from the whole pool (a random order over all its images, as
    an epoch draws them), augmented as in training."""
    size, shape = (images, (32, 32)) if isinstance(images, int) else (len(images.pixels), images.pixels.shape[1:3])
    rows = np.random.default_rng([seed, 7]).permutation(size)
    rows = np.resize(rows, steps * batch_size)
    plan = feed.epoch_plan(rows, seed, 0, batch_size, "standard", shape)
    labels = np.random.default_rng(seed).integers(0, num_classes, len(plan["order"]))
    return feed.model_inputs(plan), labels


def measure(arch: str, config: SpeedConfig, images: Pool | None = None) -> dict[str, Any]:
    """Training and inference images/s of one architecture (median over repeats), with the device
    feed inside the step exactly as the runner trains it (the whole training split on the device,
    augmentation in the step), so the figure is the model's, not the host's."""
    images = images or pool(config)
    keras.mixed_precision.set_global_policy(config.precision)
    keras.utils.set_random_seed(0)
    model = models.compile_model(arch, images.num_classes, RECIPES["paper"], pixels=images.pixels, mean=(0.5,) * 3,
                                 std=(0.25,) * 3, jit=config.jit, learning_rate=1e-3)

    def fit(steps):
        x, y = _inputs(config.batch_size, steps, images.num_classes, images)
        return _timed(lambda: model.fit(**feed.fit_arguments(x, y, config.batch_size), epochs=1, verbose=0,
                                        shuffle=False))

    def predict(steps):
        x, _ = _inputs(config.batch_size, steps, images.num_classes, images)
        return _timed(lambda: model.predict(x, batch_size=config.batch_size, verbose=0))

    compile_seconds = fit(config.warmup)
    train = [config.steps * config.batch_size / fit(config.steps) for _ in range(config.repeats)]
    predict(1)  # warm-up
    infer = [config.steps * config.batch_size / predict(config.steps) for _ in range(config.repeats)]
    macs = complexity.macs(model)
    keras.mixed_precision.set_global_policy("float32")
    return {"arch": arch, "pool_images": len(images.pixels), "batch_size": config.batch_size,
             "precision": config.precision, "jit": bool(config.jit),
            "params": complexity.trainable_params(model), "mmacs": macs / 1e6,
            "compile_seconds": compile_seconds,
            "train_images_per_second": statistics.median(train), "train_min": min(train), "train_max": max(train),
            "train_gflops": gflops(statistics.median(train), macs, training=True),
            "infer_images_per_second": statistics.median(infer), "infer_min": min(infer), "infer_max": max(infer),
            "infer_gflops": gflops(statistics.median(infer), macs, training=False)}


def pipeline_rate(batch_size: int, augment: str = "standard") -> float:
    """Images/s the host side of the input path delivers (plans drawn and sliced into batches,
    CIFAR-sized epochs); every backend has it, since the pixels never pass through the host."""
    from benchmarks.data import loader

    config = DataConfig(dataset="synthetic", synthetic_train=50_000, synthetic_test=100, val_size=0,
                        select_on="test", batch_size=batch_size, augment=augment, train_eval_size=0)
    return loader.host_rate(loader.load_splits(config))


def run(archs: list[str], config: SpeedConfig, log=print) -> dict[str, Any]:
    device = backends.device()
    config = resolve(config)
    device_peak, peak_source = peak(device, config.precision, config.peak_tflops)
    nominal, nominal_source = cpu_nominal(config.precision) if device.startswith("CPU") and not device_peak \
        else (None, "")
    pipeline = pipeline_rate(config.batch_size)
    budget = config.budget
    images = pool(config)
    log(f"on the device: {len(images.pixels):,} images ({images.source}), as a run holds them")
    rows = []
    for arch in archs:
        row = measure(arch, config, images)
        row["train_peak_share"] = row["train_gflops"] / (device_peak * 1e3) if device_peak else None
        row["train_nominal_share"] = row["train_gflops"] / (nominal * 1e3) if nominal else None
        row["verdict"] = ("input-bound" if pipeline < INPUT_BOUND_MARGIN * row["train_images_per_second"]
                          else "compute-bound")
        if budget is not None:
            row["epochs_in_budget"] = budget.epochs_at(row["train_images_per_second"], images.train_images,
                                                       config.batch_size, train_flops_per_image(row["mmacs"] * 1e6))
        rows.append(row)
        log(f"{arch}: {row['train_images_per_second']:,.0f} train img/s, {row['infer_images_per_second']:,.0f} "
            f"inference img/s")
    return {"device": device, "backend": keras.backend.backend(), "peak_tflops": device_peak, "peak_source": peak_source,
            "nominal_tflops": nominal, "nominal_source": nominal_source,
            "cpu_bf16": backends.cpu_bf16() if device.startswith("CPU") else None,
            "pipeline_images_per_second": pipeline, "config": _config_record(config),
            "pool": {"images": len(images.pixels), "source": images.source},
            "cpu_threads": os.cpu_count(), "results": rows}


def _config_record(config: SpeedConfig) -> dict[str, Any]:
    """The settings as the JSON records them (a budget by its name)."""
    return {**dataclasses.asdict(config), "budget": None if config.budget is None else str(config.budget)}


def describe(report: dict[str, Any]) -> str:
    """`speed`'s device line: the device, what it ran with, and what the shares are of."""
    config = report["config"]
    ran = f"{config['precision']}, {'XLA' if config['jit'] else 'no XLA'}"
    if report["peak_tflops"]:
        of = f"peak {report['peak_tflops']:.3g} TFLOP/s ({report['peak_source']})"
    elif report.get("nominal_tflops"):
        of = (f"no peak known; nominal fp32 rate {report['nominal_tflops']:.3g} TFLOP/s ({report['nominal_source']}; "
              f"turbo clocks run above it, so a share of it can pass 100%)")
    else:
        of = f"no peak known ({report['peak_source']}; {report.get('nominal_source') or 'no nominal rate'})"
    return f"{report['device']} ({report['backend']}, {ran}), {of}{_auto_on_the_cpu(report)}"


def _auto_on_the_cpu(report: dict[str, Any]) -> str:
    """What `auto` trains in on this CPU, and why; nothing on a GPU (`cpu_bf16` None: see --help)."""
    flags = report.get("cpu_bf16")
    if flags is None:
        return ""
    if not flags:
        return "; no bf16 instructions, so auto trains in float32"
    if report["backend"] in backends.CPU_BF16_BACKENDS:
        return f"; bf16 instructions: {', '.join(flags)}, so auto trains in mixed_bfloat16"
    return f"; bf16 instructions: {', '.join(flags)}, but auto trains in float32 on {report['backend']}'s CPU path"


def _share(row: dict[str, Any]) -> dict[str, str]:
    """The share of the device's peak, or on a CPU of its nominal rate (which turbo clocks exceed:
    it is never called a peak)."""
    if row.get("train_nominal_share") is not None:
        return {"% of nominal": f"{100 * row['train_nominal_share']:.1f}"}
    share = row.get("train_peak_share")
    return {"% of peak": "-" if share is None else f"{100 * share:.1f}"}


def table(report: dict[str, Any]):
    import pandas as pd

    rows = []
    for r in report["results"]:
        rows.append({"arch": r["arch"], "compile s": f"{r['compile_seconds']:.1f}",
                     "train img/s": f"{r['train_images_per_second']:,.0f} [{r['train_min']:,.0f}-{r['train_max']:,.0f}]",
                     "train GFLOP/s": f"{r['train_gflops']:,.1f}",
                     **_share(r),
                     "inference img/s": f"{r['infer_images_per_second']:,.0f}",
                     "verdict": r["verdict"],
                     **({"epochs in budget": f"{r['epochs_in_budget']:.1f}"} if "epochs_in_budget" in r else {})})
    return pd.DataFrame(rows)
