"""`speed`: sane numbers, the documented JSON, the FLOP arithmetic, and the benchmark suite runs."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from architectures import complexity
from benchmarks.core.config import Budget
from benchmarks.train import speed

ROOT = Path(__file__).resolve().parent.parent
RESULT_KEYS = {"arch", "pool_images", "batch_size", "precision", "jit", "params", "mmacs", "compile_seconds",
               "train_images_per_second", "train_min", "train_max", "train_gflops", "infer_images_per_second",
               "infer_min", "infer_max", "infer_gflops", "train_peak_share", "train_nominal_share", "verdict",
               "epochs_in_budget"}


def test_speed_json_on_the_cpu(capfd):
    from benchmarks.cli import commands

    code = commands.main(["speed", "resnet20", "--batch-size", "32", "--steps", "2", "--warmup", "1", "--repeats", "2",
                          "--budget", "30m", "--json", "-"])
    out, err = capfd.readouterr()
    assert code == 0, err
    report = json.loads(out)  # stdout is the JSON and nothing else
    assert report["device"].startswith("CPU") and report["backend"] == "tensorflow"
    assert report["config"]["precision"] == "float32" and report["config"]["jit"] is False  # CPU defaults
    assert report["pipeline_images_per_second"] > 0
    (row,) = report["results"]
    assert set(row) == RESULT_KEYS
    for key in ("train_images_per_second", "infer_images_per_second", "train_gflops", "compile_seconds"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert row["train_min"] <= row["train_images_per_second"] <= row["train_max"]
    assert row["train_gflops"] == pytest.approx(row["train_images_per_second"] * row["mmacs"] * 6e6 / 1e9)
    assert row["epochs_in_budget"] == pytest.approx(1800 * row["train_images_per_second"] / 45_000)
    assert row["verdict"] in ("compute-bound", "input-bound")
    assert report["peak_tflops"] is None and row["train_peak_share"] is None  # a CPU has no peak, only a nominal rate
    if report["nominal_tflops"] is None:  # a CPU whose clock /proc/cpuinfo does not give
        assert row["train_nominal_share"] is None and report["nominal_source"].startswith("unknown")
    else:  # its share is the achieved GFLOP/s over it, and it says how it was made
        assert row["train_nominal_share"] == pytest.approx(row["train_gflops"] / (report["nominal_tflops"] * 1e3))
        assert "base clock" in report["nominal_source"] and row["train_nominal_share"] > 0
    assert row["pool_images"] == report["pool"]["images"] == 50_000  # the table a real run holds


def test_speed_pool_is_the_datasets_training_split(tmp_path):
    from tests import cifar_files

    x, y = cifar_files.balanced(3, 5, seed=1, shape=(16, 16, 3))
    cifar_files.image_folders(tmp_path / "pets", ("a", "b", "c"), x, y, *cifar_files.balanced(3, 1, seed=2, shape=(16, 16, 3)))
    images = speed.pool(speed.SpeedConfig(dataset="folder", data_dir=str(tmp_path / "pets"), batch_size=4))
    assert images.pixels.shape == (15, 16, 16, 3) and images.num_classes == 3 and "folder-pets" in images.source
    assert sorted(map(bytes, images.pixels)) == sorted(map(bytes, x))  # the real pixels, every one
    inputs, labels = speed._inputs(4, 3, images.num_classes, images)
    assert len(labels) == 12 and set(labels) <= {0, 1, 2}


def test_gflops_against_a_hand_count():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(x))
    macs = complexity.macs(keras.Model(inputs, outputs))
    assert macs == 8 * 8 * 4 * 3 * 3 * 3 + 8 * 8 * 4 * 10  # 6,912 + 2,560
    assert speed.gflops(1000, macs, training=True) == pytest.approx(6 * 9472 * 1000 / 1e9)
    assert speed.gflops(1000, macs, training=False) == pytest.approx(2 * 9472 * 1000 / 1e9)


def test_peaks_and_epochs_in_budget():
    assert speed.peak("GPU: NVIDIA H100 80GB HBM3 x 1", "mixed_bfloat16", None)[0] == 989.0
    assert speed.peak("GPU: NVIDIA A100-SXM4-40GB x 1", "float32", None)[0] == 19.5
    assert speed.peak("GPU: Some Future Card x 1", "float32", None)[0] is None
    assert speed.peak("CPU: Xeon", "float32", 2.5) == (2.5, "given (--peak-tflops)")


@pytest.mark.parametrize("flags,lanes", [("fpu sse2 avx avx2 fma avx512f avx512bw", 16), ("sse2 avx avx2 fma", 8),
                                         ("sse2 sse4_2", 4)])
def test_a_cpu_has_a_nominal_rate_never_called_a_peak(flags, lanes):
    info = "".join(f"processor\t: {i}\ncpu MHz\t\t: 2596.146\nflags\t\t: {flags} avx512_bf16\n\n" for i in range(2))
    tflops, how = speed.cpu_nominal("float32", info, cores=2)
    assert tflops == pytest.approx(2 * 2.596146 * 2 * lanes * 2 / 1000)
    assert "2 cores x 2.60 GHz base clock" in how and f"{lanes} fp32 lanes" in how
    assert speed.cpu_nominal("float32", "processor : 0\nflags : avx2 fma\n", cores=2)[0] is None  # no clock: no guess
    assert speed.cpu_nominal("mixed_bfloat16", info, cores=2)[0] is None  # bf16 has rates of its own
    assert speed.peak("CPU: Xeon (2 cores)", "float32", None)[0] is None
    report = {"device": "CPU: Xeon (2 cores)", "backend": "tensorflow", "config": {"precision": "float32", "jit": False},
              "peak_tflops": None, "peak_source": "none", "nominal_tflops": tflops, "nominal_source": how,
              "cpu_bf16": ["avx512_bf16"], "results": [{**ROW, "train_gflops": 1.02e3 * tflops, "train_peak_share": None,
                                                         "train_nominal_share": 1.02}]}
    line = speed.describe(report)
    assert "no peak known; nominal fp32 rate" in line and "can pass 100%" in line
    assert "bf16 instructions: avx512_bf16, so auto trains in mixed_bfloat16" in line
    assert "no bf16 instructions, so auto trains in float32" in speed.describe({**report, "cpu_bf16": []})
    assert "but auto trains in float32 on jax's CPU path" in speed.describe({**report, "backend": "jax"})
    assert "bf16" not in speed.describe({**report, "cpu_bf16": None, "device": "GPU: H100 x 1"})
    assert list(speed.table(report).columns).count("% of nominal") == 1 and "% of peak" not in speed.table(report).columns


ROW = {"arch": "x", "compile_seconds": 1.0, "train_images_per_second": 100.0, "train_min": 90.0, "train_max": 110.0,
       "infer_images_per_second": 300.0, "verdict": "compute-bound"}


def test_epochs_in_budget():
    assert Budget.parse("10s").epochs_at(500, 1000, 100) == 5.0
    assert Budget.parse("30steps").epochs_at(500, 1000, 100) == 3.0
    assert Budget.parse("1.2e9flops").epochs_at(500, 1000, 100, flops_per_image=6e5) == 2.0


CPU = {"kind": "cpu", "name": "x", "capability": None}


@pytest.mark.parametrize("device,flags,backend,precision,jit", [
    (CPU, "sse2 avx2 fma avx512f", "tensorflow", "float32", False),
    (CPU, "avx2 fma avx512f avx512_bf16", "tensorflow", "mixed_bfloat16", False),  # Cooper Lake, Zen 4
    (CPU, "avx2 fma amx_tile amx_bf16 amx_int8", "tensorflow", "mixed_bfloat16", False),  # AMX alone
    (CPU, "avx2 fma amx_tile amx_int8", "tensorflow", "float32", False),  # AMX tiles without bf16: int8 only
    (CPU, "avx2 fma avx512f avx512_bf16", "jax", "float32", True),  # XLA's CPU bf16: measured no faster
    (CPU, "avx2 fma avx512f avx512_bf16", "torch", "float32", False),  # not measured
    ({"kind": "gpu", "name": "NVIDIA H200", "capability": (9, 0)}, "avx2", "tensorflow", "mixed_bfloat16", True),
    ({"kind": "gpu", "name": "NVIDIA H200", "capability": (9, 0)}, "avx2", "jax", "mixed_bfloat16", True),
    ({"kind": "gpu", "name": "Tesla T4", "capability": (7, 5)}, "avx512_bf16", "tensorflow", "mixed_float16", True),
])
def test_auto_precision_and_xla_follow_the_device(monkeypatch, device, flags, backend, precision, jit):
    from benchmarks.train import backends

    monkeypatch.setattr(backends, "accelerator", lambda: {"count": 1, "memory": None, **device})
    monkeypatch.setattr(backends, "current", lambda: backend)
    monkeypatch.setenv(backends.CPU_FLAGS_ENV, flags)
    auto = speed.resolve(speed.SpeedConfig(precision="auto"))
    assert (auto.precision, auto.jit) == (precision, jit)
    assert backends.resolve_precision("auto", None) == (precision, jit)  # `run` resolves the same way


@pytest.mark.parametrize("flag,preset,precision", [
    (None, "reference", "float32"),  # the shipped runs keep their identity on a CPU with bf16
    (None, "smoke", "mixed_bfloat16"), (None, "quick", "mixed_bfloat16"),
    ("mixed_bfloat16", "reference", "mixed_bfloat16"),  # asked for: a run of its own identity
    ("float32", "smoke", "float32"), ("auto", "reference", "mixed_bfloat16"),
])
def test_a_preset_pins_its_precision_and_the_flag_overrides_it(monkeypatch, flag, preset, precision):
    from benchmarks.train import backends, matrix

    monkeypatch.setattr(backends, "accelerator", lambda: CPU)
    monkeypatch.setattr(backends, "current", lambda: "tensorflow")
    monkeypatch.setenv(backends.CPU_FLAGS_ENV, "avx512f avx512_bf16 amx_bf16")
    assert backends.resolve_precision(matrix.precision_asked(flag, preset), None)[0] == precision


def test_cpu_flags_come_from_proc_cpuinfo_unless_described(monkeypatch):
    from pathlib import Path

    from benchmarks.train import backends

    monkeypatch.delenv(backends.CPU_FLAGS_ENV)
    real = Path("/proc/cpuinfo")
    if real.exists():  # Linux: the flags line, read as the kernel lists it
        line = next(line for line in real.read_text().splitlines() if line.startswith("flags"))
        assert backends.cpu_flags() == frozenset(line.split(":", 1)[1].split())
    monkeypatch.setenv(backends.CPU_FLAGS_ENV, " amx_bf16  avx512_bf16 avx2 ")
    assert backends.cpu_bf16() == ["amx_bf16", "avx512_bf16"]


def test_bf16_on_a_gpu_without_it_is_refused(monkeypatch):
    from benchmarks.core.config import ConfigError
    from benchmarks.train import backends

    monkeypatch.setattr(backends, "accelerator", lambda: {"kind": "gpu", "name": "Tesla T4", "capability": (7, 5),
                                                          "count": 1, "memory": None})
    with pytest.raises(ConfigError, match="compute capability 8.0"):
        backends.resolve_precision("mixed_bfloat16", None)


@pytest.mark.parametrize("args,fragment", [(["--all", "--steps", "0"], "--steps"), ([], "at least one"),
                                           (["nope"], "unknown architecture"), (["resnet20", "--budget", "x"], "budget")])
def test_bad_speed_options(cli_in_process, args, fragment):
    code, lines = cli_in_process("speed", *args)
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines


def test_the_benchmark_suite_collects_and_runs(tmp_path, cli_env):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/perf/test_throughput.py::test_evaluation_throughput",
                           "-p", "no:cacheprovider", "--override-ini", "addopts=", "-q", f"--benchmark-json={out}"],
                          capture_output=True, text=True, env=cli_env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["extra_info"]["images_per_second"] > 0 and bench["stats"]["rounds"] == 3
