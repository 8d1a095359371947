"""Helpers the test modules share: small run configs and their records, subprocess runs, and
hand-written results folders. A plain module (`from tests.helpers import ...`): pytest's
conftest.py is for fixtures and is not meant to be imported by name."""

import csv
import dataclasses
import glob
import json
import subprocess
import sys
import time
from pathlib import Path

import keras
import pandas as pd

from architectures import register
from benchmarks.core.budget import Budget
from benchmarks.core.config import PRESETS, RECIPES, RunConfig
from benchmarks.results import reading, schema

# The loop-accounting tests (budgets, resume, records, failures) test the runner, not a network:
# they train this. It builds and compiles in about 1 s where ResNet-20 takes 8 (measured on 2
# cores). Tests where the architecture is what is tested name a real one.
TINY = "tiny-test"


@register(TINY, family="test", description="one strided convolution, batch norm, pooling, dropout, softmax",
          reference="tests")
def _tiny(num_classes: int = 10, input_shape=(32, 32, 3), *, weight_decay: float = 0.0, width: int = 8):
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Conv2D(width, 3, strides=2, kernel_regularizer=regularizer)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.1)(x)  # a random state that an exact resume must restore
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="tiny")


def zoo() -> list[str]:
    """The registry's names as a process that never imported the tests sees them."""
    import architectures

    return [name for name in architectures.names() if name != TINY]


SMALL = dataclasses.replace(PRESETS["smoke"].data, synthetic_train=700, val_size=100, synthetic_test=100,
                            synthetic_classes=10, train_eval_size=100, batch_size=32, augment="standard")


STEPS_PER_EPOCH = 600 // 32  # 18


def config(arch=TINY, budget="1epochs", recipe="paper", **kw):
    return RunConfig(arch=arch, data=dataclasses.replace(SMALL, **kw.pop("data", {})), recipe=RECIPES[recipe],
                     budget=Budget.parse(budget), **kw)


def train(cfg, folder, **kw):
    from benchmarks.train import suite  # the readers' helpers need no Keras

    return suite.run_one(cfg, Path(folder), **{"verbose": 0, "log": lambda *_: None, **kw})


def summary_of(folder, cfg):
    return schema.read_summary(Path(folder) / cfg.relative_dir())


def history_of(folder, cfg=None, pattern="**/history.csv"):
    path = Path(folder) / cfg.relative_dir() / "history.csv" if cfg else next(Path(folder).glob(pattern))
    with open(path) as f:
        return list(csv.DictReader(f))


ROOT = Path(__file__).resolve().parent.parent


def cli(args, results_dir, env, verb="run", **kw):
    """`archbench VERB ARGS` in a process of its own, through tests/launch.py: `tiny-test` there,
    the smoke preset's data is SMALL, and ARCHBENCH_TEST_HOLD in `env` holds a run at a checkpoint."""
    return subprocess.Popen([sys.executable, "-m", "tests.launch", verb, *args, "--results-dir", str(results_dir)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# A run of tiny-test in a process of its own (`cli`): a checkpoint at every step, so a kill can land
# anywhere; deterministic, so a resumed run can be held to the uninterrupted one (`compared`).
RESUME_ARGS = [TINY, "--preset", "smoke", "--batch-size", "32", "--budget", "2epochs", "--deterministic",
               "--checkpoint-every", "0.00001", "--quiet"]
COMPARED = ("epoch", "step", "loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5", "lr")


def compared(results_dir):
    """(history rows, final figures, summary) of the one run under `results_dir`: what an exact
    resume must reproduce."""
    rows = history_of(results_dir)
    summary = json.loads(next(Path(results_dir).glob("**/summary.json")).read_text())
    final = {k: summary[k] for k in ("test_top1", "test_top5", "test_top1_final", "train_eval_top1", "steps")}
    return [{k: r[k] for k in COMPARED} for r in rows], final, summary


def hold(env, step, marker, folder=""):
    """`env` for a process (`cli`) whose run waits after its first checkpoint at or past `step`."""
    from tests.launch import HOLD

    return {**env, HOLD: f"{step}:{marker}:{folder}"}


def held(proc, marker, timeout=180):
    """Wait until `proc` holds (see `hold`); the position it holds at: epoch, step, step_in_epoch."""
    wait_for(Path(marker).exists, proc, timeout)
    return json.loads(Path(marker).read_text())


def latest_state(results_dir):
    from benchmarks.train import checkpoint

    for path in sorted(glob.glob(f"{results_dir}/**/ckpt-*.npz", recursive=True), reverse=True):
        try:
            return checkpoint.read(Path(path))[0]["state"]
        except (checkpoint.CheckpointError, OSError):
            continue
    return None


def wait_for(predicate, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("timed out")


def _default(types):
    return {int: 0, float: 0.0, str: "", bool: False, dict: {}, list: [], type(None): None}[types[0]]


def fake_run(root: Path, arch="resnet20", seed=0, recipe="paper", variant="", status="complete",
             test_top1=0.5, budget="2epochs", **fields) -> Path:
    """One run folder with a summary that passes `validate_summary`, its config and a 2-epoch history,
    in the folder `run --budget <budget>` gives it (a sweep is one call per budget)."""
    config_hash = f"{abs(hash(variant)) % 16**8:08x}" if variant else ""
    record = {key: _default(types) for key, (types, _) in schema.SUMMARY_SCHEMA.items()}
    record.update(schema_version=schema.SCHEMA_VERSION, status=status, arch=arch, family="resnet", seed=seed,
                  dataset="synthetic", synthetic=True, data_source="synthetic", recipe=recipe, budget=budget,
                  budget_kind=Budget.parse(budget).kind, precision="float32", backend="tensorflow", devices=["CPU"],
                  variant=variant, config_hash=config_hash, epochs=2, steps=40, train_seconds=100.0, images_per_second=1000.0,
                  best_val_top1=test_top1, final_val_top1=test_top1, test_top1=test_top1, test_top5=0.9,
                  train_eval_top1=min(test_top1 + 0.05, 1.0), gap=0.05, time_to_target={"0.52": 60.0}, params=1000,
                  mmacs=10.0, data={"sha256_ok": None, "warnings": []}, diverged_at=None, tuning=None)
    record.update(fields)
    assert schema.validate_summary(record) == []
    tag = f"{recipe}-{budget}" + (f"-{config_hash}" if config_hash else "")
    folder = root / "synthetic" / tag / arch / f"seed-{seed}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(record))
    (folder / "config.json").write_text(json.dumps({"arch": arch, "seed": seed}))
    history = pd.DataFrame({c: [1.0, 2.0] for c in schema.HISTORY_COLUMNS})
    history.assign(epoch=[1, 2], step=[20, 40], partial=[False, False], val_top1=[0.3, test_top1]).to_csv(folder / "history.csv",
                                                                                          index=False)
    return folder


def two_arch_folder(root: Path) -> Path:
    for seed, (a, b) in enumerate([(0.50, 0.60), (0.52, 0.62)]):
        fake_run(root, "original", seed, test_top1=a)
        fake_run(root, "resnet20", seed, test_top1=b)
    return root


def sweep_folder(root: Path, scores: dict, **fields) -> Path:
    """{budget: {arch: [test top-1 of each seed]}} as fake run folders."""
    for budget, archs in scores.items():
        for arch, values in archs.items():
            for seed, value in enumerate(values):
                fake_run(root, arch, seed, test_top1=value, budget=budget, **fields)
    return root


def table_of(root: Path):
    from benchmarks.report import answer

    runs, _ = reading.load(root)
    (_, group), = answer.settings(runs)
    return answer.what_to_train(group)
