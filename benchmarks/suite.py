"""A suite of runs: planning the (arch x seed) matrix, sharing it between workers, running each."""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from pathlib import Path
from typing import Callable

from benchmarks import results
from benchmarks.config import RECIPES, ConfigError, RunConfig
from benchmarks.data import check_available, load_splits
from benchmarks.runner import Interrupted, Run, _hms
from benchmarks.storage import Claim, read_json, write_json


def shard(configs: list[RunConfig], index: int, count: int) -> list[RunConfig]:
    """The `index`-th of `count` interleaved slices (a Slurm array / indexed job's share)."""
    return configs[index::count]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return index, count


def post_baseline(config: RunConfig) -> RunConfig:
    """`original` with the blog post's own recipe, under the same budget and data."""
    post = RECIPES["post"]
    data = dataclasses.replace(config.data, batch_size=post.batch_size, augment=post.augment)
    return dataclasses.replace(config, arch="original", recipe=post, data=data)


@functools.lru_cache(maxsize=1)  # one split in memory at a time; the raw arrays are cached
def _splits(data_config):
    return load_splits(data_config)


def configure_runtime(deterministic: bool) -> None:
    """Bitwise-repeatable training on the CPU needs one thread per op: measured here, TF's
    multi-threaded gradient kernels (oneDNN and Eigen) sum in a thread-dependent order even with
    `enable_op_determinism()`, so two identical runs drift apart in the 6th digit after a few
    steps. Must run before TensorFlow executes its first op."""
    if deterministic:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def make_strategy(name: str):
    """(strategy or None, is_chief)."""
    if name == "default":
        return None, True
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    # Tried with two workers on 127.0.0.1 (TF_CONFIG): Keras 3.15's fit fails at its first step under
    # MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica ...) to a Tensor").
    # A known upstream gap since TF 2.16 moved to Keras 3 (keras-team/keras#20585, still open;
    # tensorflow/tensorflow#72388). Refuse clearly instead of failing every run; --shard spreads
    # a suite over machines instead.
    raise ConfigError("--strategy multi-worker does not work with Keras 3.15's fit yet (PerReplica "
                      "conversion error); spread a suite over machines with --shard I/N instead")


def run_all(configs: list[RunConfig], results_dir: Path, *, restart: bool = False, strategy=None,
            chief: bool = True, verbose: int = 1, log: Callable[[str], None] = print) -> list[dict]:
    """Run (or resume, or skip) each config; returns one row per run for the closing table."""
    results_dir = Path(results_dir)
    for data_config in {c.data for c in configs}:
        check_available(data_config)
    rows = []
    for config in configs:
        rows.append(run_one(config, results_dir, restart=restart, strategy=strategy, chief=chief,
                            verbose=verbose, log=log))
    return rows


def run_one(config: RunConfig, results_dir: Path, *, restart: bool = False, strategy=None,
            chief: bool = True, verbose: int = 1, log: Callable[[str], None] = print) -> dict:
    folder = results_dir / config.relative_dir()
    existing = results.read_summary(folder)
    if existing and existing.get("status") == "complete" and not restart:
        return _row(config, "skipped (complete)", existing)
    claim = Claim(folder)
    if not claim.acquire():
        return _row(config, "skipped (claimed by another worker)", existing)
    try:
        if restart and folder.exists():
            aside = _set_aside(results_dir, folder)
            log(f"{config.arch} seed {config.seed}: previous run moved to {aside}")
            claim = Claim(folder)
            claim.acquire()
        return _train(config, folder, claim, strategy, chief, verbose, log)
    finally:
        claim.release()


def _train(config, folder, claim, strategy, chief, verbose, log) -> dict:
    _check_config(folder, config)
    splits = _splits(config.data)
    for warning in splits.info.warnings:
        log(f"warning: {warning}")
    run = Run(config, folder, splits, claim=claim, strategy=strategy, chief=chief, log=log, verbose=verbose)
    resumed = run.start()
    if not resumed and verbose:
        log(f"{config.arch} seed {config.seed}: training {config.budget} -> {folder}")
    try:
        run.train()
        record = run.summary("complete", final=run.final_metrics())
    except Interrupted as signal_:
        if chief:
            results.write_summary(folder, run.summary("interrupted", error=f"stopped by {signal_}"))
        log(f"{config.arch} seed {config.seed}: {signal_} received; checkpoint written at step "
            f"{run.state.step}. Run the same command again to resume.")
        raise
    except Exception as error:  # one failed run must not stop the suite; it is recorded
        if chief:
            results.write_summary(folder, run.summary("failed", error=f"{type(error).__name__}: {error}"))
        log(f"{config.arch} seed {config.seed}: FAILED: {type(error).__name__}: {error}")
        return _row(config, "failed", run.summary("failed"))
    if chief:
        results.write_summary(folder, record)
        results.write_history(folder, run.state.history)
    return _row(config, "complete", record)


def _check_config(folder: Path, config: RunConfig) -> None:
    """A folder belongs to one config: refuse to mix another into it (a hash collision)."""
    path = folder / "config.json"
    wanted = {k: v for k, v in config.to_dict().items() if k not in _NOT_RESULT_CHANGING}
    if path.exists():
        held = {k: v for k, v in read_json(path).items() if k not in _NOT_RESULT_CHANGING}
        held["data"] = {k: v for k, v in held["data"].items() if k != "data_dir"}
        mine = {**wanted, "data": {k: v for k, v in wanted["data"].items() if k != "data_dir"}}
        if held != mine:
            raise ConfigError(f"{folder} holds a run of another configuration; use another --results-dir")
    else:
        write_json(path, config.to_dict())


_NOT_RESULT_CHANGING = ("jit", "strategy", "checkpoint_every_minutes", "train_eval_every", "deterministic", "tuning")


def _set_aside(results_dir: Path, folder: Path) -> Path:
    """--restart never deletes: the old run moves under results/.restarted/ (the report skips it)."""
    aside = results_dir / ".restarted" / f"{folder.relative_to(results_dir)}-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, aside)
    return aside


def _row(config: RunConfig, status: str, record: dict | None) -> dict:
    record = record or {}
    return {"arch": config.arch, "recipe": config.recipe.name, "seed": config.seed, "status": status,
            "epochs": record.get("epochs"), "best val top-1": record.get("best_val_top1"),
            "test top-1": record.get("test_top1"), "train time": _hms(record.get("train_seconds"))}
