"""Keras backends, in one place: choosing one before Keras is imported, and the few things that
differ between them (determinism, threads, what the device is, which precision it wants), and the
distribution strategy a run's steps execute under."""

from __future__ import annotations

import functools
import glob
import importlib.util
import logging
import os
import sys
from pathlib import Path

import numpy as np

from benchmarks.core.config import ConfigError

BACKENDS = ("tensorflow", "jax", "torch")
# bf16 tensor cores arrived with compute capability 8.0 (A100); older GPUs (T4, V100) get fp16
# with loss scaling, which Keras adds by itself under mixed_float16.
BF16_CAPABILITY = (8, 0)
# /proc/cpuinfo's names for a CPU's bfloat16 instructions: AVX512_BF16 (Cooper Lake, Zen 4 and
# later) and AMX (Sapphire Rapids and later). Where it has them, `auto` trains TensorFlow in mixed
# bfloat16: measured on such a Xeon, 1.13-1.69x float32's training img/s (oneDNN's bf16 kernels),
# accuracy inside seed noise. Not JAX: XLA's CPU path measured no faster in bf16 (the post's model
# 0.8-0.9x in training, 0.2x in inference; ResNet-20 1.1x). Torch: not measured, so float32.
# Figures: README, "bfloat16 on this CPU".
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPU_BF16_BACKENDS = ("tensorflow",)
# Stands in for /proc/cpuinfo's flags when set (whitespace-separated): how the tests describe a CPU,
# since CI's machine need not be the developer's; also for a container whose /proc is not the host's.
CPU_FLAGS_ENV = "ARCHBENCH_CPU_FLAGS"


def select(name: str | None) -> str:
    """Make `name` (default: $KERAS_BACKEND, else tensorflow) Keras' backend. Must run before
    Keras is imported; refuses a backend that is not installed, naming the pip extra."""
    name = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if name not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    if importlib.util.find_spec(name) is None:
        raise ConfigError(f"the {name} backend is not installed here: pip install 'archbench[{name}]'")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise ConfigError(f"Keras is already running on {current} in this process; start a new one for {name}")
    os.environ["KERAS_BACKEND"] = name
    return name


def current() -> str:
    import keras

    return keras.backend.backend()


def configure_runtime(deterministic: bool) -> None:
    """Before the first op. Bitwise-repeatable steps need one thread per op on the CPU: measured
    here, TensorFlow's multi-threaded gradient kernels (oneDNN and Eigen) sum in a thread-dependent
    order even with op determinism on, so two identical runs drift apart in the 6th digit."""
    if not deterministic:
        return
    backend = current()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    elif backend == "torch":
        import torch

        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True, warn_only=True)


def deterministic_ops(jit: bool) -> None:
    """Ops that give the same result for the same inputs (a seed then fixes a run). On TensorFlow
    with XLA, op determinism is left off: Keras turns XLA off for a model when it is on (not every
    op has a deterministic XLA kernel), and the step would silently run without the XLA it records.
    The XLA-compiled step is deterministic by itself: on the CPU with one thread per op
    (`configure_runtime`), on GPUs with --xla_gpu_deterministic_ops (`jax_flags`; TensorFlow's XLA
    reads the same flag). The kill-and-resume tests hold both paths to the uninterrupted run."""
    backend = current()
    if backend == "tensorflow" and not jit:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    # JAX: XLA's CPU kernels are deterministic for a given thread count; on GPUs,
    # XLA_FLAGS=--xla_gpu_deterministic_ops=true is set by `jax_flags` before JAX starts.


def jax_flags(deterministic: bool) -> None:
    """XLA flags must be in the environment before JAX (or TensorFlow's XLA) initialises its backend."""
    if deterministic and "--xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()


# ------------------------------------------------------------------------------------ device
@functools.cache
def accelerator() -> dict:
    """{'kind': 'gpu'|'cpu', 'name', 'count', 'capability': (major, minor) or None, 'memory': bytes or None}."""
    backend = current()
    if backend == "jax":
        import jax

        devices = jax.local_devices()
        first = devices[0]
        if first.platform == "gpu":
            capability = tuple(int(p) for p in str(getattr(first, "compute_capability", "0.0")).split("."))
            stats = first.memory_stats() or {}
            return {"kind": "gpu", "name": first.device_kind, "count": len(devices), "capability": capability,
                    "memory": stats.get("bytes_limit")}
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return {"kind": "gpu", "name": props.name, "count": torch.cuda.device_count(),
                    "capability": (props.major, props.minor), "memory": props.total_memory}
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return {"kind": "gpu", "name": details.get("device_name", "GPU"), "count": len(gpus),
                    "capability": tuple(details.get("compute_capability", (0, 0))), "memory": None}
    return {"kind": "cpu", "name": cpu_name(), "count": 1, "capability": None, "memory": None}


def device() -> str:
    """'GPU: <name> x N' or 'CPU: <model> (<cores> cores)': how results name a device."""
    acc = accelerator()
    if acc["kind"] == "gpu":
        return f"GPU: {acc['name']} x {acc['count']}"
    return f"CPU: {acc['name']} ({os.cpu_count()} cores)"


def cpu_name() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them ($ARCHBENCH_CPU_FLAGS when set)."""
    if (described := os.environ.get(CPU_FLAGS_ENV)) is not None:
        return frozenset(described.split())
    try:
        return flags_in(Path("/proc/cpuinfo").read_text())
    except OSError:
        return frozenset()


def flags_in(cpuinfo: str) -> frozenset[str]:
    """The first `flags` line of a /proc/cpuinfo text."""
    lines = cpuinfo.splitlines()
    return frozenset(next((value.split() for key, _, value in (line.partition(":") for line in lines)
                           if key.strip() == "flags"), []))


def cpu_bf16() -> list[str]:
    """The CPU's bfloat16 instructions (avx512_bf16, amx_bf16); empty where it has none."""
    return sorted(cpu_flags() & set(CPU_BF16_FLAGS))


def resolve_precision(precision: str, jit: bool | None) -> tuple[str, bool]:
    """(precision, jit). `auto` precision: mixed bf16 on GPUs with bf16 and, on TensorFlow, on CPUs
    with bf16 instructions (`cpu_bf16`), mixed fp16 on older GPUs, else float32; jit None: XLA on JAX always
    and on TensorFlow's GPUs (measured slower on TensorFlow's CPU path). Refuses bf16 on a GPU
    without it (one line, exit 2)."""
    acc = accelerator()
    gpu = acc["kind"] == "gpu"
    has_bf16 = not gpu or (acc["capability"] or (0, 0)) >= BF16_CAPABILITY
    if precision == "auto" and gpu:
        precision = "mixed_bfloat16" if has_bf16 else "mixed_float16"
    elif precision == "auto":
        precision = "mixed_bfloat16" if cpu_bf16() and current() in CPU_BF16_BACKENDS else "float32"
    elif precision == "mixed_bfloat16" and not has_bf16:
        raise ConfigError(f"--precision mixed_bfloat16 needs a GPU of compute capability 8.0 or newer; "
                          f"{acc['name']} has {acc['capability']}: use mixed_float16 or auto")
    elif precision == "mixed_float16" and not gpu:  # measured: 3 of 5 steps of ResNet-20 in 300 s
        raise ConfigError("--precision mixed_float16 on a CPU emulates float16 op by op (hundreds of times "
                          "slower than float32): use float32 or auto there")
    if jit is None:  # JAX without jit runs op by op; torch's jit is torch.compile, minutes per model
        jit = current() == "jax" or (gpu and current() == "tensorflow")
    return precision, jit


def process_share() -> tuple[int, int]:
    """(this process's index, number of processes) training one run together (JAX multi-host)."""
    if current() != "jax":
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


def to_numpy(variable) -> np.ndarray:
    """A variable's value on this host. Under JAX multi-host data parallelism the weights are
    replicated over processes and no process can address them all: its own replica is the value.
    torch's tensors are detached first; TensorFlow's (mirrored ones too) answer `numpy()`."""
    import keras

    value = getattr(variable, "value", variable)
    if getattr(value, "is_fully_addressable", True) is False:
        return np.asarray(value.addressable_data(0))
    if current() == "torch":
        return np.asarray(keras.ops.convert_to_numpy(value))
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else value)


def global_rng_state() -> np.ndarray | None:
    """The backend's global random state where Keras draws from it: on torch, dropout draws from
    torch's global generator rather than the layer's seed-generator variable, so a checkpoint
    must hold it for a resumed run to see the same dropout masks. None elsewhere."""
    if current() != "torch":
        return None
    import torch

    return torch.get_rng_state().numpy().copy()


def set_global_rng_state(state: np.ndarray | None) -> None:
    if state is not None and current() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(np.asarray(state, np.uint8)))


def fits_on_device(nbytes: int) -> bool:
    """Whether `nbytes` of data can live on the accelerator beside a model (half its memory);
    True on the CPU and where the backend does not say."""
    memory = accelerator()["memory"]
    return memory is None or nbytes <= memory // 2


def import_tensorflow_quietly(trains: bool = True) -> None:
    """TensorFlow prints C++ notices (oneDNN, CUDA stubs) before absl logging is initialised,
    ignoring TF_CPP_MIN_LOG_LEVEL; hide stderr at the file-descriptor level while it loads. It
    loads on every backend of a command that trains where it is installed: Keras'
    `set_random_seed` seeds TensorFlow too. On a machine with no NVIDIA driver at all, its first
    device listing also logs "failed call to cuInit" as an error although nothing is wrong: list
    the devices while stderr is hidden too. Where a driver exists, a cuInit failure is real and
    stays visible. Its Python-side warnings are hidden too: a suite's runs each trace their steps
    anew, and from the fifth trace on TensorFlow warned of "retracing" once a run (two lines in a
    --quiet run of four). `--verbose` (TF_CPP_MIN_LOG_LEVEL=0) shows it all."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") >= "1"
    if quiet:  # the standard logger TensorFlow's own `get_logger` returns; it sets no level itself
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if not quiet or (backend != "tensorflow" and not trains) \
            or "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    no_driver = not glob.glob("/dev/nvidia*") and not os.path.exists("/proc/driver/nvidia")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        if no_driver:
            tensorflow.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


# --------------------------------------------------------------------------------- strategies
def make_strategy(name: str):
    """(TensorFlow strategy or None, is_chief). On JAX, `mirrored` is keras.distribution's
    DataParallel over every local device (set globally; the batch is split across devices)."""
    if name == "default":
        return None, True
    backend = current()
    if name == "mirrored" and backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(), True
    if name == "mirrored" and backend == "jax":
        import keras

        keras.distribution.set_distribution(keras.distribution.DataParallel())
        return None, True
    if name == "mirrored":
        raise ConfigError("--strategy mirrored needs the tensorflow or jax backend (keras.distribution "
                          "does not cover torch)")
    if backend == "jax":
        return _jax_multi_worker()
    # Tried with two workers on 127.0.0.1 (TF_CONFIG): Keras 3.15's fit fails at its first step under
    # MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica ...) to a Tensor").
    # A known upstream gap since TF 2.16 moved to Keras 3 (keras-team/keras#20585, still open;
    # tensorflow/tensorflow#72388). Refuse clearly instead of failing every run; --shard spreads
    # a suite over machines instead.
    raise ConfigError("--strategy multi-worker needs --backend jax (Keras 3.15's fit fails under TensorFlow's "
                      "MultiWorkerMirroredStrategy, keras-team/keras#20585); or spread a suite with --shard I/N")


def _jax_multi_worker():
    """Several processes (hosts) train one run: JAX's distributed runtime through
    keras.distribution.initialize, data parallel over every device of every process. Each process
    feeds its own share of every global batch (the runner slices the same (seed, epoch) plan), so
    Keras must not shard the data again. Must run before JAX starts its backend."""
    import jax
    import keras

    missing = [v for v in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                           "KERAS_DISTRIBUTION_PROCESS_ID") if v not in os.environ]
    if missing:
        raise ConfigError(f"--strategy multi-worker needs {', '.join(missing)} in every process's environment "
                          f"(e.g. 10.0.0.1:1234,10.0.0.2:1234 / 2 / 0 and 1)")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes; GPUs use NCCL
    keras.distribution.initialize()
    keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))
    return None, jax.process_index() == 0
