"""The input path and the backends (issue 11): augmentation in the step equals the paper's
definition, every backend is chosen before Keras loads, and JAX runs without TensorFlow."""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from benchmarks.core.config import ConfigError, DataConfig
from benchmarks.data import feed, loader
from benchmarks.train import backends
from tests.helpers import TINY, cli

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def run_cli(args, results_dir, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "benchmarks", *args, "--results-dir", str(results_dir)],
                          capture_output=True, text=True, env=env, timeout=timeout)


# ---------------------------------------------------------------------------- augmentation
def test_device_augmentation_equals_the_numpy_reference_image_for_image():
    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    layer = feed.DeviceImages(images, MEAN, STD)
    for level in ("none", "standard", "strong"):  # the augmentation levels
        plan = feed.epoch_plan(np.arange(64), seed=3, epoch=2, batch_size=16, augment=level, image_size=(32, 32))
        got = np.asarray(layer(feed.model_inputs(plan)))
        want = feed.reference(images[plan["index"]], plan["shift"], plan["flip"], plan["cutout"], MEAN, STD)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=level)
    plain = np.asarray(layer(feed.plain(np.arange(8))))
    np.testing.assert_allclose(plain, (images[:8] / 255.0 - MEAN) / STD, atol=1e-5)


def test_augmentation_parameters_follow_the_papers_distribution():
    plan = feed.epoch_plan(np.arange(50_000), seed=0, epoch=0, batch_size=128, augment="strong", image_size=(32, 32))
    offsets = plan["shift"] + feed.PAD  # crop offsets into the 40x40 padded image
    for axis in (0, 1):
        counts = np.bincount(offsets[:, axis], minlength=9)
        assert len(counts) == 9 and counts.min() > 0.9 * len(offsets) / 9 and counts.max() < 1.1 * len(offsets) / 9
    assert 0.48 < plan["flip"].mean() < 0.52
    assert plan["cutout"].min() == 0 and plan["cutout"].max() == 31  # centres anywhere, squares clipped
    standard = feed.epoch_plan(np.arange(100), 0, 0, 10, "standard", (32, 32))
    assert (standard["cutout"] == feed.NO_CUTOUT).all() and standard["flip"].any()
    none = feed.epoch_plan(np.arange(100), 0, 0, 10, "none", (32, 32))
    assert not none["shift"].any() and not none["flip"].any()


def test_a_batch_is_a_pure_function_of_seed_epoch_and_position():
    splits = loader.load_splits(DataConfig(dataset="synthetic", synthetic_train=700, synthetic_test=100, val_size=100,
                                         synthetic_classes=10, train_eval_size=50, batch_size=32, augment="strong"))
    x, y = splits.train(epoch=4)
    resumed_x, resumed_y = splits.train(epoch=4, skip_batches=5)
    for key in x:
        np.testing.assert_array_equal(resumed_x[key], x[key][5 * 32:])
    np.testing.assert_array_equal(resumed_y, y[5 * 32:])
    other, _ = splits.train(epoch=5)
    assert not np.array_equal(other["index"], x["index"])
    assert len(y) == splits.steps_per_epoch * 32 and set(x) == {"index", "shift", "flip", "cutout"}
    # The labels travel with the images: the table row of each index holds that image.
    table = splits.pixels()
    rows = x["index"] - splits.offsets["train"]
    np.testing.assert_array_equal(table[x["index"]], splits.arrays["x_train"][rows])
    np.testing.assert_array_equal(y, splits.arrays["y_train"][rows])


def test_the_device_copy_of_the_data_is_never_checkpointed(tmp_path):
    from benchmarks.core.config import RECIPES
    from benchmarks.train import checkpoint, models

    pixels = np.zeros((10, 32, 32, 3), np.uint8)
    model = models.compile_model("resnet20", 10, RECIPES["paper"], pixels=pixels, mean=MEAN, std=STD,
                                 jit=keras.backend.backend() == "jax")
    models.build_state(model)
    path = checkpoint.save(tmp_path, model, {"sequence": 1}, models.get_weights(model))
    meta, arrays = checkpoint.read(path)
    assert not any(p.startswith(feed.NAME) for p in meta["paths"]["model"])
    assert sum(a.nbytes for a in arrays.values()) < 5e6  # the model's 0.27M weights, not the data
    assert len(models.get_weights(model)) == len(model.weights) - 1


def test_data_too_large_for_the_device_stays_on_the_host_and_trains_identically(tmp_path, monkeypatch):
    """The fallback feeds the same plans with the images attached: the same run, bit for bit."""
    from benchmarks.train import suite
    from tests.helpers import config, history_of

    cfg = config(budget="8steps")
    logs = []
    suite.run_one(cfg, tmp_path / "device", verbose=1, log=logs.append)
    monkeypatch.setattr(backends, "fits_on_device", lambda nbytes: False)
    suite.run_one(cfg, tmp_path / "host", verbose=1, log=logs.append)
    assert any("stays in host memory" in line for line in logs)
    on_device, on_host = (json.loads((tmp_path / w / cfg.relative_dir() / "summary.json").read_text())
                          for w in ("device", "host"))
    assert (on_device["data"]["feed"], on_host["data"]["feed"]) == ("device", "host")
    # Same images, same steps; only multi-threaded kernels' summation order may differ.
    losses = [float(history_of(tmp_path / w, cfg)[0]["loss"]) for w in ("device", "host")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert on_device["steps"] == on_host["steps"] == 8


# --------------------------------------------------------------------------------- backends
def test_an_unknown_or_missing_backend_is_one_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match="must be one of tensorflow, jax, torch"):
        backends.select("mxnet")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install 'archbench\[torch\]'"):
        backends.select("torch")


def test_backend_not_installed_on_the_command_line(tmp_path, cli_env):
    missing = next((b for b in backends.BACKENDS if importlib.util.find_spec(b) is None), None)
    if missing is None:  # every backend is installed here: hide one the way pip would have
        missing = "torch"
        cli_env = {**cli_env, "PYTHONPATH": f"{tmp_path}{os.pathsep}{cli_env['PYTHONPATH']}"}
        (tmp_path / "torch.py").write_text("raise ImportError('hidden')\n")
    proc = run_cli(["run", "resnet20", "--preset", "smoke", "--backend", missing], tmp_path / "r", cli_env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and f"archbench[{missing}]" in lines[0], proc.stderr


def test_tensorflow_is_absent_where_the_jax_environment_says_so():
    """The `jax` tox environment installs no TensorFlow: what passes there passes without it."""
    if os.environ.get("ARCHBENCH_EXPECT_NO_TENSORFLOW"):
        assert importlib.util.find_spec("tensorflow") is None
        assert "tensorflow" not in sys.modules
        with pytest.raises(loader.DataUnavailableError, match="needs TensorFlow"):
            loader.facts(DataConfig(dataset="cifar10", data_dir="/nonexistent"))
    else:
        assert keras.backend.backend() in backends.BACKENDS


@pytest.mark.jax
@pytest.mark.slow
def test_jax_runs_are_recorded_and_filed_apart_from_tensorflow_runs(tmp_path, cli_env):
    env = {**cli_env, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = cli([TINY, "--preset", "smoke", "--budget", "5steps", "--batch-size", "32", "--quiet"], tmp_path, env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    (path,) = tmp_path.glob("**/summary.json")
    record = json.loads(path.read_text())
    assert record["backend"] == "jax" and record["status"] == "complete" and record["jit"] is True
    assert record["config"]["backend"] == "jax" and record["config_hash"]
    as_tensorflow = dataclasses.replace(record_config(record), backend="tensorflow")
    assert tmp_path / as_tensorflow.relative_dir() != path.parent  # never one folder, never one row
    assert not list(tmp_path.glob("**/tensorboard"))  # TensorBoard is written on TensorFlow only


def record_config(record):
    from benchmarks.core.config import RECIPES, Budget, RunConfig

    c = record["config"]
    return RunConfig(arch=c["arch"], data=DataConfig(**c["data"]), recipe=RECIPES[c["recipe"]["name"]],
                     budget=Budget.parse(c["budget"]), precision=c["precision"], jit=c["jit"], backend=c["backend"])


@pytest.mark.jax
@pytest.mark.slow
def test_jax_data_parallel_over_two_cpu_devices(tmp_path, cli_env):
    env = {**cli_env, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = cli([TINY, "--preset", "smoke", "--budget", "6steps", "--batch-size", "32", "--strategy", "mirrored", "--quiet"],
               tmp_path, env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("**/summary.json")]
    assert record["status"] == "complete" and record["strategy"] == "mirrored" and record["steps"] == 6


@pytest.mark.jax
@pytest.mark.slow
def test_two_jax_processes_train_one_run_like_one_process(tmp_path, cli_env):
    """Multi-host data parallelism on 127.0.0.1 (JAX's CPU collectives): each process feeds its
    half of every global batch; the history matches the one-process run; the chief alone writes."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**cli_env, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    args = [TINY, "--preset", "smoke", "--budget", "3steps", "--batch-size", "32", "--deterministic", "--quiet"]
    workers = [cli([*args, "--strategy", "multi-worker"], tmp_path / "two",
                   {**env, "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                    "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}) for i in (0, 1)]
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    one = cli(args, tmp_path / "one", env)
    out, err = one.communicate(timeout=600)
    assert one.returncode == 0, err
    (two_summary,) = (tmp_path / "two").glob("**/summary.json")
    (one_summary,) = (tmp_path / "one").glob("**/summary.json")
    a, b = (json.loads(p.read_text()) for p in (one_summary, two_summary))
    assert a["steps"] == b["steps"] == 3 and b["status"] == "complete"
    for key in ("test_top1", "test_top5", "train_eval_top1", "best_val_top1"):
        assert a[key] == pytest.approx(b[key], abs=1.01 / 100), key  # within one image (SMALL: 100 each)
    ha, hb = (np.genfromtxt(p.parent / "history.csv", delimiter=",", names=True) for p in (one_summary, two_summary))
    assert float(ha["loss"]) == pytest.approx(float(hb["loss"]), rel=1e-5)
    assert float(ha["val_loss"]) == pytest.approx(float(hb["val_loss"]), rel=2e-3)
    assert len(json.loads((two_summary.parent / "environment.json").read_text())) == 1  # the chief's segment only
    assert list((two_summary.parent / "checkpoints").glob("ckpt-*.npz")) and not (two_summary.parent / "claim.json").exists()


@pytest.mark.jax
@pytest.mark.slow
def test_the_gpu_check_script_runs_end_to_end_on_the_cpu(tmp_path, cli_env):
    """scripts/gpu_check.sh with a tiny budget on JAX's CPU backend: speed, runs, one SIGKILL and
    its resume, report and gpu_check.json, all in one folder, so it works the first time on a GPU."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**cli_env, "JAX_PLATFORMS": "cpu", "BUDGET": "12steps", "PRESET": "smoke", "ARCHS": "resnet20",
           "SPEED": "resnet20 --steps 2 --warmup 1 --repeats 1 --batch-size 32", "CHECKPOINT_EVERY": "0.002"}
    proc = subprocess.run(["bash", str(root / "scripts" / "gpu_check.sh"), str(tmp_path / "out")], cwd=root,
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    figures = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert figures["backend"] == "jax" and [r["arch"] for r in figures["speed"]] == ["resnet20"]
    assert {r["arch"]: r["status"] for r in figures["runs"]} == {"resnet20": "complete"}
    assert figures["resumed"] == ["resnet20"]  # killed once after its first checkpoint, then resumed
    assert (tmp_path / "out" / "report.md").read_text().startswith("# archbench report")
