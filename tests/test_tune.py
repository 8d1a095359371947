"""`tune`: the post's point of the space, a tiny search, resume after a kill, bad options."""

import dataclasses
import json
import re
import signal
import time

import pytest

import architectures
from architectures import complexity
from architectures.original_space import POST_POINT, SEARCH_SPACE, builder_options
from benchmarks.cli import commands
from benchmarks.core.budget import parse_sweep
from benchmarks.core.config import PRESETS, Budget, ConfigError, DataConfig
from benchmarks.results import reading, schema, tuned
from benchmarks.train import matrix, suite
from benchmarks.tune import bookkeeping, engine, findings
from tests.helpers import cli, held, hold
from tests.test_architectures import describe

# Searches here are about bookkeeping, not about what they find: seed 2's first random points are
# small models (3, 23 and 55 MMACs; the default seed's second is 3,410 MMACs, minutes on 2 cores).
SEED = 2
DATA = dataclasses.replace(PRESETS["smoke"].data, synthetic_train=700, val_size=100, synthetic_test=100,
                           synthetic_classes=10, train_eval_size=100, seed=SEED)


def test_the_posts_model_is_one_point_of_the_space():
    post = architectures.build("original")
    point = architectures.build("original", **builder_options(POST_POINT))
    assert [describe(layer) for layer in point.layers] == [describe(layer) for layer in post.layers]
    assert complexity.trainable_params(point) == complexity.trainable_params(post) == 111_898
    hp = bookkeeping.hyperparameters()
    assert hp.values == POST_POINT and set(hp.values) == set(SEARCH_SPACE)


def test_the_space_spans_the_posts_suspects():
    deeper = builder_options({"blocks": 4, "convs_per_block": 1, "filters_growth": "double"})
    assert len(deeper["filters"]) == 4 and all(len(b) == 1 for b in deeper["filters"])
    wide = builder_options({"first_filters_growth": "double", "filters_growth": "double", "first_filters": 32})
    assert wide["filters"][2] == (128, 80, 80)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        builder_options({"kernel": 5})


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_seed_0_fixes_the_search_like_any_other_seed(kind):
    """keras-tuner took seed 0 for "no seed" and drew one at random: the default search differed
    from run to run (and so did the suite's time: one trial sequence trained 3x longer)."""
    first, again = (engine._oracle(kind, 3, 0) for _ in range(2))
    assert first.seed == again.seed == engine.SEED_FOR_ZERO
    assert engine._oracle(kind, 3, 1).seed == 1  # any other seed is keras-tuner's seed as it is


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    best = engine.search("original", tuner="random", max_trials=3, budget=Budget.parse("6steps"), data=DATA,
                       recipe="post", results_dir=folder, log=lambda *_: None)
    return folder, best


def test_a_tiny_search_writes_the_best_and_a_summary(searched):
    folder, best = searched
    project = engine.search_dir(folder, DATA, "original", "random", Budget.parse("6steps"))
    saved = json.loads((project / "best_hyperparameters.json").read_text())
    assert saved == json.loads(tuned.best_path(folder, "synthetic").read_text()) == json.loads(json.dumps(best))
    assert saved["trials"] == 3 and saved["compute_seconds"] > 0 and 0 <= saved["score"] <= 1
    assert "test set is never used" in saved["objective"]
    table = (project / "search.csv").read_text().splitlines()
    assert len(table) == 4 and "val_top1" in table[0]
    assert reading.run_folders(folder) == []  # trial runs never leak into the report's runs


def test_original_tuned_trains_the_best(searched, tmp_path):
    folder, best = searched
    configs, _ = matrix.configs(["original-tuned"], all_=False, preset="smoke", seeds=[0], budget=parse_sweep("4steps"),
                           recipe=None, data_flags={}, run_flags={}, results_dir=str(folder))
    (config,) = configs
    assert config.recipe.name == "post" and config.recipe.learning_rate == best["recipe"]["learning_rate"]
    assert config.data.batch_size == best["recipe"]["batch_size"]
    config = dataclasses.replace(config, data=dataclasses.replace(DATA, batch_size=config.data.batch_size))
    row = suite.run_one(config, tmp_path, verbose=0, log=lambda *_: None)
    record = schema.read_summary(tmp_path / config.relative_dir())
    assert row["status"] == "complete" and record["tuning"]["trials"] == 3
    model = architectures.build("original", num_classes=10, **dict(config.hparams))
    assert record["params"] == complexity.trainable_params(model)


def test_original_tuned_without_a_search_is_a_clear_error(tmp_path):
    with pytest.raises(matrix.ConfigError, match="run `python -m benchmarks tune original"):
        matrix.configs(["original-tuned"], all_=False, preset="smoke", seeds=[0], budget=None, recipe=None,
                  data_flags={}, run_flags={}, results_dir=str(tmp_path))


def test_a_half_written_trial_file_does_not_break_the_reload(searched, tmp_path):
    import shutil

    folder, _ = searched
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    project = engine.search_dir(copy, DATA, "original", "random", Budget.parse("6steps"))
    trial = project / "trial_1" / "trial.json"
    trial.write_text(trial.read_text()[:40])
    best = engine.search("original", tuner="random", max_trials=3, budget=Budget.parse("6steps"), data=DATA,
                       recipe="post", results_dir=copy, log=lambda *_: None)
    assert (project / "trial_1" / "trial.json.broken").exists() and best["trials"] == 3
    assert json.loads((project / "trial_1" / "trial.json").read_text())["status"] == "COMPLETED"


# Real processes (tests/launch.py: the smoke data is tests.helpers.SMALL). Two epochs a trial: the
# kill lands after trial 1's first checkpoint, with more of it to go.
TUNE = ["original", "--dataset", "synthetic", "--tuner", "random", "--max-trials", "3", "--budget", "2epochs",
        "--seed", str(SEED), "--quiet"]


@pytest.mark.slow
def test_killed_mid_trial_the_search_finishes_without_repeating_trials(tmp_path, cli_env):
    marker, results = tmp_path / "held.json", tmp_path / "results"
    proc = cli(TUNE, results, hold(cli_env, 1, marker, folder="trial_1"), verb="tune")
    assert held(proc, marker)["step"] >= 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = json.loads(next(results.glob("tuning/*/*/trial_0/run/summary.json")).read_text())
    again = cli(TUNE, results, cli_env, verb="tune")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    project = next(results.glob("tuning/*/*/oracle.json")).parent
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
def test_bad_search_options_are_one_line_exit_2(tmp_path, cli_in_process, args, fragment):
    code, lines = cli_in_process("tune", *args, "--dataset", "synthetic", "--results-dir", str(tmp_path))
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines


@pytest.mark.parametrize("args,fragment", [
    (["--val-split", "100000"], "val split of 100000 leaves no training images"),
    (["--val-split", "1900"], "leaves 100 training images, fewer than the search's largest batch (256)"),
    (["--val-split", "0"], "--val-split must be > 0"),
    (["--budget", "1e20steps"], "could never finish"),
])
def test_data_and_budget_no_trial_could_use_are_refused_before_the_search(tmp_path, cli_in_process, args, fragment):
    code, lines = cli_in_process("tune", "original", "--dataset", "synthetic", *args, "--results-dir", str(tmp_path))
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert not (tmp_path / "tuning").exists()  # no search folder to block the corrected command


def test_the_search_folder_names_everything_that_changes_a_trial(tmp_path):
    def folder(data=None, tuner="bayesian", budget="15m", **identity):
        return engine.search_dir(tmp_path, data or DataConfig(), "original", tuner, Budget.parse(budget), **identity)

    canonical = folder()
    assert canonical == tmp_path / "tuning" / "cifar100" / "original-bayesian-15m"
    # Every trial sets its own batch size and augmentation; the data's location is not its content.
    assert folder(DataConfig(batch_size=32, augment="strong", data_dir="/elsewhere")) == canonical
    hashed = [folder(DataConfig(val_size=1000)), folder(DataConfig(seed=1)), folder(recipe="paper"),
              folder(DataConfig(train_eval_size=100)), folder(data_digest="0123abcd")]
    readable = [folder(DataConfig(labels="coarse")), folder(DataConfig(dataset="cifar10")), folder(tuner="random"),
                folder(budget="30m")]
    assert len({canonical, *hashed, *readable}) == 10
    for path in hashed:
        assert path.parent == canonical.parent and re.fullmatch(r"original-bayesian-15m-[0-9a-f]{8}", path.name)
    assert folder(DataConfig(labels="coarse")).name == "original-bayesian-15m"  # the dataset folder says it
    assert "-" in engine.search_dir(tmp_path, DATA, "original", "random", Budget.parse("6steps")).name[-9:]


def test_a_folder_holding_another_search_is_refused(tmp_path):
    project = engine.search_dir(tmp_path, DATA, "original", "random", Budget.parse("2steps"))
    project.mkdir(parents=True)
    (project / "search.json").write_text(json.dumps({"arch": "original", "differences": {"seed": 7}}))
    with pytest.raises(ConfigError, match="holds another search"):
        engine.search("original", tuner="random", max_trials=1, budget=Budget.parse("2steps"), data=DATA,
                    recipe="post", results_dir=tmp_path, log=lambda *_: None)


def test_failed_trials_stop_the_search_in_one_line_and_the_same_command_retries_them(tmp_path, monkeypatch, capsys):
    command = ["tune", "original", "--dataset", "synthetic", "--seed", str(SEED), "--tuner", "random", "--max-trials", "4",
               "--budget", "2steps", "--results-dir", str(tmp_path), "--quiet"]

    def broken(self, trial):
        raise RuntimeError("out of memory\n(a second line)")

    with monkeypatch.context() as patched:
        patched.setattr(engine.RunnerTuner, "_train", broken)
        assert commands.main(command) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3 trials in a row failed, the last with RuntimeError: out of memory" in err[0], err
    project = next(tmp_path.glob("tuning/synthetic/*/oracle.json")).parent
    assert len(list(project.glob("trial_*/trial.json"))) == 3  # stopped at the third failure, not at 4

    assert commands.main(command) == 0  # the cause is fixed: the same command retries them, then goes on
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    assert json.loads((project / "best_hyperparameters.json").read_text())["trials"] == 4
    assert capsys.readouterr().err == ""


def test_a_search_where_no_trial_completed_says_so_in_one_line(tmp_path, monkeypatch):
    def broken(self, trial):
        raise ValueError("bad point")

    monkeypatch.setattr(engine.RunnerTuner, "_train", broken)
    expected = "no trial of .* completed [(]2 failed, the last with ValueError: bad point[)]"
    with pytest.raises(findings.SearchFailed, match=expected):
        engine.search("original", tuner="random", max_trials=2, budget=Budget.parse("2steps"), data=DATA,
                    recipe="post", results_dir=tmp_path, log=lambda *_: None)


def test_a_diverged_trial_is_a_result_scored_zero_not_a_failure(tmp_path, monkeypatch):
    from benchmarks.train import control, runner

    def diverge(self):
        raise control.Diverged("loss nan at epoch 1, step 1")

    monkeypatch.setattr(runner.Run, "train", diverge)
    best = engine.search("original", tuner="random", max_trials=1, budget=Budget.parse("2steps"), data=DATA,
                       recipe="post", results_dir=tmp_path, log=lambda *_: None)
    assert best["trials"] == 1 and best["score"] == 0.0 and best["failed_trials"] == 0
    project = engine.search_dir(tmp_path, DATA, "original", "random", Budget.parse("2steps"))
    assert json.loads((project / "trial_0" / "run" / "summary.json").read_text())["status"] == "diverged"


@pytest.mark.slow
def test_distributed_search_with_a_chief_and_two_workers(tmp_path, cli_env):
    """keras-tuner's own chief/worker mode, three local processes on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["original", "--dataset", "synthetic", "--seed", str(SEED), "--tuner", "random", "--max-trials", "3",
            "--budget", "4steps", "--quiet"]
    env = {**cli_env, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    chief = cli(args, tmp_path, {**env, "KERASTUNER_TUNER_ID": "chief"}, verb="tune")
    time.sleep(3)
    workers = [cli(args, tmp_path, {**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}, verb="tune") for i in range(2)]
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
    budget = Budget.parse("9steps" if kind == "hyperband" else "3steps")  # the third bayesian trial is the GP's
    best = engine.search("original", tuner=kind, max_trials=3, budget=budget, data=DATA,
                       recipe="post", results_dir=tmp_path, log=lambda *_: None)
    assert best["tuner"] == kind and 1 <= best["trials"] <= 3
    project = engine.search_dir(tmp_path, DATA, "original", kind, budget)
    steps = {json.loads(p.read_text())["steps"] for p in project.glob("trial_*/run/summary.json")}
    if kind == "hyperband":  # a rung's share of the 9-step budget: 9 * tuner/epochs / 9
        assert steps <= {1, 3, 9} and steps
    else:
        assert steps == {3}
