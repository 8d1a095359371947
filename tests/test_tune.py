"""`tune`: the post's point of the space, a tiny search, resume after a kill, bad options."""

import dataclasses
import json
import signal
import subprocess
import sys
import time

import pytest

import architectures
from architectures.original import POST_POINT, SEARCH_SPACE, builder_options
from benchmarks import plan, results, suite, tune
from benchmarks.config import PRESETS, Budget
from tests.test_architectures import describe

DATA = dataclasses.replace(PRESETS["smoke"].data, synthetic_train=700, val_size=100, synthetic_test=100,
                           synthetic_classes=10, train_eval_size=100)


def test_the_posts_model_is_one_point_of_the_space():
    post = architectures.build("original")
    point = architectures.build("original", **builder_options(POST_POINT))
    assert [describe(layer) for layer in point.layers] == [describe(layer) for layer in post.layers]
    assert architectures.trainable_params(point) == architectures.trainable_params(post) == 111_898
    hp = tune.hyperparameters()
    assert hp.values == POST_POINT and set(hp.values) == set(SEARCH_SPACE)


def test_the_space_spans_the_posts_suspects():
    deeper = builder_options({"blocks": 4, "convs_per_block": 1, "filters_growth": "double"})
    assert len(deeper["filters"]) == 4 and all(len(b) == 1 for b in deeper["filters"])
    wide = builder_options({"first_filters_growth": "double", "filters_growth": "double", "first_filters": 32})
    assert wide["filters"][2] == (128, 80, 80)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        builder_options({"kernel": 5})


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    best = tune.search("original", tuner="random", max_trials=3, budget=Budget.parse("6steps"), data=DATA,
                       recipe="post", results_dir=folder, log=lambda *_: None)
    return folder, best


def test_a_tiny_search_writes_the_best_and_a_summary(searched):
    folder, best = searched
    project = tune.search_dir(folder, DATA, "original", "random", Budget.parse("6steps"))
    saved = json.loads((project / "best_hyperparameters.json").read_text())
    assert saved == json.loads(tune.best_path(folder, "synthetic").read_text()) == json.loads(json.dumps(best))
    assert saved["trials"] == 3 and saved["compute_seconds"] > 0 and 0 <= saved["score"] <= 1
    assert "test set is never used" in saved["objective"]
    table = (project / "search.csv").read_text().splitlines()
    assert len(table) == 4 and "val_top1" in table[0]
    assert results.run_folders(folder) == []  # trial runs never leak into the report's runs


def test_original_tuned_trains_the_best(searched, tmp_path):
    folder, best = searched
    configs, _ = plan.plan(["original-tuned"], all_=False, preset="smoke", seeds=[0], budget="4steps",
                           recipe=None, data_flags={}, run_flags={}, results_dir=str(folder))
    (config,) = configs
    assert config.recipe.name == "post" and config.recipe.learning_rate == best["recipe"]["learning_rate"]
    assert config.data.batch_size == best["recipe"]["batch_size"]
    config = dataclasses.replace(config, data=dataclasses.replace(DATA, batch_size=config.data.batch_size))
    row = suite.run_one(config, tmp_path, verbose=0, log=lambda *_: None)
    record = results.read_summary(tmp_path / config.relative_dir())
    assert row["status"] == "complete" and record["tuning"]["trials"] == 3
    model = architectures.build("original", num_classes=10, **dict(config.hparams))
    assert record["params"] == architectures.trainable_params(model)


def test_original_tuned_without_a_search_is_a_clear_error(tmp_path):
    with pytest.raises(plan.ConfigError, match="run `python -m benchmarks tune original"):
        plan.plan(["original-tuned"], all_=False, preset="smoke", seeds=[0], budget=None, recipe=None,
                  data_flags={}, run_flags={}, results_dir=str(tmp_path))


def test_a_half_written_trial_file_does_not_break_the_reload(searched, tmp_path):
    import shutil

    folder, _ = searched
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    project = tune.search_dir(copy, DATA, "original", "random", Budget.parse("6steps"))
    trial = project / "trial_1" / "trial.json"
    trial.write_text(trial.read_text()[:40])
    best = tune.search("original", tuner="random", max_trials=3, budget=Budget.parse("6steps"), data=DATA,
                       recipe="post", results_dir=copy, log=lambda *_: None)
    assert (project / "trial_1" / "trial.json.broken").exists() and best["trials"] == 3
    assert json.loads((project / "trial_1" / "trial.json").read_text())["status"] == "COMPLETED"


TUNE = ["tune", "original", "--dataset", "synthetic", "--tuner", "random", "--max-trials", "3", "--budget",
        "3epochs", "--quiet"]


@pytest.mark.slow
def test_killed_mid_trial_the_search_finishes_without_repeating_trials(tmp_path, cli_env):
    command = [sys.executable, "-m", "benchmarks", *TUNE, "--results-dir", str(tmp_path)]
    proc = subprocess.Popen(command, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("tuning/*/*/trial_1/run/checkpoints/ckpt-*.npz")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = json.loads(next(tmp_path.glob("tuning/*/*/trial_0/run/summary.json")).read_text())
    again = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    project = next(tmp_path.glob("tuning/*/*/oracle.json")).parent
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert len(trials) == 3 and all(t["status"] == "COMPLETED" for t in trials)
    runs = {p.parent.parent.name: json.loads(p.read_text()) for p in project.glob("trial_*/run/summary.json")}
    assert len(first["segments"]) == 1
    assert runs["trial_0"]["segments"] == first["segments"]  # the finished trial was not trained again
    assert runs["trial_1"]["resume_count"] >= 1  # the interrupted trial was retried from its checkpoint


@pytest.mark.parametrize("args,fragment", [
    (["resnet20"], "no search space"), (["original", "--max-trials", "0"], "--max-trials"),
    (["original", "--tuner", "grid"], "invalid choice"), (["original", "--budget", "soon"], "malformed budget"),
    (["original", "--recipe", "magic"], "unknown recipe"),
])
def test_bad_search_options_are_one_line_exit_2(tmp_path, cli_env, args, fragment):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "tune", *args, "--dataset", "synthetic",
                           "--results-dir", str(tmp_path)], capture_output=True, text=True, env=cli_env, timeout=120)
    assert proc.returncode == 2 and fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
def test_distributed_search_with_a_chief_and_two_workers(tmp_path, cli_env):
    """keras-tuner's own chief/worker mode, three local processes on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "benchmarks", "tune", "original", "--dataset", "synthetic", "--tuner",
               "random", "--max-trials", "3", "--budget", "4steps", "--results-dir", str(tmp_path), "--quiet"]
    env = {**cli_env, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    chief = subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": "chief"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    workers = [subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in workers + [chief]:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    project = next(tmp_path.glob("tuning/*/*/oracle.json")).parent
    best = json.loads((project / "best_hyperparameters.json").read_text())
    assert best["trials"] == 3
    trained_by = {json.loads(p.read_text())["segments"][0]["pid"] for p in project.glob("trial_*/run/summary.json")}
    assert trained_by <= {w.pid for w in workers} and len(trained_by) >= 1


@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_every_tuner_kind_runs_a_small_search(tmp_path, kind):
    best = tune.search("original", tuner=kind, max_trials=3, budget=Budget.parse("9steps"), data=DATA,
                       recipe="post", results_dir=tmp_path, log=lambda *_: None)
    assert best["tuner"] == kind and 1 <= best["trials"] <= 3
    project = tune.search_dir(tmp_path, DATA, "original", kind, Budget.parse("9steps"))
    steps = {json.loads(p.read_text())["steps"] for p in project.glob("trial_*/run/summary.json")}
    if kind == "hyperband":  # a rung's share of the 9-step budget: 9 * tuner/epochs / 9
        assert steps <= {1, 3, 9} and steps
    else:
        assert steps == {9}
