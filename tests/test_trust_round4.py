"""Trust, round 4 (issue 27): results folders copied, edited by hand or forged; files of the user's
rewritten; flags pointing at odd places. A seed counts once, a value is checked by its type, nothing
of the user's is replaced without a word, and bad input is one line with exit 2."""

import json
import os
import shutil
import signal

import pytest

from benchmarks.core import storage
from benchmarks.core.budget import Budget
from benchmarks.core.config import ConfigError
from benchmarks.report import compare, document
from benchmarks.results import reading, schema
from tests.helpers import config, fake_run, summary_of, sweep_folder, table_of, train


def quiet_report(root, out):
    return document.write(root, out, "md", warn=lambda *_: None).read_text()


# ------------------------------------------------------------------------ one seed, one sample
def test_a_copied_run_counts_once_wherever_it_lies(tmp_path):
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.50, 0.58, 0.52], "original": [0.40, 0.47, 0.43]}})
    before = table_of(root).iloc[0]
    shutil.copytree(root / "synthetic", root / "backup" / "synthetic")  # a backup of everything
    seed0 = next(root.glob("synthetic/*/resnet20/seed-0"))
    shutil.copytree(seed0, seed0.with_name("seed-0 (copy)"))
    after = table_of(root).iloc[0]
    assert (after["seeds"], after["low"], after["high"]) == (before["seeds"], before["low"], before["high"]) == \
        (3, before["low"], before["high"])
    runs, _ = reading.load(root)
    assert (runs["status"] == "duplicate").sum() == 7 and (runs["status"] == "complete").sum() == 6
    home = runs[runs["status"] == "complete"]["folder"]
    assert not home.str.contains("backup|copy").any()  # the run in its own folder is the one that counts
    text = quiet_report(root, tmp_path / "out")
    assert "(n=3)" in text and "(n=6)" not in text and "is a duplicate" in text


def test_copies_cannot_turn_noise_into_a_winner(tmp_path):
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.50, 0.60], "original": [0.45, 0.52]}})
    assert not table_of(root).iloc[0]["clear"]
    for i in range(4):
        shutil.copytree(root / "synthetic", root / f"copy{i}" / "synthetic")
    assert not table_of(root).iloc[0]["clear"] and table_of(root).iloc[0]["seeds"] == 2


def test_compare_counts_a_copy_once(tmp_path):
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.5, 0.6], "original": [0.4, 0.45]}})
    shutil.copytree(root / "synthetic", root / "old" / "synthetic")
    text, _ = compare.run(["original", "resnet20"], root, tmp_path / "out")
    assert "n=2" in text.replace(" ", "") or "| 2 " in text
    assert "n=4" not in text.replace(" ", "")


# ------------------------------------------------------------------------ values by their type
@pytest.mark.parametrize("fields,problem", [
    ({"test_top1": True}, "test_top1: bool is not"),
    ({"best_val_top1": [0.5]}, "best_val_top1: list is not"),
    ({"time_to_target": {"0.52": -100}}, "time_to_target.0.52: -100 is outside"),
    ({"time_to_target": {"0.52": "never"}}, "time_to_target.0.52: str 'never' is not"),
    ({"time_to_target": {"0.52": True}}, "time_to_target.0.52: bool"),
    ({"data": {"warnings": 5}}, "data.warnings: int is not a list"),
    ({"data": {"warnings": [{"x": 1}]}}, "data.warnings(0): dict"),
    ({"diverged_at": {"epoch": "<img src=x onerror=alert(1)>", "step": "[x](http://evil.example)"}},
     "diverged_at.epoch: str"),
    ({"train_flops": 1.7e308}, "train_flops: 1.7e+308 is outside"),
    ({"segments": [{"jit": "yes"}]}, "segments(0).jit: str"),
])
def test_a_value_of_the_wrong_type_anywhere_makes_an_unreadable_row(tmp_path, fields, problem):
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.5, 0.6], "original": [0.4, 0.45]}})
    bad = next(root.glob("synthetic/*/original/seed-1"))
    record = json.loads((bad / "summary.json").read_text())
    (bad / "summary.json").write_text(json.dumps({**record, **fields}))
    runs, _ = reading.load(root)
    row = runs[runs["folder"] == str(bad)].iloc[0]
    assert row["status"] == "unreadable" and problem in row["error"], row["error"]
    text = quiet_report(root, tmp_path / "out")  # the report still reads, the bad run out of every mean
    assert "100.0%" not in text and "<img" not in text and "](http" not in text
    assert "original          |  40.0 (n=1)" in text or "40.0 (n=1)" in text
    compare.run(["original", "resnet20"], root, tmp_path / "cmp")


def test_no_value_of_a_summary_becomes_markup_at_any_depth(tmp_path):
    """A string that is valid where it lies (an error, a warning, a version) is made inert, whatever its depth."""
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.5, 0.6], "original": [0.4, 0.45]}})
    bad = next(root.glob("synthetic/*/original/seed-1"))
    record = json.loads((bad / "summary.json").read_text())
    record["versions"] = {"tensorflow": "<img src=x onerror=alert(1)>", "keras": "[x](http://evil.example)"}
    record["data"]["warnings"] = ["![p](http://evil.example/p.png)", "| forged | row |"]
    (bad / "summary.json").write_text(json.dumps(record))
    text = quiet_report(root, tmp_path / "out")
    for fragment in ("<img", "](http", "| forged"):
        assert fragment not in text, fragment


def test_run_never_shows_a_forged_figure_of_a_run_it_skips(tmp_path):
    cfg = config()
    train(cfg, tmp_path)
    path = tmp_path / cfg.relative_dir() / "summary.json"
    for forged in ({"test_top1": True}, {"test_top1": "abc"}, {"best_val_top1": [0.5]}):
        path.write_text(json.dumps({**json.loads(path.read_text()), **forged}))
        logged = []
        row = train(cfg, tmp_path, log=logged.append)
        assert row["status"].startswith("skipped") and row["test top-1"] is None and row["best val top-1"] is None
        assert any("not a valid summary" in line and "retrains the run" in line for line in logged), logged


# ------------------------------------------------------------------------------- budget names
@pytest.mark.parametrize("a,b", [("123456501images", "123457499images"), ("1000001steps", "1000002steps"),
                                 ("1.0000001e13flops", "1.0000002e13flops"), ("100.0001s", "100.0002s")])
def test_two_budgets_never_share_a_name(a, b):
    first, second = Budget.parse(a), Budget.parse(b)
    assert str(first) != str(second)
    assert Budget.parse(str(first)) == first and Budget.parse(str(second)) == second
    assert config(budget=a).relative_dir() != config(budget=b).relative_dir()


@pytest.mark.parametrize("text,name", [("1e13flops", "10tflop"), ("3e14flops", "300tflop"), ("30m", "30m"),
                                       ("2h", "2h"), ("90s", "90s"), ("2epochs", "2epochs"), ("5e6images", "5e+06images"),
                                       ("20000steps", "20000steps")])
def test_names_that_were_exact_are_unchanged(text, name):
    """The shipped reference's folders (and every run folder made before) keep their names."""
    assert str(Budget.parse(text)) == name


# ----------------------------------------------------------------------- outputs: regular files
@pytest.mark.parametrize("make", [lambda p: os.mkfifo(p), lambda p: p.symlink_to("/dev/null"), lambda p: p.mkdir()])
def test_an_output_that_is_not_a_regular_file_is_never_replaced(tmp_path, make):
    target = tmp_path / "out.json"
    make(target)
    kind = os.lstat(target).st_mode
    with pytest.raises(storage.UnsafeFile, match="archbench writes only regular files or new paths"):
        storage.write_json(target, {"x": 1})
    assert os.lstat(target).st_mode == kind  # still what it was


@pytest.mark.parametrize("make,what", [(lambda p: os.mkfifo(p), "not a regular file"),
                                       (lambda p: p.symlink_to(p.parent / "elsewhere.json"), "a symbolic link")])
def test_speed_json_refuses_a_device_fifo_or_link_before_measuring(tmp_path, cli_in_process, make, what):
    target = tmp_path / "x"
    make(target)
    code, err = cli_in_process("speed", "original", "--steps", "1", "--warmup", "1", "--repeats", "1", "--json",
                               str(target))
    assert code == 2 and len(err) == 1 and f"--json {target} is {what}" in err[0], err
    assert os.path.lexists(target) and not (tmp_path / "elsewhere.json").exists()


def test_a_report_never_replaces_a_link_inside_out(tmp_path, cli_in_process):
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.5, 0.6], "original": [0.4, 0.45]}})
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").symlink_to(tmp_path / "victim.md")
    code, err = cli_in_process("report", "--results-dir", str(root), "--out", str(out))
    assert code == 2 and len(err) == 1 and "symbolic link" in err[0], err
    assert (out / "report.md").is_symlink() and not (tmp_path / "victim.md").exists()


# ---------------------------------------------------------------- XLA per segment, never mislabelled
def test_each_segment_records_its_xla_and_a_mixed_run_is_grouped_apart(tmp_path):
    cfg = config()
    train(cfg, tmp_path / "real")
    assert [s["jit"] for s in summary_of(tmp_path / "real", cfg)["segments"]] == [cfg.jit]
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.5, 0.6], "original": [0.4, 0.45]}})
    fake_run(root, "resnet20", 2, jit=True, segments=[{"jit": False, "from_step": 0}, {"jit": True, "from_step": 20}])
    runs, _ = reading.load(root)
    row = runs[runs["seed"] == 2].iloc[0]
    assert row["jit"] == "mixed"
    keys = [key for key, _ in reading.groups(runs)]
    assert sorted(str(k["jit"]) for k in keys) == ["False", "mixed"]
    text = quiet_report(root, tmp_path / "out")
    assert "XLA in some segments only" in text and "resumed with another --jit" in text


# ------------------------------------------------------------------ files of the user's, set aside
@pytest.mark.parametrize("content", ["5", '{"edited": "by hand"}', "not json", "[1, 2]"])
def test_a_hand_edited_environment_is_moved_aside_with_a_warning(tmp_path, content):
    cfg = config(budget="2steps")
    folder = tmp_path / cfg.relative_dir()
    folder.mkdir(parents=True)
    (folder / "environment.json").write_text(content)
    logged = []
    row = train(cfg, tmp_path, log=logged.append)
    assert row["status"] == "complete"
    (aside,) = folder.glob("environment.json.set-aside-*")
    assert aside.read_text() == content
    assert any("environment.json" in line and "moved to" in line for line in logged), logged
    entries = json.loads((folder / "environment.json").read_text())
    assert isinstance(entries, list) and len(entries) == 1
    assert train(cfg, tmp_path, restart=True)["status"] == "complete"  # every later run too


def test_a_harmless_key_in_config_json_keeps_the_run_and_a_changed_value_does_not(tmp_path):

    from benchmarks.train import run_folder

    cfg = config(budget="2steps")
    folder = tmp_path / cfg.relative_dir()
    train(cfg, tmp_path)
    held = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**held, "note": "mine", "data": {**held["data"], "x": 1}}))
    run_folder.check_config(folder, cfg)  # its own run still
    (folder / "config.json").write_text(json.dumps({**held, "budget": "3steps"}))
    with pytest.raises(ConfigError, match="holds a run of another configuration"):
        run_folder.check_config(folder, cfg)


# ------------------------------------------------------------------------------ claims of any shape
@pytest.mark.parametrize("content", ["[1]", '"str"', json.dumps({"host": os.uname().nodename, "pid": 2**70}),
                                     json.dumps({"host": os.uname().nodename, "pid": True})])
def test_a_claim_of_the_wrong_shape_is_taken_over(tmp_path, content):
    (tmp_path / "claim.json").write_text(content)
    old = os.path.getmtime(tmp_path / "claim.json") - 60  # not one being written this moment
    os.utime(tmp_path / "claim.json", (old, old))
    claim = storage.Claim(tmp_path)
    assert claim.acquire()
    claim.release()
    assert not (tmp_path / "claim.json").exists()


def test_a_folder_named_claim_json_fails_that_run_only(tmp_path):
    blocked, other = config(budget="2steps", data={"seed": 1}), config(budget="2steps", data={"seed": 2})
    (tmp_path / blocked.relative_dir() / "claim.json").mkdir(parents=True)
    logged = []
    assert train(blocked, tmp_path, log=logged.append)["status"] == "failed"
    assert any("is not a claim file" in line for line in logged)
    assert (tmp_path / blocked.relative_dir() / "claim.json").is_dir()  # never removed
    assert train(other, tmp_path)["status"] == "complete"


# ------------------------------------------------------------------------------ one line, exit 2
@pytest.mark.parametrize("hparams", ['{"dropout": {"a": 1}}', '{"dense_units": [{"a": 1}]}',
                                     '{"filters": [[1, {"a": 1}]]}'])
def test_an_option_holding_an_object_is_one_line(tmp_path, cli_in_process, hparams):
    code, err = cli_in_process("run", "original", "--preset", "smoke", "--hparams", hparams,
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "holds a JSON object" in err[0], err
    assert not (tmp_path / "r").exists()


def test_a_shortcut_object_on_resnet20_and_a_tuned_builder_object_are_one_line(tmp_path, cli_in_process):
    code, err = cli_in_process("run", "resnet20", "--preset", "smoke", "--hparams", '{"shortcut": {"x": 1}}',
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "holds a JSON object" in err[0], err
    tuned = tmp_path / "best.json"
    tuned.write_text(json.dumps({"builder": {"dropout": {"a": 1}}, "recipe": {"learning_rate": 0.1, "batch_size": 32}}))
    code, err = cli_in_process("run", "original-tuned", "--preset", "smoke", "--hparams", str(tuned),
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "holds a JSON object" in err[0], err


@pytest.fixture
def no_hang():
    """A read that waits on a FIFO fails the test in 60 s instead of hanging the suite."""
    def timeout(*_):
        raise AssertionError("waited on a FIFO")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_hparams_fifo_is_one_line_not_a_hang(tmp_path, cli_in_process, no_hang):
    os.mkfifo(tmp_path / "hp.json")
    code, err = cli_in_process("run", "original", "--preset", "smoke", "--hparams", str(tmp_path / "hp.json"),
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "not a regular file" in err[0], err


def test_an_archive_that_is_a_fifo_is_one_line_not_a_hang(tmp_path, cli_in_process, no_hang):
    (tmp_path / "data").mkdir()
    os.mkfifo(tmp_path / "data" / "cifar-100-python.tar.gz")
    code, err = cli_in_process("run", "resnet20", "--data-dir", str(tmp_path / "data"), "--budget", "1steps",
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "is not a regular file" in err[0], err


def test_restart_when_restarted_is_a_file_is_one_line(tmp_path, cli_in_process):
    root = tmp_path / "r"
    root.mkdir()
    (root / ".restarted").write_text("mine")
    code, err = cli_in_process("run", "original", "--preset", "smoke", "--restart", "--results-dir", str(root))
    assert code == 2 and len(err) == 1 and ".restarted is not a folder" in err[0], err
    assert (root / ".restarted").read_text() == "mine" and os.listdir(root) == [".restarted"]


def test_report_and_compare_read_a_run_past_any_float(tmp_path, cli_in_process):
    root = sweep_folder(tmp_path / "r", {"2epochs": {"resnet20": [0.5, 0.6], "original": [0.4, 0.45]}})
    for seed in (0, 1):
        fake_run(root, "vgg16", seed, train_flops=1e29, train_flops_per_image=1e20)  # in range, huge: still drawn
    for verb in (("report", "--out", str(tmp_path / "o")), ("compare", "original", "vgg16", "--out", str(tmp_path / "c"))):
        code, err = cli_in_process(*verb, "--results-dir", str(root))
        assert code == 0, err


# ----------------------------------------------------------------------------------------- tune
def tuner_project(tmp_path, trial=None, values=None, oracle=None):
    project = tmp_path / "search"
    (project / "trial_00").mkdir(parents=True)
    if oracle is not None:
        (project / "oracle.json").write_text(oracle)
    if trial is not None:
        (project / "trial_00" / "trial.json").write_text(trial)
    if values is not None:
        (project / "trial_00" / "hyperparameters.json").write_text(values)
    return project


@pytest.mark.parametrize("trial,values,status", [("[]", None, "FAILED"), ('{"trial_id": 5}', None, "FAILED"),
                                                 ('{"trial_i', "[1]", "FAILED"), ("[]", '{"dropout": 0.3}', "RUNNING")])
def test_tune_rebuilds_trials_of_any_shape(tmp_path, trial, values, status):
    from benchmarks.tune import bookkeeping

    project = tuner_project(tmp_path, trial, values, oracle="{}")
    assert bookkeeping.repair(project, log=lambda *_: None) == ["00"]
    rebuilt = json.loads((project / "trial_00" / "trial.json").read_text())
    assert rebuilt["status"] == status and (project / "trial_00" / "trial.json.broken").read_text() == trial
    if status == "RUNNING":
        assert rebuilt["hyperparameters"]["values"]["dropout"] == 0.3


@pytest.mark.parametrize("oracle", ["[]", '"x"', "{torn"])
def test_tune_with_an_oracle_of_the_wrong_shape_is_one_line(tmp_path, oracle):
    from benchmarks.tune import bookkeeping

    project = tuner_project(tmp_path, oracle=oracle)
    with pytest.raises(ConfigError, match="is not a keras-tuner oracle's state"):
        bookkeeping.repair(project)


def test_tune_takes_a_flop_budget_like_run(tmp_path):
    from benchmarks.core.config import PRESETS
    from benchmarks.tune import engine

    data = PRESETS["smoke"].data
    assert engine.check_search("original", "random", 1, "post", data, Budget.parse("1e11flops")) == ""
    with pytest.raises(ConfigError, match="could never finish"):
        engine.check_search("original", "random", 1, "post", data, Budget.parse("1e22flops"))


# -------------------------------------------------------------------------------- the browser
def test_a_missing_browser_says_what_to_install_in_one_line(monkeypatch):
    from tests import browser

    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="install Debian's chromium-headless-shell") as failed:
        browser.inspect(schema.__file__)
    assert "\n" not in str(failed.value)


def test_a_checkpoint_that_is_a_fifo_or_link_is_skipped_not_waited_on(tmp_path, no_hang):
    from benchmarks.train import checkpoint

    cfg = config(budget="2steps")
    train(cfg, tmp_path)
    folder = tmp_path / cfg.relative_dir() / "checkpoints"
    newest = checkpoint.candidates(folder)[0]
    os.mkfifo(folder / f"ckpt-{checkpoint.number(newest) + 1}.npz")
    (folder / f"ckpt-{checkpoint.number(newest) + 2}.npz").symlink_to(newest)
    logged = []
    meta, _ = checkpoint.load_latest(folder, log=logged.append)
    assert sum("is not a regular file" in line for line in logged) == 2
    assert meta == checkpoint.read(newest)[0]


# ------------------------------------------------------------------------- what the record says
def test_the_schema_names_every_dataset_and_version_a_run_writes():
    from benchmarks.core.datasets import DATASETS
    from benchmarks.train import environment

    dataset = schema.SUMMARY_SCHEMA["dataset"][1]
    assert all(name in dataset for name in DATASETS if name != "folder") and "folder-<folder name>" in dataset
    versions = schema.SUMMARY_SCHEMA["versions"][1]
    assert all(key in versions for key in environment.versions())


def test_only_a_change_to_the_code_makes_a_checkout_dirty(tmp_path):
    """The reference job regenerates README and the report in its own worktree between budgets:
    that is output, not code, and its runs record a clean revision; a change under benchmarks/ is
    '+dirty', and source.diff holds that change alone."""
    import subprocess

    from benchmarks.train import environment

    repo = tmp_path / "checkout"
    for name in ("benchmarks/train.py", "results/run.json", "README.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("first\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()

    def revision():
        environment.git_revision.cache_clear()
        return environment.git_revision(repo)

    (repo / "README.md").write_text("regenerated\n")
    (repo / "results" / "run.json").write_text("{}\n")
    assert revision() == head and environment.write_source_diff(tmp_path / "run", repo) is None
    (repo / "benchmarks" / "train.py").write_text("changed\n")
    assert revision() == f"{head}+dirty"
    diff = environment.write_source_diff(tmp_path / "run", repo).read_text()
    assert "+changed" in diff and "README" not in diff and "run.json" not in diff
    environment.git_revision.cache_clear()


def test_a_run_from_a_changed_checkout_keeps_its_diff(tmp_path, monkeypatch):
    import subprocess

    from benchmarks.train import environment

    monkeypatch.setattr(environment, "git_revision", lambda root: "abc+dirty")
    big = b"+" * 5000
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=big))
    monkeypatch.setattr(environment, "DIFF_LIMIT", 1000)
    path = environment.write_source_diff(tmp_path)
    text = path.read_bytes()
    assert text.startswith(b"+" * 1000) and b"cut at 1,000 of 5,000 bytes" in text and len(text) < 1100
    monkeypatch.setattr(environment, "git_revision", lambda root: "abc")  # a clean checkout: nothing written
    assert environment.write_source_diff(tmp_path / "clean") is None and not (tmp_path / "clean").exists()
