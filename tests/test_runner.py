"""The runner: budgets, exact resume after SIGKILL, SIGTERM, corrupt checkpoints, workers."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import architectures
from architectures import complexity
from benchmarks.core.config import RECIPES, Budget
from benchmarks.results import reading, schema
from benchmarks.train import checkpoint, clock, matrix, runner, suite
from tests.helpers import (
    RESUME_ARGS,
    STEPS_PER_EPOCH,
    TINY,
    cli,
    compared,
    config,
    held,
    history_of,
    hold,
    latest_state,
    summary_of,
    train,
)


# --------------------------------------------------------------------------------- budgets
@pytest.mark.parametrize("budget,steps", [("2epochs", 2 * STEPS_PER_EPOCH), ("25steps", 25), ("900images", 29)])
def test_step_like_budgets_stop_exactly(tmp_path, budget, steps):
    cfg = config(budget=budget)
    row = train(cfg, tmp_path)
    record = summary_of(tmp_path, cfg)
    assert row["status"] == "complete" and record["status"] == "complete"
    assert record["steps"] == steps and record["budget_used"] == 1.0
    assert record["epochs_completed"] == steps // STEPS_PER_EPOCH
    assert record["epochs"] == -(-steps // STEPS_PER_EPOCH)  # a partial last epoch counts
    assert not schema.validate_summary(record), schema.validate_summary(record)


def test_time_budget_stops_at_the_first_step_boundary_past_it(tmp_path):
    cfg = config(budget="4s")
    train(cfg, tmp_path)
    record = summary_of(tmp_path, cfg)
    steps = [float(r["train_seconds"]) for r in history_of(tmp_path, cfg)]
    assert record["train_seconds"] >= 4.0
    if record["steps"] == 1:  # under load the first step (tracing, compiling) alone spent the budget
        assert record["compile_seconds"] == pytest.approx(record["train_seconds"])
    else:  # stopped at the next boundary: at most a few steps (their spread) and a second past it
        per_step = (record["train_seconds"] - record["compile_seconds"]) / (record["steps"] - 1)
        assert record["train_seconds"] < 4.0 + 5 * per_step + 1.0
    assert steps[-1] == pytest.approx(record["train_seconds"])


class _QueuedStep:
    """A step's loss on an asynchronous device (JAX, any GPU): handed over at once, ready only
    once the device has run it, one step after another, `seconds` each."""

    def __init__(self, device: dict, seconds: float):
        device["free_at"] = max(device["free_at"], time.perf_counter()) + seconds
        self.ready_at = device["free_at"]

    def __array__(self, dtype=None, copy=None):
        time.sleep(max(0.0, self.ready_at - time.perf_counter()))
        return np.asarray(1.0)


def _driven_control(budget="8steps"):
    """A StepControl over a clock and a stand-in state (no checkpoints), for driving by hand."""
    import types

    from benchmarks.train.control import StepControl

    state = types.SimpleNamespace(step=0, step_in_epoch=0, train_seconds=0.0, compile_seconds=0.0, epoch=0)
    budget_clock = clock.BudgetClock(Budget.parse(budget), RECIPES["paper"], 0.1, 100, 32, 1.0, counters=state)
    control = StepControl(budget_clock, state, num_classes=10, checkpoint=lambda: None, checkpoint_due=lambda: False,
                          heartbeat=lambda: None)
    return control, state


def test_each_step_is_charged_its_compute_not_its_dispatch():
    """`fit` on JAX returns from a step once it is queued (a whole epoch in a second, measured). A
    clock that charged dispatch time gave a partial epoch's 24 steps 0.02 s in all (measured,
    ResNet-20), and lets a time budget run past its end. Driven here as Keras drives the callback:
    step begin on the main thread, step end on a thread pool."""
    import concurrent.futures

    from benchmarks.train.control import StepControl

    control, state = _driven_control()
    device, steps, most_queued = {"free_at": 0.0}, [], 0
    with concurrent.futures.ThreadPoolExecutor() as pool:
        with pytest.raises(runner.StopTraining):
            for batch in range(20):
                control.on_train_batch_begin(batch)
                most_queued = max(most_queued, sum(s.ready_at > time.perf_counter() for s in steps))
                steps.append(_QueuedStep(device, 0.05))
                pool.submit(control.on_train_batch_end, batch, {"loss": steps[-1]})
    assert state.step == 8
    assert 8 * 0.05 - 0.02 <= state.train_seconds <= 8 * 0.05 + 0.15  # compute, not dispatch (~0); load adds a little
    assert most_queued <= StepControl.AHEAD  # the host ran at most a step ahead of the device


def test_a_step_whose_end_never_comes_does_not_hang_the_loop(monkeypatch):
    """When the device fails a step, Keras' callback thread raises before the step-end hook and
    Keras re-raises on the main thread at its next dispatch: the loop must get there, not wait for
    ever for a mark that will not come."""
    from benchmarks.train.control import StepControl

    monkeypatch.setattr(StepControl, "STALL_SECONDS", 0.2)
    control, state = _driven_control("4steps")
    started = time.perf_counter()
    with pytest.raises(runner.StopTraining):
        for batch in range(10):
            control.on_train_batch_begin(batch)
            if batch != 1:  # batch 1's end never reports
                control.on_train_batch_end(batch, {"loss": 1.0})
    assert state.step == 4 and time.perf_counter() - started < 5


def test_schedule_warms_up_then_reaches_zero_at_the_budget():
    recipe = RECIPES["paper"]
    lrs = [clock.scheduled_lr(recipe, 0.1, p) for p in np.linspace(0, 1, 101)]
    assert lrs[0] == 0.0 and lrs[-1] == 0.0 and max(lrs) == pytest.approx(0.1, rel=0.02)
    peak = int(np.argmax(lrs))
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    assert clock.scheduled_lr(RECIPES["post"], 1e-3, 0.7) == 1e-3


@pytest.mark.parametrize("warmup", [0.02, 0.0])
def test_the_in_step_schedule_is_the_budget_aware_schedule(warmup):
    from benchmarks.train.models import BudgetSchedule

    recipe, total = dataclasses.replace(RECIPES["paper"], warmup=warmup), 250
    schedule = BudgetSchedule(0.1, recipe.warmup, total)
    got = [float(schedule(step)) for step in range(total + 5)]
    want = [clock.scheduled_lr(recipe, 0.1, step / total) for step in range(total + 5)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert want[0] == 0.0 if warmup else want[0] == 0.1


def test_a_time_budgets_lr_is_given_when_it_has_moved_a_step_and_at_zero():
    """Breaks when the clock asks for an lr change every step (on JAX a device sync each), never
    after the first, or misses the final zero."""
    import types

    from benchmarks.core.budget import Budget

    counters = types.SimpleNamespace(step=0, step_in_epoch=0, train_seconds=0.0, compile_seconds=0.0)
    the_clock = clock.BudgetClock(Budget.parse("100s"), RECIPES["paper"], 0.1, 10, 8, 1.0, counters=counters)
    given = []
    for step in range(1001):  # 0.1 s each: the lr moves 0.1% of its peak per step
        counters.train_seconds = step / 10
        if (lr := the_clock.lr_due(given[-1] if given else None)) is not None:
            given.append(lr)
    assert given[0] == 0.0 and given[-1] == 0.0 and len(given) < 250  # not every step
    assert all(abs(a - b) >= clock.LR_STEP * 0.1 for a, b in zip(given[1:-1], given[2:-1]))
    assert max(given) == pytest.approx(0.1, abs=clock.LR_STEP * 0.1)  # the peak, within one step


@pytest.mark.parametrize("budget", ["30steps", "10s"])  # 10s: steps after the compile even on a loaded machine
def test_the_optimizer_follows_the_schedule_on_every_backend(tmp_path, budget):
    """The optimizer's own lr (not only the history's) ends at the schedule's value: on JAX an lr
    assigned from the loop mid-epoch would be silently ignored without a state sync."""
    from benchmarks.core.storage import Claim

    cfg = config(budget=budget)
    splits = suite._splits(cfg.data)
    run = runner.Run(cfg, tmp_path / "run", splits, claim=Claim(tmp_path / "run"), log=lambda *_: None, verbose=0)
    run.start()
    run.train()
    used = float(keras.ops.convert_to_numpy(run.model.optimizer.learning_rate))
    if budget == "30steps":  # the schedule's value at the optimizer's step count: exactly zero
        assert used == 0.0 and run.state.step == 30
    else:  # the value the loop last set (on JAX it needs a state sync to reach the optimizer)
        assert used == pytest.approx(run.control.lr_set, rel=1e-6) and 0.0 < run.control.lr_set < 0.9 * cfg.peak_lr


def test_run_records_the_final_lr_near_zero_and_all_metrics(tmp_path):
    cfg = config(budget="2epochs", train_eval_every=1)
    train(cfg, tmp_path)
    rows = history_of(tmp_path, cfg)
    assert float(rows[-1]["lr"]) == 0.0 and float(rows[0]["lr"]) > 0
    assert rows[0]["train_eval_top1"] != ""  # measured every epoch when asked
    record = summary_of(tmp_path, cfg)
    for key in ("test_top1", "test_top5", "test_top1_final", "train_eval_top1", "gap", "best_val_top1"):
        assert 0.0 <= abs(record[key]) <= 1.0, key
    assert record["gap"] == pytest.approx(record["train_eval_top1"] - record["final_val_top1"])
    built = architectures.build(cfg.arch, num_classes=10)  # the record counts the network, not the data on the device
    assert record["params"] == complexity.trainable_params(built) and record["mmacs"] == complexity.macs(built) / 1e6
    assert set(record["time_to_target"]) == {"0.30", "0.40", "0.52", "0.60", "0.70"}
    folder = tmp_path / cfg.relative_dir()
    assert (folder / "config.json").is_file()
    assert (folder / "tensorboard").is_dir() == (keras.backend.backend() == "tensorflow")
    assert json.loads((folder / "environment.json").read_text())[0]["device"].startswith("CPU")
    if keras.backend.backend() == "tensorflow":  # one writer per run: one events file, every epoch in it
        import tensorflow as tf

        (events,) = (folder / "tensorboard").iterdir()
        steps = [e.step for e in tf.compat.v1.train.summary_iterator(str(events))
                 for v in e.summary.value if v.tag == "val_top1"]
        assert steps == [int(r["step"]) for r in rows]


def test_the_loss_is_recorded_apart_from_its_weight_decay_penalty(tmp_path):
    """Keras' loss holds the L2 term: a loss of 7 can be a cross-entropy at ln(100) plus a penalty of 2.4
    (VGG-16 at initialisation). The history, the progress line and the summary take them apart."""
    cfg = config(budget="2epochs")
    lines = []
    train(cfg, tmp_path, verbose=1, log=lines.append)
    rows = history_of(tmp_path, cfg)
    for row in rows:
        val_loss, val_ce, penalty = (float(row[k]) for k in ("val_loss", "val_ce", "penalty"))
        assert penalty > 0 and val_ce > 0 and val_loss == pytest.approx(val_ce + penalty, rel=1e-4)
        assert 0 < float(row["ce"]) < float(row["loss"])
    record = summary_of(tmp_path, cfg)
    assert record["final_val_ce"] == pytest.approx(float(rows[-1]["val_ce"]))
    assert record["final_penalty"] == pytest.approx(float(rows[-1]["penalty"]))
    progress = [line for line in lines if "| epoch " in line]
    assert progress and all(" = CE " in line and " + L2 " in line for line in progress), lines


def test_finished_runs_are_skipped(tmp_path):
    cfg = config(budget="5steps")
    train(cfg, tmp_path)
    before = (tmp_path / cfg.relative_dir() / "summary.json").read_text()
    assert train(cfg, tmp_path)["status"] == "skipped (complete)"
    assert (tmp_path / cfg.relative_dir() / "summary.json").read_text() == before


@pytest.mark.backend_agnostic
def test_restart_keeps_the_old_run_aside(tmp_path):
    cfg = config(budget="5steps")
    train(cfg, tmp_path)
    train(cfg, tmp_path, restart=True)
    aside = list((tmp_path / ".restarted").glob("**/summary.json"))
    assert len(aside) == 1 and summary_of(tmp_path, cfg)["status"] == "complete"
    assert len(reading.run_folders(tmp_path)) == 1  # the report never sees the old one


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tmp_path):
    cfg = config(budget="2epochs")
    train(cfg, tmp_path)
    folder = tmp_path / cfg.relative_dir() / "checkpoints"
    newest, previous = checkpoint.candidates(folder)[:2]
    newest.write_bytes(newest.read_bytes()[:1000])
    logs = []
    meta, _ = checkpoint.load_latest(folder, log=logs.append)
    assert meta["state"]["sequence"] == checkpoint.number(previous) and "skipped" in logs[0]


def test_different_configs_never_share_a_folder():
    a, b = config(), config(data={"augment": "none"})
    c, d = config(precision="mixed_bfloat16"), config(budget="2epochs")
    assert len({x.relative_dir() for x in (a, b, c, d)}) == 4
    assert config().relative_dir() == config(jit=True).relative_dir()


# ------------------------------------------------------------------------- subprocess runs
# Real processes (tests/launch.py) training tiny-test, whose dropout and augmentation draw random
# numbers an exact resume must restore. A checkpoint at every step; the run is held at a chosen
# one (`hold`) and killed there: where a kill lands is the test's choice, not the scheduler's.
ARGS = RESUME_ARGS


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = cli(ARGS, folder, env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return compared(folder)


@pytest.mark.slow
@pytest.mark.parametrize("where,step,position", [
    ("mid-epoch", STEPS_PER_EPOCH + 5, {"epoch": 1, "step": STEPS_PER_EPOCH + 5, "step_in_epoch": 5}),
    # the checkpoint at the epoch's end, written before its history row and summary
    ("between-epochs", STEPS_PER_EPOCH, {"epoch": 1, "step": STEPS_PER_EPOCH, "step_in_epoch": 0}),
])
def test_sigkill_and_resume_give_exactly_the_uninterrupted_run(tmp_path, cli_env, reference, where, step, position):
    marker = tmp_path / "held.json"
    proc = cli(ARGS, tmp_path / "results", hold(cli_env, step, marker))
    assert held(proc, marker) == position
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = cli(ARGS, tmp_path / "results", cli_env)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    history, final, summary = compared(tmp_path / "results")
    assert history == reference[0]
    assert final == reference[1]
    assert summary["resume_count"] == 1


@pytest.mark.slow
def test_sigterm_checkpoints_and_the_run_resumes(tmp_path, cli_env):
    marker, results = tmp_path / "held.json", tmp_path / "results"
    proc = cli(ARGS, results, hold(cli_env, 3, marker))
    held(proc, marker)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "SIGTERM received; checkpoint written" in out + err
    summary = json.loads(next(results.glob("**/summary.json")).read_text())
    assert summary["status"] == "interrupted" and 3 <= summary["steps"] < 2 * STEPS_PER_EPOCH
    assert latest_state(results)["step"] == summary["steps"]  # the checkpoint is where it stopped
    assert not list(results.glob("**/claim.json"))
    again = cli(ARGS, results, cli_env)
    again.communicate(timeout=600)
    assert again.returncode == 0
    summary = json.loads(next(results.glob("**/summary.json")).read_text())
    assert summary["status"] == "complete" and summary["steps"] == 2 * STEPS_PER_EPOCH and summary["resume_count"] == 1


@pytest.mark.backend_agnostic
@pytest.mark.slow
def test_two_workers_split_the_suite_without_doing_a_run_twice(tmp_path, cli_env):
    args = [TINY, "--seeds", "4", "--preset", "smoke", "--budget", "8steps", "--quiet"]
    workers = [cli(args, tmp_path, cli_env) for _ in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
    summaries = [json.loads(p.read_text()) for p in tmp_path.glob("**/summary.json")]
    assert len(summaries) == 4 and all(s["status"] == "complete" for s in summaries)
    assert all(s["resume_count"] == 0 and len(s["segments"]) == 1 for s in summaries)
    assert {s["segments"][0]["pid"] for s in summaries} <= {w.pid for w in workers}  # trained by these two


def test_shards_are_interleaved_and_cover_the_matrix():
    configs = list(range(7))
    parts = [matrix.shard(configs, i, 3) for i in range(3)]
    assert parts[0] == [0, 3, 6] and sorted(sum(parts, [])) == configs


@pytest.mark.parametrize("args,message", [
    # with a dataset that is here (smoke): a missing one is said first (tests/test_cli.py)
    (["alexnet", "--preset", "smoke"], "unknown architecture"), (["resnet20", "--budget", "10parsecs"], "malformed budget"),
    (["resnet20", "--preset", "smoke", "--seed", "-1"], "--seed must be in 0.."),
    (["resnet20", "--preset", "smoke", "--shard", "3/2"], "--shard"),
    (["resnet20", "--preset", "nope"], "unknown preset"), (["--preset", "smoke"], "at least one architecture"),
    (["resnet20", "--preset", "smoke", "--strategy", "multi-worker"],
     "KERAS_DISTRIBUTION" if keras.backend.backend() == "jax" else "--shard"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, cli_in_process, args, message):
    code, lines = cli_in_process("run", *args, "--results-dir", str(tmp_path))
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


@pytest.mark.backend_agnostic
def test_unwritable_results_folder_is_exit_2(tmp_path, cli_in_process):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, lines = cli_in_process("run", "resnet20", "--preset", "smoke", "--results-dir", str(blocker / "results"))
    assert code == 2 and len(lines) == 1 and "not writable" in lines[0], lines


@pytest.mark.tensorflow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    """Multi-worker with TF_CONFIG workers on 127.0.0.1 did not fit in a minute on 2 CPU cores
    (see the README); MirroredStrategy over two logical CPU devices exercises the same
    replica/aggregation path and chief-only checkpoints."""
    code = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import dataclasses, sys
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
from tests.helpers import config, train, summary_of
from benchmarks.core.config import RunConfig
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
cfg = dataclasses.replace(config(budget="6steps"), strategy="mirrored")
row = train(cfg, {str(tmp_path)!r}, strategy=strategy)
s = summary_of({str(tmp_path)!r}, cfg)
assert strategy.num_replicas_in_sync == 2
print("RESULT", row["status"], s["steps"], s["strategy"])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert "RESULT complete 6 mirrored" in proc.stdout, proc.stderr[-3000:]
    assert list(tmp_path.glob("**/ckpt-*.npz"))
