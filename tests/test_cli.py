"""The command line's first verb and its errors."""

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.helpers import zoo


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def listing_json(tmp_path_factory):
    import os

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = cli("list", "--format", "json", "--num-classes", "10", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_list_json_has_every_model_with_measured_sizes(listing_json):
    rows = {r["name"]: r for r in listing_json}
    assert list(rows) == zoo()
    assert rows["resnet20"]["params"] == 269_722 and rows["wrn-28-10"]["params"] == 36_479_194
    assert rows["resnet20"]["MMACs"] == pytest.approx(40.6, abs=0.1)
    assert rows["resnet20"]["paper params"] == "0.27M" and "He et al." in rows["resnet20"]["reference"]


def test_list_markdown_and_csv(listing_json, cli_env):
    import pandas as pd

    from benchmarks.cli.listing import render

    table = pd.DataFrame(listing_json)
    markdown, csv = render(table, "markdown"), render(table, "csv")
    for name in zoo():
        assert f"| {name} " in markdown and f"\n{name}," in csv
    assert "269,722" in markdown


@pytest.mark.parametrize("args,fragment", [
    (["frobnicate"], "invalid choice"), (["list", "--format", "xml"], "invalid choice"),
    (["list", "--bogus"], "unrecognized arguments"), (["list", "--num-classes", "1"], "--num-classes"),
])
def test_bad_verbs_and_options_are_one_line_exit_2(cli_env, args, fragment):
    proc = cli(*args, env=cli_env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


@pytest.mark.parametrize("args,fragment", [
    (["run", "resnet20", "--budget", "10parsecs"], "malformed budget"), (["speed", "nope"], "unknown architecture"),
    (["tune", "resnet20", "--dataset", "synthetic"], "no search space"),
    (["report", "--results-dir", "{tmp}/missing"], "does not exist"),
    (["compare", "original", "resnet20", "--results-dir", "{tmp}/missing"], "does not exist"),
])
def test_a_real_process_refuses_bad_input_in_one_line_after_loading_the_libraries(tmp_path, cli_env, args, fragment):
    """What a user sees, per verb, for an error found after TensorFlow and Keras have loaded: one
    line on stderr, exit 2, no traceback and no library notices (the parametrised cases of each verb
    run in-process: `cli_in_process`)."""
    proc = cli(*(a.format(tmp=tmp_path) for a in args), env=cli_env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and fragment in lines[0], proc.stderr


def test_a_run_prints_archbenchs_lines_and_nothing_else(tmp_path, cli_env):
    """A user's shell sets no TF_CPP_MIN_LOG_LEVEL: still no oneDNN, CUDA-stub or absl notice, on
    any backend (Keras' set_random_seed loads TensorFlow beside JAX too). --verbose shows them."""
    env = {k: v for k, v in cli_env.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    args = ("run", "original", "--preset", "smoke", "--budget", "2steps", "--val-split", "100", "--train-eval-size", "100",
            "--results-dir", str(tmp_path))
    proc = cli(*args, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = re.compile(r"original seed 0(:| \|) |\|")
    assert [line for line in (proc.stdout + proc.stderr).splitlines() if not ours.match(line)] == []
    if importlib.util.find_spec("tensorflow"):  # (a bad --hparams: TensorFlow has loaded when it is read)
        loud = cli(*args, "--verbose", "--hparams", "{bad", env=env)
        assert loud.returncode == 2 and re.search("oneDNN|cuda|absl", loud.stderr), loud.stderr[-2000:]
        assert "cannot read --hparams" in loud.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("level,shown", [("2", False), ("0", True)])
def test_tensorflows_python_warnings_follow_the_verbosity(monkeypatch, level, shown):
    """A --quiet run of four printed two TensorFlow "retracing" warnings: each run traces its steps
    anew, and TensorFlow's logger warns from the fifth trace in a process. --verbose keeps them."""
    import logging

    from benchmarks.train import backends

    logger = logging.getLogger("tensorflow")
    before = logger.level
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    try:
        logger.setLevel(logging.NOTSET)
        backends.import_tensorflow_quietly()
        assert logger.isEnabledFor(logging.WARNING) == shown
    finally:
        logger.setLevel(before)


def verbs():
    from benchmarks.cli.commands import build_parser

    (sub,) = [a for a in build_parser()._subparsers._group_actions]
    return sorted(sub.choices)


def test_the_verbs_are_the_documented_ones():
    assert verbs() == ["compare", "list", "report", "run", "speed", "tune"]


@pytest.mark.parametrize("verb", verbs())
def test_every_verb_has_help(cli_env, verb):
    proc = cli(verb, "--help", env=cli_env)
    assert proc.returncode == 0 and f"usage: archbench {verb}" in proc.stdout


def test_a_missing_dataset_is_one_line_before_tensorflow_loads(tmp_path, cli_env):
    """The error came only after TensorFlow and tfds had loaded (11-18 s): specs and archives need
    neither, so the one line comes first (the time itself is left to benchmarks, not tests)."""
    code = ("import sys; from benchmarks.cli import commands; "
            "rc = commands.main(['run', 'resnet20', '--results-dir', sys.argv[1]]); "
            "print(rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], capture_output=True, text=True,
                          env={**cli_env, "TFDS_DATA_DIR": str(tmp_path / "tfds")}, timeout=120)
    assert proc.stdout.split() == ["2", "False", "False"], (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "cifar100 not found" in proc.stderr
    assert not (tmp_path / "r").exists()
