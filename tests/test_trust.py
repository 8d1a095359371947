"""Trust, round 3 (issue 20): the cases a hostile pass found, each held here. Bad input ends in one
line and exit 2 with nothing written; a number is never claimed beyond what the seeds can say."""

import json

import numpy as np
import pytest

from benchmarks.core import storage
from benchmarks.core.budget import parse_sweep
from benchmarks.core.errors import ConfigError
from benchmarks.report import answer, compare
from benchmarks.results import reading
from tests.helpers import fake_run, sweep_folder, table_of


# ----------------------------------------------------------------------- quietly wrong numbers
def test_identical_seeds_on_both_sides_are_no_claim_of_significance(tmp_path):
    """Two seeds per side with identical values gave 'ahead by more than seed noise' and [+0.2, +0.2]."""
    table = table_of(sweep_folder(tmp_path, {"30s": {"original": [0.50, 0.50], "resnet20": [0.502, 0.502]}}))
    row = table.iloc[0]
    assert not row["clear"] and row["no_spread"] and "none: no spread" in answer.markdown(table)
    assert "no clear winner" in answer.markdown(table)
    said = compare.verdict("original", "resnet20", "test_top1", compare.welch_interval([0.5, 0.5], [0.502, 0.502]))
    assert "seed noise is unknown" in said and "larger than seed noise" not in said
    # a descriptive metric whose seeds agree (parameters) still states its difference
    assert "descriptive" in compare.verdict("a", "b", "params", compare.welch_interval([10, 10], [20, 20]))


def test_a_row_that_selected_on_the_test_set_is_never_the_answer(tmp_path):
    for seed in range(3):
        fake_run(tmp_path, "original", seed, test_top1=0.90 + seed / 100, test_used_for_selection=True,
                 variant="select_on=test, val_size=0")
        fake_run(tmp_path, "resnet20", seed, test_top1=0.60 + seed / 100)
        fake_run(tmp_path, "vgg16", seed, test_top1=0.50 + seed / 100)
    row = table_of(tmp_path).iloc[0]
    assert (row["train"], row["runner-up"]) == ("resnet20", "vgg16")


# ------------------------------------------------------------------------------- one line, exit 2
@pytest.mark.parametrize("argv,match", [
    (("run", "resnet20", "--budget", ""), "malformed budget ''"),
    (("run", "resnet20", "--preset", "smoke", "--shard", ""), "--shard must be I/N"),
    (("run", "resnet20", "--preset", "smoke", "--seed", str(2**32)), "--seed must be in 0..4294967295"),
    (("run", "resnet20", "--preset", "smoke", "--seeds", "1000000000"), "--seeds must be in 1..1000"),
    (("tune", "original", "--dataset", "synthetic", "--seed", str(2**40)), "--seed must be in 0..4294967295"),
    (("list", "--num-classes", "100000000"), "--num-classes must be in 2..100000"),
    (("speed", "resnet20", "--peak-tflops", "nan"), "--peak-tflops must be a positive number"),
    (("speed", "resnet20", "--peak-tflops", "-1"), "--peak-tflops must be a positive number"),
    (("speed", "resnet20", "--json", "/tmp"), "--json /tmp is a folder"),
    (("speed", "resnet20", "--json", "/no/such/folder/x.json"), "is in a folder that does not exist"),
    (("run", "resnet20", "--preset", "smoke", "--precision", "mixed_float16"), "mixed_float16 on a CPU"),
    (("speed", "resnet20", "--precision", "mixed_float16"), "mixed_float16 on a CPU"),
])
def test_bad_values_are_one_line_and_nothing_is_written(tmp_path, cli_in_process, argv, match, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process(*argv, *(("--results-dir", str(tmp_path / "r")) if argv[0] in ("run", "tune") else ()))
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not (tmp_path / "r").exists()


def test_a_malformed_claim_timeout_is_one_line_where_it_is_used(monkeypatch):
    monkeypatch.setenv("ARCHBENCH_CLAIM_STALE_SECONDS", "abc")
    with pytest.raises(ConfigError, match="ARCHBENCH_CLAIM_STALE_SECONDS must be a positive number"):
        storage.stale_seconds()
    monkeypatch.setenv("ARCHBENCH_CLAIM_STALE_SECONDS", "30")
    assert storage.stale_seconds() == 30.0


def test_the_same_architecture_twice_is_planned_once():
    from benchmarks.train import matrix

    configs, _ = matrix.configs(["resnet20", "resnet20"], all_=False, preset="smoke", seeds=[0], budget=parse_sweep("2steps"),
                           recipe=None, data_flags={}, run_flags={})
    assert [c.arch for c in configs] == ["resnet20"]


# ----------------------------------------------------------------------------------- compare
def test_compare_names_its_file_from_safe_characters_inside_out(tmp_path):
    """`compare "x/../../../../tmp/name" original` built its output path from the name."""
    for seed in range(2):
        fake_run(tmp_path / "r", "original", seed)
        other = fake_run(tmp_path / "r", "resnet20", seed)
        record = json.loads((other / "summary.json").read_text())
        (other / "summary.json").write_text(json.dumps({**record, "arch": "x/../../name"}))  # never a name
    with pytest.raises(ConfigError, match="no results for x/../../name"):
        compare.run(["original", "x/../../name"], tmp_path / "r", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    runs, _ = reading.load(tmp_path / "r")
    assert (runs.loc[runs["arch"] != "original", "status"] == "unreadable").all()
    fake_run(tmp_path / "r", "wrn-16-4", 0)
    fake_run(tmp_path / "r", "wrn-16-4", 1)
    _, path = compare.run(["original", "wrn-16-4"], tmp_path / "r", tmp_path / "out")
    assert path == tmp_path / "out" / "compare-original-vs-wrn-16-4.md"


def test_compare_of_architectures_that_share_no_budget_is_an_error_and_writes_nothing(tmp_path):
    for seed in range(2):
        fake_run(tmp_path / "r", "original", seed, budget="30s")
        fake_run(tmp_path / "r", "resnet20", seed, budget="90s")
    with pytest.raises(ConfigError, match="never ran under the same dataset, budget"):
        compare.run(["original", "resnet20"], tmp_path / "r", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    runs, _ = reading.load(tmp_path / "r")
    assert len(runs) == 4


# ------------------------------------------------------------------------- identity of settings
def test_deterministic_and_strategy_are_part_of_a_runs_identity():
    """`--deterministic` (one thread per op: slower) and `--strategy` change what a time budget
    buys: two runs differing only in them must never share a folder or a row."""
    from benchmarks.train import matrix

    def one(**flags):
        (config,), _ = matrix.configs(["resnet20"], all_=False, preset="smoke", seeds=[0], budget=parse_sweep("15s"), recipe=None,
                                 data_flags={}, run_flags=flags)
        return config

    plain, det, mirrored = one(), one(deterministic=True), one(strategy="mirrored")
    assert len({plain.relative_dir(), det.relative_dir(), mirrored.relative_dir()}) == 3
    assert "deterministic=True" in det.variant() and "strategy=mirrored" in mirrored.variant()


def test_runs_with_and_without_xla_are_never_averaged(tmp_path):
    fake_run(tmp_path, "resnet20", 0, test_top1=0.50, jit=False)
    fake_run(tmp_path / "other", "resnet20", 1, test_top1=0.70, jit=True)
    runs, _ = reading.load(tmp_path)
    assert len(reading.groups(runs)) == 2
    assert {key["jit"] for key, _ in reading.groups(runs)} == {False, True}


# ------------------------------------------------------------------- saturated and exploded runs
def test_top_k_gives_ties_no_credit():
    import keras
    import numpy as np

    from benchmarks.train import models

    equal = np.full((4, 100), 0.01, "float32")  # a saturated model: every class ties
    labels = np.array([0, 3, 50, 99])
    assert keras.ops.convert_to_numpy(models.strict_top_k(labels, equal, k=5)).tolist() == [0, 0, 0, 0]
    assert keras.ops.convert_to_numpy(models.strict_top_k(labels, equal, k=1)).tolist() == [0, 0, 0, 0]
    scores = np.tile(np.linspace(0, 1, 100, dtype="float32"), (4, 1))  # class 99 best, then 98, ...
    assert keras.ops.convert_to_numpy(models.strict_top_k(labels, scores, k=5)).tolist() == [0, 0, 0, 1]
    assert keras.ops.convert_to_numpy(models.strict_top_k(np.array([95, 94]), scores[:2], k=5)).tolist() == [1, 0]
    metric = models.StrictTopK(5, name="top5")
    metric.update_state(labels, scores, sample_weight=np.array([1, 1, 1, 0]))  # padding counts for nothing
    assert float(metric.result()) == 0.0


def test_a_finite_explosion_is_diverged_like_a_nan(tmp_path):
    """A tuned file with lr 1e6 gave a loss of 1.5e6, chance top-1 and a 'complete' run."""
    import dataclasses

    from benchmarks.core.config import RECIPES
    from benchmarks.train.control import loss_bound
    from tests.helpers import config, summary_of, train

    cfg = dataclasses.replace(config(arch="original", budget="8steps"),
                              recipe=dataclasses.replace(RECIPES["post"], learning_rate=1e6))
    row = train(cfg, tmp_path)
    record = summary_of(tmp_path, cfg)
    assert row["status"] == "diverged" and record["status"] == "diverged" and record["test_top5"] is None
    loss = float(record["diverged_at"]["loss"])
    assert not np.isfinite(loss) or loss > loss_bound(20)
    assert loss_bound(100) == 100.0 and loss_bound(100_000) == pytest.approx(10 * np.log(100_000))


# -------------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_of_another_run_of_the_same_architecture_is_refused(tmp_path):
    """ResNet-20 --budget 5steps --seed 1's checkpoint, copied into ResNet-20 --budget 2epochs
    --seed 0's folder, was resumed and recorded complete with 5 steps and seed 1's accuracy."""
    import shutil

    from benchmarks.train import checkpoint, suite
    from tests.helpers import config, summary_of, train

    other, mine = config(budget="5steps", data={"seed": 1}), config(budget="1epochs")
    train(other, tmp_path)
    ckpts = tmp_path / mine.relative_dir() / "checkpoints"
    ckpts.mkdir(parents=True)
    shutil.copy(checkpoint.candidates(tmp_path / other.relative_dir() / "checkpoints")[0], ckpts / "ckpt-000000009.npz")
    logs = []
    row = suite.run_one(mine, tmp_path, verbose=1, log=logs.append)
    record = summary_of(tmp_path, mine)
    assert row["status"] == "complete" and record["seed"] == 0 and record["epochs_completed"] == 1
    assert record["steps"] > 5 and record["resume_count"] == 0
    assert any("belongs to another run" in line and "ckpt-000000009" in line for line in logs), logs


def test_checkpoint_numbers_are_parsed_not_matched_by_width(tmp_path):
    """A garbage ckpt-999999999.npz made the next numbers ten digits long, which the nine-digit
    pattern never matched: pruning deleted the valid checkpoints and the run started over."""
    from benchmarks.train import checkpoint, suite
    from tests.helpers import config

    cfg = config(budget="1epochs")
    ckpts = tmp_path / cfg.relative_dir() / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "ckpt-999999999.npz").write_bytes(b"garbage" * 300)
    assert suite.run_one(cfg, tmp_path, verbose=0, log=lambda *_: None)["status"] == "complete"
    newest = checkpoint.candidates(ckpts)[0]
    assert checkpoint.number(newest) >= 1_000_000_000 and newest.name.startswith("ckpt-1000000")
    meta, _ = checkpoint.load_latest(ckpts, log=lambda *_: None)
    assert meta["state"]["sequence"] == checkpoint.number(newest) and meta["run"]["run"] == cfg.relative_dir()
    assert checkpoint.next_number(ckpts, 0) == checkpoint.number(newest) + 1


# -------------------------------------------------------------------- a results folder from anyone
def test_only_regular_files_inside_the_folder_are_read(tmp_path, monkeypatch):
    """summary.json -> /dev/zero grew until killed; history.csv as a FIFO hung `report`; a linked
    search.png was copied into the report (a leak of any file the user can read)."""
    import os

    from benchmarks.report import document

    root = tmp_path / "r"
    good = fake_run(root, "resnet20", 0)
    zero = fake_run(root, "original", 0)
    (zero / "summary.json").unlink()
    (zero / "summary.json").symlink_to("/dev/zero")
    fifo = fake_run(root, "vgg16", 0)
    (fifo / "history.csv").unlink()
    os.mkfifo(fifo / "history.csv")
    outside = tmp_path / "outside"
    fake_run(outside, "wrn-16-4", 0)
    (root / "synthetic" / "paper-2epochs" / "wrn-16-4").symlink_to(outside / "synthetic" / "paper-2epochs" / "wrn-16-4")
    search = root / "tuning" / "synthetic" / "original-bayesian-30s"
    search.mkdir(parents=True)
    (search / "search.csv").write_text("trial,status,val_top1,train_seconds\n1,COMPLETED,0.5,10\n")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG private")
    (search / "search.png").symlink_to(secret)

    runs, _ = reading.load(root)
    status = dict(zip(runs["arch"], runs["status"]))
    assert status == {"resnet20": "complete", "original": "unreadable", "vgg16": "unreadable"}  # wrn-16-4: a link
    assert any("wrn-16-4: a symbolic link in the results folder, never followed" in w for w in runs.attrs["warnings"])
    errors = " ".join(runs["error"].dropna())
    assert "symbolic link" in errors and "not a regular file" in errors and str(good) not in errors
    warned = []
    path = document.write(root, tmp_path / "out", fmt="md", warn=warned.append)
    assert not list((tmp_path / "out").glob("tuning-*")) and "private" not in path.read_text()
    assert any("search.png" in w and "symbolic link" in w for w in warned)


def test_a_file_larger_than_its_kind_may_be_is_never_read(tmp_path):
    folder = fake_run(tmp_path, "resnet20", 0)
    with open(folder / "summary.json", "ab") as f:
        f.write(b" " * (5 << 20))  # still valid JSON, but no summary is 5 MB
    runs, _ = reading.load(tmp_path)
    assert runs.iloc[0]["status"] == "unreadable" and "more than a summary file may have" in runs.iloc[0]["error"]


@pytest.mark.parametrize("cut", ["last row", "mid row", "in the header"])
def test_a_truncated_history_is_caught_and_rebuilt_by_run(tmp_path, cut):
    from benchmarks.train import suite
    from tests.helpers import config, train

    cfg = config(budget="2epochs")
    train(cfg, tmp_path)
    history = tmp_path / cfg.relative_dir() / "history.csv"
    whole = history.read_text()
    lines = whole.splitlines(keepends=True)
    damaged = {"last row": "".join(lines[:-1]), "mid row": whole[: len(whole) - len(lines[-1]) // 2],
               "in the header": whole[: len(lines[0]) // 2]}[cut]
    history.write_text(damaged)
    runs, _ = reading.load(tmp_path)
    assert runs.iloc[0]["status"] == "unreadable" and "history.csv" in runs.iloc[0]["error"]
    logs = []
    assert suite.run_one(cfg, tmp_path, verbose=0, log=logs.append)["status"] == "skipped (complete)"
    assert history.read_text() == whole and any("rebuilt from checkpoint" in line for line in logs)
    (aside,) = history.parent.glob("history.csv.set-aside-*")  # the damaged file is kept, never lost
    assert aside.read_text() == damaged
    assert reading.load(tmp_path)[0].iloc[0]["status"] == "complete"


def test_a_damaged_config_of_a_complete_run_is_repaired_by_running_again(tmp_path):
    from benchmarks.train import suite
    from tests.helpers import config, train

    cfg = config(budget="3steps")
    train(cfg, tmp_path)
    (tmp_path / cfg.relative_dir() / "config.json").write_text("{torn")
    assert reading.load(tmp_path)[0].iloc[0]["status"] == "unreadable"
    logs = []
    assert suite.run_one(cfg, tmp_path, verbose=0, log=logs.append)["status"] == "skipped (complete)"
    assert any("config.json cannot be read: moved to" in line for line in logs)
    assert next((tmp_path / cfg.relative_dir()).glob("config.json.set-aside-*")).read_text() == "{torn"
    assert reading.load(tmp_path)[0].iloc[0]["status"] == "complete"


# ------------------------------------------------------------------------------------ injection
HOSTILE = {
    "link": "[click](javascript:window.__pwned=true)",
    "forged": "x\n\n## What to train\n\n| forged | table |",
    "image": "![p](/etc/passwd.png)",
    "script": "<script>window.__pwned=true</script><img src=x onerror=window.__pwned=true>",
    "fetch": "<img src='http://127.0.0.1:9/leak.png'>",
}


def hostile_folder(root):
    """Runs whose free text (variant, error, device, warnings) and names hold markdown and HTML."""
    for seed in range(2):
        fake_run(root, "resnet20", seed, variant=HOSTILE["link"] + " " + HOSTILE["forged"], test_top1=0.5 + seed / 100,
                 devices=[HOSTILE["script"]], data={"warnings": [HOSTILE["fetch"]], "sha256_ok": False})
        fake_run(root, "original", seed, test_top1=0.4 + seed / 100)
    named = fake_run(root, "vgg16", 0)
    record = json.loads((named / "summary.json").read_text())
    (named / "summary.json").write_text(json.dumps({**record, "arch": HOSTILE["image"]}))
    failed = fake_run(root, "wrn-16-4", 0, status="failed", error=HOSTILE["script"] + HOSTILE["forged"])
    return root, failed


def test_no_string_from_a_results_folder_becomes_markup_in_report_md(tmp_path):
    from benchmarks.report import document

    root, _ = hostile_folder(tmp_path / "r")
    text = document.write(root, tmp_path / "out", "md", warn=lambda *_: None).read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings.count("## What to train") == 1 and not any("forged" in h for h in headings)
    assert not any(line.startswith("| forged") for line in text.splitlines())
    for fragment in ("](javascript:", "<script", "<img", "![p]"):
        assert fragment not in text, fragment
    runs, _ = reading.load(root)
    assert "is not a name a run writes" in runs.loc[runs["status"] == "unreadable", "error"].iloc[0]


def test_the_html_report_runs_no_script_and_fetches_nothing(tmp_path):
    from benchmarks.report import document
    from tests import browser

    root, _ = hostile_folder(tmp_path / "r")
    page = document.write(root, tmp_path / "out", "html", warn=lambda *_: None)  # no KeyError on a fake figure
    html = page.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "href" not in html and "<script" not in html and "<img src=x" not in html
    seen = browser.inspect(page)
    assert (seen["scripts"], seen["links"], seen["handlers"], seen["ran"]) == (0, 0, 0, False), seen
    assert seen["requests"] == [] and seen["images"] and all(w > 0 for w in seen["images"])


@pytest.mark.parametrize("field,value", [("steps", 2**63), ("params", -1), ("test_top1", 1.5), ("gap", -2.0),
                                         ("train_seconds", float("nan"))])
def test_numbers_out_of_range_make_an_unreadable_row_not_a_traceback(tmp_path, field, value):
    from benchmarks.report import document

    for seed in range(2):
        fake_run(tmp_path / "r", "original", seed)
    folder = fake_run(tmp_path / "r", "resnet20", 0)
    record = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**record, field: value}))
    runs, _ = reading.load(tmp_path / "r")
    bad = runs[runs["arch"] == "resnet20"].iloc[0]
    assert bad["status"] == "unreadable" and f"{field}: " in bad["error"] and "outside" in bad["error"]
    document.write(tmp_path / "r", tmp_path / "out", "md", warn=lambda *_: None)  # no TypeError, no log-axis error
    fake_run(tmp_path / "r", "resnet20", 1)
    compare.run(["original", "resnet20"], tmp_path / "r", tmp_path / "out")


# ----------------------------------------------------------------------------- tuned files, hparams
@pytest.mark.parametrize("record,match", [
    ({"builder": {}}, "no recipe object"),
    ({"builder": {}, "recipe": {"learning_rate": "abc", "batch_size": 64}}, "learning_rate must be a positive number"),
    ({"builder": {}, "recipe": {"learning_rate": 1e-3, "batch_size": "x"}}, "batch_size must be a whole number"),
    ({"builder": {}, "recipe": {"learning_rate": 1e-3, "batch_size": 64.7}}, "batch_size must be a whole number"),
    ({"builder": {"filters": 5}, "recipe": {"learning_rate": 1e-3, "batch_size": 64}}, "filters"),
    ({"builder": {"filters": [["a"]]}, "recipe": {"learning_rate": 1e-3, "batch_size": 64}}, "--hparams"),
    (["builder"], "is not a best_hyperparameters.json"),
])
def test_a_bad_tuned_file_is_one_line(tmp_path, cli_in_process, record, match):
    path = tmp_path / "best.json"
    path.write_text(json.dumps(record))
    code, err = cli_in_process("run", "original-tuned", "--preset", "smoke", "--hparams", str(path),
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("hparams,match", [
    ('{"input_shape": [8, 8, 3]}', "takes no option 'input_shape'"),
    ("[" * 100_000 + "]" * 100_000, "cannot read --hparams"),
    ('{"dropout": [0.1]}', "dropout"),
])
def test_bad_hparams_are_one_line(tmp_path, cli_in_process, hparams, match):
    code, err = cli_in_process("run", "original", "--preset", "smoke", "--hparams", hparams,
                               "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and match in err[0], err


def test_report_needs_no_backend_even_when_keras_backend_names_a_missing_one(tmp_path, cli_env):
    """KERAS_BACKEND=jax without JAX installed crashed `report`, which trains nothing."""
    import importlib.util
    import subprocess
    import sys

    missing = [b for b in ("torch", "jax", "tensorflow") if importlib.util.find_spec(b) is None]
    assert missing, "every backend is installed here: nothing to test against"
    for seed in range(2):
        fake_run(tmp_path / "r", "original", seed)
        fake_run(tmp_path / "r", "resnet20", seed)
    for verb in (["report", "--out", str(tmp_path / "out")], ["compare", "original", "resnet20", "--out", str(tmp_path / "c")]):
        proc = subprocess.run([sys.executable, "-m", "benchmarks", *verb, "--results-dir", str(tmp_path / "r")],
                              capture_output=True, text=True, env={**cli_env, "KERAS_BACKEND": missing[0]}, timeout=300)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / "out" / "report.md").exists()


# ------------------------------------------------------------------------------------- tune
def test_a_second_tune_process_on_one_search_is_refused(tmp_path, cli_in_process, monkeypatch):
    """Two `tune` processes on one search trained the same trial ids into the same folders."""
    from benchmarks.tune import engine

    with engine._one_process(tmp_path):
        assert (tmp_path / "claim.json").exists()
        with pytest.raises(ConfigError, match="another `tune` process is running the search"):
            with engine._one_process(tmp_path):
                pass
    assert not (tmp_path / "claim.json").exists()  # released: the same command can run again
    monkeypatch.setattr(engine.Claim, "acquire", lambda self: False)  # as if another process held it
    code, err = cli_in_process("tune", "original", "--dataset", "synthetic", "--tuner", "random", "--max-trials", "1",
                               "--budget", "2steps", "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "another `tune` process" in err[0], err
    assert not list((tmp_path / "r").glob("tuning/*/*/trial_*"))


def test_determinism_is_opt_in(tmp_path, monkeypatch):
    """runner.py turned TensorFlow's op determinism on for every run: on GPUs that forces the slower
    deterministic kernels into exactly what is measured (img/s, time budgets)."""
    from benchmarks.train import backends
    from tests.helpers import config, train

    calls = []
    monkeypatch.setattr(backends, "deterministic_ops", lambda jit: calls.append(1))
    train(config(budget="2steps"), tmp_path / "a")
    assert calls == []
    train(config(budget="2steps", deterministic=True), tmp_path / "b")
    assert calls == [1]


def test_a_suite_runs_seed_by_seed_with_the_post_recipe_in_each_seed():
    """Every row gets seed 0 before any gets seed 1 (an interrupted suite already compares every
    row), and consecutive runs share one seed's data splits."""
    from benchmarks.train import matrix

    configs, _ = matrix.configs([], all_=True, preset="smoke", seeds=[0, 1], budget=parse_sweep("2steps,4steps"), recipe=None,
                           data_flags={}, run_flags={})
    order = [(str(c.budget), c.seed, c.arch, c.recipe.name) for c in configs]
    suite = ("original", "vgg16", "resnet20", "wrn-16-4")
    assert order == [(b, s, a, r) for b in ("2steps", "4steps") for s in (0, 1)
                     for a, r in [*((a, "paper") for a in suite), ("original", "post")]]
