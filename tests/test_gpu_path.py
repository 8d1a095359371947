"""The GPU's default path, held on the CPU (issue 29): mixed bfloat16 with XLA, as `auto` resolves
on a GPU with bf16, trains to `complete`, survives a kill -9 after a checkpoint and resumes to the
history of the run left alone, and records what it ran with, on TensorFlow and on JAX (the tox env
`jax` runs this file too). The loop's tiny model: what is tested is the path, not an architecture."""

import json
import shutil
import signal

import keras
import pytest

from tests.helpers import RESUME_ARGS, STEPS_PER_EPOCH, cli, compared, held, hold

BF16_XLA = [*RESUME_ARGS, "--precision", "mixed_bfloat16", "--jit"]
H100 = "NVIDIA H100 80GB HBM3:9.0"  # how `auto` is resolved: a GPU of compute capability 9.0


def trained(args, results_dir, env):
    proc = cli(args, results_dir, env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return compared(results_dir)


@pytest.fixture(scope="module")
def left_alone(tmp_path_factory):
    import os

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return trained(BF16_XLA, tmp_path_factory.mktemp("bf16"), env)


def test_bf16_with_xla_completes_and_records_what_it_ran_with(left_alone):
    _, _, summary = left_alone
    assert summary["status"] == "complete" and summary["steps"] == 2 * STEPS_PER_EPOCH
    assert summary["precision"] == "mixed_bfloat16" and summary["jit"] is True
    assert all(segment["jit"] is True for segment in summary["segments"])
    assert summary["backend"] == keras.backend.backend()
    assert summary["config_hash"] and summary["config"]["precision"] == "mixed_bfloat16"


@pytest.mark.slow
def test_bf16_with_xla_resumes_after_kill_9_to_the_uninterrupted_run(tmp_path, cli_env, left_alone):
    marker, results = tmp_path / "held.json", tmp_path / "results"
    proc = cli(BF16_XLA, results, hold(cli_env, STEPS_PER_EPOCH + 5, marker))
    assert held(proc, marker)["step"] == STEPS_PER_EPOCH + 5
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    history, final, summary = trained(BF16_XLA, results, cli_env)
    assert history == left_alone[0] and final == left_alone[1]
    assert summary["resume_count"] == 1 and summary["precision"] == "mixed_bfloat16" and summary["jit"] is True


@pytest.mark.slow
def test_a_float32_checkpoint_is_never_taken_up_by_a_bf16_run(tmp_path, cli_env, left_alone):
    """Separate folders by identity; and a float32 checkpoint copied into the bf16 run's folder is
    refused like another run's: the bf16 run starts over and ends as the one left alone."""
    marker, results = tmp_path / "held.json", tmp_path / "results"
    proc = cli(RESUME_ARGS, results, hold(cli_env, 5, marker))
    held(proc, marker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (f32,) = {p.parent.parent for p in results.glob("**/checkpoints/ckpt-*.npz")}
    run(BF16_XLA, results, cli_env)
    (bf16,) = {p.parent for p in results.glob("**/summary.json")} - {f32}
    history, final, summary = compared_in(bf16)
    assert summary["precision"] == "mixed_bfloat16" and summary["resume_count"] == 0 and history == left_alone[0]
    # the float32 run's newest checkpoint, copied in: refused, and the bf16 run trains from scratch
    shutil.rmtree(bf16)
    (bf16 / "checkpoints").mkdir(parents=True)
    newest = max((f32 / "checkpoints").glob("ckpt-*.npz"), key=lambda p: int(p.stem.split("-")[1]))
    shutil.copy(newest, bf16 / "checkpoints" / newest.name)
    out = run(BF16_XLA, results, cli_env)
    assert "skipped" in out
    history, final, summary = compared_in(bf16)
    assert summary["resume_count"] == 0 and history == left_alone[0] and final == left_alone[1]
    # and the float32 run resumes its own checkpoint
    run(RESUME_ARGS, results, cli_env)
    f32_summary = json.loads((f32 / "summary.json").read_text())
    assert f32_summary["precision"] == "float32" and f32_summary["resume_count"] == 1
    assert f32_summary["status"] == "complete"


def run(args, results_dir, env) -> str:
    proc = cli(args, results_dir, env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out + err


def compared_in(folder):
    from tests.helpers import COMPARED, history_of

    summary = json.loads((folder / "summary.json").read_text())
    final = {k: summary[k] for k in ("test_top1", "test_top5", "test_top1_final", "train_eval_top1", "steps")}
    return [{k: r[k] for k in COMPARED} for r in history_of(folder, pattern="history.csv")], final, summary


@pytest.mark.slow
def test_auto_as_it_resolves_on_a_gpu_trains_end_to_end_on_the_cpu(tmp_path, cli_env, left_alone):
    from tests.launch import GPU

    args = [a for a in BF16_XLA if a not in ("mixed_bfloat16", "--jit")]
    args[args.index("--precision") + 1:args.index("--precision") + 1] = ["auto"]
    history, final, summary = trained(args, tmp_path / "results", {**cli_env, GPU: H100})
    assert summary["precision"] == "mixed_bfloat16" and summary["jit"] is True  # the GPU's defaults
    assert summary["devices"][0].startswith("CPU")  # recorded as what it really ran on
    assert history == left_alone[0] and final == left_alone[1]  # the same path as naming them


@pytest.mark.slow
def test_auto_on_a_cpu_with_bf16_trains_as_its_backend_measured_fastest(tmp_path, cli_env):
    """`auto` on a CPU whose flags show AVX512_BF16 (issue 29's decision). On TensorFlow the run
    trains and records mixed bfloat16 (without XLA, as `speed` measured it) in a folder of its own;
    a float32 run that `auto` started before and that was killed is left as it was, named in a
    note, and `--precision float32` resumes it. On JAX, whose XLA CPU path measured no faster in
    bf16, auto stays float32 and simply resumes that run."""
    from benchmarks.train.backends import CPU_BF16_BACKENDS, CPU_FLAGS_ENV

    marker, results = tmp_path / "held.json", tmp_path / "results"
    args = [*RESUME_ARGS, "--precision", "auto"]
    bf16_cpu = {**cli_env, CPU_FLAGS_ENV: "avx2 fma avx512f avx512_bf16"}
    proc = cli(args, results, hold(cli_env, 5, marker))  # conftest's CPU, without bf16: float32
    held(proc, marker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (f32,) = {p.parent.parent for p in results.glob("**/checkpoints/ckpt-*.npz")}
    out = run(args, results, bf16_cpu)
    if keras.backend.backend() in CPU_BF16_BACKENDS:
        (note,) = [line for line in out.splitlines() if line.startswith("note: auto trains in mixed_bfloat16")]
        assert str(f32) in note and "1 unfinished float32 run" in note and "--precision float32 resumes" in note
        (bf16,) = {p.parent for p in results.glob("**/summary.json")} - {f32}
        summary = compared_in(bf16)[2]
        assert summary["status"] == "complete" and summary["precision"] == "mixed_bfloat16" and summary["jit"] is False
        assert json.loads((bf16 / "environment.json").read_text())[0]["cpu_bf16"] == ["avx512_bf16"]  # what auto read
        assert not (f32 / "summary.json").exists() or json.loads((f32 / "summary.json").read_text())["status"] != "complete"
        run([*RESUME_ARGS, "--precision", "float32"], results, bf16_cpu)
    else:
        assert "note: auto" not in out
    f32_summary = json.loads((f32 / "summary.json").read_text())
    assert f32_summary["status"] == "complete" and f32_summary["precision"] == "float32"
    assert f32_summary["resume_count"] == 1  # the killed run, taken up where it stopped
