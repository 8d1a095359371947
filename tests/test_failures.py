"""Trust under failure: a diverged, mislabelled or broken run never becomes a valid result, and one
bad run never stops the others (issue 10)."""

import dataclasses
import json
import os
import shutil
import signal
import stat
import time

import numpy as np
import pytest

from benchmarks.core.config import RECIPES, Budget, ConfigError, RunConfig
from benchmarks.data import archives
from benchmarks.results import schema
from benchmarks.train import checkpoint, preflight, suite
from tests import cifar_files
from tests.helpers import TINY, cli, config, held, hold, summary_of, train

EXPLODING = dataclasses.replace(RECIPES["paper"], learning_rate=1e30, warmup=0.0)  # NaN within a few steps


# ------------------------------------------------------------------------------ divergence
def test_a_diverged_run_is_recorded_as_diverged_and_never_retrained(tmp_path):
    cfg = dataclasses.replace(config(budget="2epochs"), recipe=EXPLODING)
    row = train(cfg, tmp_path)
    record = summary_of(tmp_path, cfg)
    assert row["status"] == "diverged" and record["status"] == "diverged"
    assert not schema.validate_summary(record), schema.validate_summary(record)
    where = record["diverged_at"]
    assert where["epoch"] == 1 and 1 <= where["step"] <= 18  # NaN, inf or exploded past the bound
    assert where["loss"] in ("nan", "inf", "-inf") or float(where["loss"]) > 100
    assert record["steps"] < 2 * 18  # stopped at the divergence, not at the budget
    assert record["test_top1"] is None and f"step {where['step']}" in record["error"]
    before = (tmp_path / cfg.relative_dir() / "summary.json").read_text()
    assert train(cfg, tmp_path)["status"] == "skipped (diverged)"
    assert (tmp_path / cfg.relative_dir() / "summary.json").read_text() == before


# -------------------------------------------------------------------------------- identity
def test_builder_options_and_data_are_part_of_the_run_identity():
    plain = config(arch="wrn-16-4")
    dropout = dataclasses.replace(plain, hparams=(("dropout", 0.3),))
    other_data = dataclasses.replace(plain, data_digest="0123456789abcdef")
    assert len({c.relative_dir() for c in (plain, dropout, other_data)}) == 3
    assert set(dropout.variant().split(", ")) - set(plain.variant().split(", ")) == {"dropout=0.3"}
    assert "data 01234567" in other_data.variant()
    canonical = RunConfig(arch="resnet20", data=dataclasses.replace(config().data.__class__(), batch_size=128),
                          recipe=RECIPES["paper"], budget=Budget.parse("15m"), backend="tensorflow")
    assert canonical.variant() == "" and canonical.fingerprint() == ""


def test_a_different_archive_gets_its_own_folder(tmp_path):
    a, _ = cifar_files.cifar10(tmp_path / "a", per_batch=40, n_test=20)
    b, _ = cifar_files.cifar10(tmp_path / "b", per_batch=40, n_test=20, extracted=True)
    # the same images are the same run whatever the source (tests/test_folders.py): change one label
    labels = archives.read(b).y_train[:40].tolist()
    cifar_files.edit_pickle(b, "data_batch_1", labels=[(labels[0] + 1) % 10, *labels[1:]])
    data = dict(dataset="cifar10", synthetic_classes=10, val_size=20, train_eval_size=20, batch_size=16)
    configs = [config(data={**data, "data_dir": str(folder.parent)}) for folder in (a, b)]
    prepared = preflight.prepare(configs)
    assert all(c.data_digest for c in prepared)  # neither is the published archive
    assert prepared[0].relative_dir() != prepared[1].relative_dir()
    assert preflight.prepare(configs[:1])[0].relative_dir() == prepared[0].relative_dir()  # stable


@pytest.mark.parametrize("args,message", [
    (["resnet20", "--hparams", '{"depth": 8}'], "contradicts the name"),
    (["wrn-16-4", "--hparams", '{"width": 2}'], "contradicts the name"),
    (["resnet20", "original", "--hparams", '{"bogus": 1}'], "takes no option 'bogus'"),
    (["wrn-16-4", "--hparams", '{"dropout": "high"}'], "must be float"),
    (["resnet20", "--budget", "1e99images"], "could never finish"),
    (["resnet20", "--budget", "1e20steps"], "could never finish"),
    (["resnet20", "--budget", "1e400s"], "not a finite number"),
    (["resnet20", "--budget", "200000epochs"], "could never finish"),
    (["resnet20", "--checkpoint-every", "nan"], "--checkpoint-every"),
    (["resnet20", "--labels", "coarse"], "only for cifar100"),
    (["resnet20", "--val-split", "100000"], "leaves no training images"),
])
def test_bad_run_input_is_refused_before_anything_runs(tmp_path, cli_in_process, args, message):
    code, lines = cli_in_process("run", *args, "--preset", "smoke", "--results-dir", str(tmp_path))
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not list(tmp_path.glob("**/summary.json"))


# ------------------------------------------------------------------- one bad run, the others go on
@pytest.mark.backend_agnostic
def test_a_run_that_fails_to_build_is_recorded_and_the_suite_goes_on(tmp_path):
    bad = dataclasses.replace(config(arch="original", budget="3steps"), hparams=(("dense_units", 0),))
    good = config(arch="resnet20", budget="3steps")
    rows = suite.run_all(preflight.prepare([bad, good]), tmp_path, verbose=0, log=lambda *_: None)
    assert [r["status"] for r in rows] == ["failed", "complete"]
    failed = summary_of(tmp_path, bad)
    assert failed["status"] == "failed" and "dense_units" in failed["error"]
    assert summary_of(tmp_path, good)["status"] == "complete"


@pytest.mark.backend_agnostic
def test_cli_reports_failed_runs_in_one_line_and_exits_1(tmp_path, cli_env):
    env = {k: v for k, v in cli_env.items() if k != "CUDA_VISIBLE_DEVICES"}  # cuInit noise must not show
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    common = ["--preset", "smoke", "--budget", "2steps", "--quiet"]

    def run(*args):
        proc = cli([TINY, *args, *common], tmp_path, env)
        out, err = proc.communicate(timeout=300)
        return proc.returncode, err

    code, err = run("--seed", "0")
    assert code == 0, err
    folder = next(tmp_path.glob(f"**/{TINY}/seed-0"))  # we plant another config's record in its folder
    planted = json.loads((folder / "config.json").read_text())
    (folder / "summary.json").unlink()
    (folder / "config.json").write_text(json.dumps({**planted, "arch": "something-else"}))
    code, err = run("--seeds", "2")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "1 of 2 runs failed" in lines[0] and f"{TINY} (paper) seed 0:" in lines[0], err
    assert "cuInit" not in err
    assert json.loads((folder / "config.json").read_text())["arch"] == "something-else"  # not overwritten
    assert json.loads(next(tmp_path.glob(f"**/{TINY}/seed-1/summary.json")).read_text())["status"] == "complete"


# ----------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_fits_the_same_model_built_after_others_in_one_process(tmp_path):
    """Keras numbers unnamed layers per process ("conv2d_3"), and an optimizer variable carries its
    layer's name inside its own ("sgd/conv2d_3_kernel_momentum"). A suite that built other models
    first (another seed, a FLOPs count) refused its own checkpoint and trained the run again."""
    import keras

    import architectures

    def built():
        model = architectures.build(TINY, num_classes=10)
        model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="sparse_categorical_crossentropy")
        model.optimizer.build(model.trainable_variables)
        return model

    first = built()
    path = checkpoint.save(tmp_path, first, {"sequence": 1}, None)
    later = built()  # the same network, every layer and optimizer slot numbered anew
    assert {v.path for v in later.optimizer.variables} != {v.path for v in first.optimizer.variables}
    meta, arrays = checkpoint.read(path)
    checkpoint.restore(later, meta, arrays)
    for a, b in zip(later.weights, first.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_checkpoint_that_does_not_fit_is_skipped_like_a_corrupt_one(tmp_path):
    other = config(budget="3steps", hparams=(("width", 16),))  # another network: its weights' shapes differ
    mine = config(budget="10steps")
    train(other, tmp_path)
    train(mine, tmp_path)
    folder = tmp_path / mine.relative_dir()
    ckpts = folder / "checkpoints"
    newest = checkpoint.candidates(ckpts)[0]
    meta, arrays = checkpoint.read(newest)
    # A state with an unknown field, and another model's checkpoint, both numbered past the good one.
    unknown = {**meta, "state": {**meta["state"], "from_the_future": 1}}
    np.savez(ckpts / "ckpt-000000100.npz", **arrays,
             meta=np.frombuffer(json.dumps(unknown).encode(), np.uint8))
    shutil.copy(checkpoint.candidates(tmp_path / other.relative_dir() / "checkpoints")[0], ckpts / "ckpt-000000101.npz")
    (folder / "summary.json").unlink()
    logs = []
    row = suite.run_one(mine, tmp_path, verbose=1, log=logs.append)
    assert row["status"] == "complete" and summary_of(tmp_path, mine)["steps"] == 10
    warnings = [line for line in logs if line.startswith("warning:")]
    assert len(warnings) == 2 and "ckpt-000000101" in warnings[0] and "ckpt-000000100" in warnings[1]
    assert any("finished before the last stop" in line for line in logs)  # not "resuming from"


@pytest.mark.backend_agnostic
def test_new_checkpoints_are_numbered_past_garbage_and_never_pruned_away(tmp_path):
    cfg = config(budget="1epochs")
    ckpts = tmp_path / cfg.relative_dir() / "checkpoints"
    ckpts.mkdir(parents=True)
    for n in (8, 9):
        (ckpts / f"ckpt-{n:09d}.npz").write_bytes(os.urandom(2000))
    logs = []
    train_row = suite.run_one(cfg, tmp_path, verbose=0, log=logs.append)
    assert train_row["status"] == "complete"
    names = [p.name for p in checkpoint.candidates(ckpts)]
    assert names[0] > "ckpt-000000009.npz" and len(names) == checkpoint.KEEP
    meta, _ = checkpoint.load_latest(ckpts, log=logs.append)
    assert meta["state"]["budget_done"]
    assert not any("allow_pickle" in line for line in logs)


def test_garbage_checkpoint_warning_never_suggests_allow_pickle(tmp_path):
    (tmp_path / "ckpt-000000001.npz").write_bytes(b"not a zip at all" * 100)
    logs = []
    assert checkpoint.load_latest(tmp_path, log=logs.append) is None
    assert len(logs) == 1 and "ckpt-000000001.npz" in logs[0] and "allow_pickle" not in logs[0]


# ------------------------------------------------------------------------ smaller inputs
def test_train_eval_size_zero_skips_the_gap_cleanly(tmp_path):
    cfg = config(budget="3steps", data={"train_eval_size": 0})
    assert train(cfg, tmp_path)["status"] == "complete"
    record = summary_of(tmp_path, cfg)
    assert record["train_eval_top1"] is None and record["gap"] is None and record["test_top1"] is not None


def test_result_files_follow_the_umask(tmp_path):
    cfg = config(budget="2steps")
    old = os.umask(0o022)
    try:
        train(cfg, tmp_path)
    finally:
        os.umask(old)
    folder = tmp_path / cfg.relative_dir()
    for name in ("summary.json", "config.json", "history.csv", "environment.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(checkpoint.candidates(folder / "checkpoints")[0].stat().st_mode) == 0o644


def test_budget_ceilings_are_checked_against_the_data():
    with pytest.raises(ConfigError, match="could never finish"):
        Budget.parse("1e9steps").check_ceiling(train_images=600, batch_size=32)
    Budget.parse("1000steps").check_ceiling(train_images=600, batch_size=32)


@pytest.mark.slow
def test_a_second_ctrl_c_exits_130_in_one_line_and_marks_the_run_interrupted(tmp_path, cli_env):
    args = [TINY, "--preset", "smoke", "--budget", "3epochs", "--batch-size", "32", "--quiet"]
    marker = tmp_path / "held.json"
    proc = cli(args, tmp_path / "results", hold(cli_env, 1, marker))
    held(proc, marker)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.03)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # Whether the second signal lands before the first one's checkpoint is a race; either way the
    # run ends in one line, exit 130, `interrupted` (the at-once path itself: the test below).
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    summary = json.loads(next(tmp_path.glob("results/**/summary.json")).read_text())
    assert summary["status"] == "interrupted"
    assert not list(tmp_path.glob("results/**/claim.json"))


def test_a_damaged_history_of_a_finished_run_is_rewritten_from_its_checkpoint(tmp_path):
    cfg = config(budget="2epochs")
    train(cfg, tmp_path)
    path = tmp_path / cfg.relative_dir() / "history.csv"
    good = path.read_text()
    path.write_bytes(os.urandom(300))
    logs = []
    assert suite.run_one(cfg, tmp_path, verbose=0, log=logs.append)["status"] == "skipped (complete)"
    assert path.read_text() == good and any("rebuilt from checkpoint" in line for line in logs)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("hparams,message", [('{"dropout": 2}', "dropout must be in"), ("[1]", "JSON object")])
def test_bad_hparam_values_are_refused_before_anything_is_written(tmp_path, cli_in_process, hparams, message):
    code, lines = cli_in_process("run", "wrn-16-4", "--preset", "smoke", "--hparams", hparams,
                                 "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.json"))


def test_a_second_ctrl_c_inside_a_finalizer_is_not_printed_and_the_stop_still_comes(capfd, monkeypatch):
    """CI once saw it: the second Ctrl-C landed while a thread pool's weakref callback ran, and
    Python printed "Exception ignored in ... Traceback ... Interrupted" before the one line."""
    import gc

    from benchmarks.train import control

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        control.install_signal_handlers()
        said = []  # what the hook that was there before (pytest's, here) is given
        monkeypatch.setattr(control._quiet_when_a_finalizer_is_interrupted, "previous", said.append)
        handler = signal.getsignal(signal.SIGINT)
        handler(signal.SIGINT, None)  # the first

        class Collected:
            def __del__(self):
                handler(signal.SIGINT, None)  # the second, where Python cannot raise it

        class Broken:
            def __del__(self):
                raise ValueError("a finalizer's own error")

        Collected()
        gc.collect()
        assert "Interrupted" not in capfd.readouterr().err and not said
        with pytest.raises(control.Interrupted) as stopped:  # the loop's next step boundary
            control.check_signal()
        assert not stopped.value.at_once
        Broken()
        gc.collect()
        assert [str(u.exc_value) for u in said] == ["a finalizer's own error"]  # other errors are still said
    finally:
        control._SIGNAL["received"] = None
        for s, h in old.items():
            signal.signal(s, h)


def test_a_second_ctrl_c_raises_at_once_without_waiting_for_a_checkpoint():
    from benchmarks.train import control

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        control.install_signal_handlers()
        handler = signal.getsignal(signal.SIGINT)
        handler(signal.SIGINT, None)  # the first: only a flag, the loop checkpoints at the next step
        with pytest.raises(control.Interrupted) as stopped:
            handler(signal.SIGINT, None)  # the second: raised where the loop is
        assert stopped.value.at_once and stopped.value.signum == signal.SIGINT
    finally:
        control._SIGNAL["received"] = None
        for s, h in old.items():
            signal.signal(s, h)


def test_a_signal_during_the_exit_of_an_interrupted_command_is_ignored_not_fatal(monkeypatch):
    """Python resets its own signal handlers to the default as it finalizes (after the atexit
    hooks): a second Ctrl-C landing then killed an interrupted run's process with -2 instead of
    130. Once the command ends because of a signal, later ones are ignored at the OS level, which
    finalization keeps; a command that ends normally still leaves at once on a signal."""
    from benchmarks.train import control

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        monkeypatch.setitem(control._SIGNAL, "received", signal.SIGINT)
        control._leave_at_once_on_a_signal()
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in saved)
        monkeypatch.setitem(control._SIGNAL, "received", None)
        control._leave_at_once_on_a_signal()
        assert all(callable(signal.getsignal(s)) for s in saved)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
