"""Running a planned suite (`plan` makes it): sharing it between workers (shards), checking each
config against its data, running each run in its folder."""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from pathlib import Path
from typing import Callable

from benchmarks.core.config import ConfigError, RunConfig
from benchmarks.core.storage import Claim, NoClaim, read_json, set_aside, write_json
from benchmarks.core.units import format_duration
from benchmarks.data.loader import Facts, facts, load_splits
from benchmarks.results import reading, schema
from benchmarks.train import checkpoint, control
from benchmarks.train.control import Diverged, Interrupted
from benchmarks.train.record import write_history
from benchmarks.train.runner import Run


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


@functools.lru_cache(maxsize=1)  # one split in memory at a time; the raw arrays are cached
def _splits(data_config):
    return load_splits(data_config)






def run_all(configs: list[RunConfig], results_dir: Path, *, restart: bool = False, strategy=None,
            chief: bool = True, verbose: int = 1, log: Callable[[str], None] = print) -> list[dict]:
    """Run (or resume, or skip) each config, as `prepare` returned them; one row per run for the
    closing table."""
    results_dir = Path(results_dir)
    return [run_one(config, results_dir, restart=restart, strategy=strategy, chief=chief, verbose=verbose, log=log)
            for config in configs]


def prepare(configs: list[RunConfig]) -> list[RunConfig]:
    """Check every config against its data before any run starts (a missing or corrupt dataset,
    a split or batch too large for it, a budget that could never finish: ConfigError, exit 2),
    and complete each run's identity with the digest of the data it will train on."""
    known = {data: facts(data) for data in dict.fromkeys(c.data for c in configs)}
    for config in configs:
        if not check_buildable(config, known[config.data]):
            continue  # its options fail at any size: the run records that failure and the suite goes on
        flops = flops_per_image(config, known[config.data]) if config.budget.kind == "flops" else None
        config.budget.check_ceiling(known[config.data].train_size, config.data.batch_size, flops)
    return [dataclasses.replace(c, data_digest=known[c.data].digest) for c in configs]


DESIGNED_FOR = (32, 32, 3)  # the image shape the registry's builders are written for


def check_buildable(config: RunConfig, data: Facts) -> bool:
    """Whether the model builds for the data's images and classes (an image folder's may be any).
    ConfigError (one line, nothing trained) when the image size is what it cannot take."""
    shape, classes = data.image_shape, data.num_classes
    if shape == DESIGNED_FOR and config.budget.kind != "flops":  # a FLOPs budget counts MACs: built anyway
        return True  # every registered model takes CIFAR's images: the run builds it, once
    try:
        _macs(config.model_name, config.hparams, classes, shape)
        return True
    except ValueError as error:
        try:
            _macs(config.model_name, config.hparams, classes, DESIGNED_FOR)
        except ValueError:
            return False
        reason = str(error).strip().splitlines()[0][:160]
        raise ConfigError(f"{config.model_name} cannot be built for {shape[1]}x{shape[0]} images with {classes} classes "
                          f"({reason}); choose another architecture or larger images")


def flops_per_image(config: RunConfig, data: Facts) -> float:
    """Training FLOPs per image of `config`'s model on `data` (built once, to count its MACs)."""
    from benchmarks.core.budget import train_flops_per_image

    return train_flops_per_image(_macs(config.model_name, config.hparams, data.num_classes, data.image_shape))


@functools.lru_cache(maxsize=None)
def _macs(arch, hparams, classes, shape) -> float:
    """MACs per image of `arch` built for `shape` and `classes` (built once per distinct request)."""
    import architectures
    from architectures import complexity

    return complexity.macs(architectures.build(arch, num_classes=classes, input_shape=shape, **dict(hparams)))


FINISHED = ("complete", "diverged")  # re-running the same command does not train these again


def run_one(config: RunConfig, results_dir: Path, *, restart: bool = False, strategy=None,
            chief: bool = True, verbose: int = 1, log: Callable[[str], None] = print) -> dict:
    folder = results_dir / config.relative_dir()
    existing = schema.read_summary(folder)
    if isinstance(existing, dict) and existing.get("status") in FINISHED and not restart:
        problem = reading.summary_problem(folder)
        if problem:  # a value of the wrong type or range is never shown as a figure
            existing = {"error": problem}
            log(f"warning: {problem}; `--restart` retrains the run")
        if chief and not reading.history_readable(folder):
            _rebuild_history(folder, log)
        if chief and not _config_readable(folder):  # the summary is whole: only config.json was damaged
            set_aside(folder / "config.json", "cannot be read", log)
            write_json(folder / "config.json", config.to_dict())
        return _row(config, f"skipped ({existing.get('status', 'unreadable summary')})", existing)
    claim = Claim(folder) if chief else NoClaim()  # the processes of one multi-worker run share its claim
    try:
        if not claim.acquire():
            return _row(config, "skipped (claimed by another worker)", existing)
    except OSError as error:  # claim.json is a folder, a link or a device: this run only fails
        log(f"{config.arch} seed {config.seed}: FAILED: {error}")
        return _row(config, "failed", {"error": str(error)})
    try:
        if restart and chief and folder.exists():
            aside = _set_aside(results_dir, folder)
            log(f"{config.arch} seed {config.seed}: previous run moved to {aside}")
            claim = Claim(folder)
            claim.acquire()
        return _train(config, folder, claim, strategy, chief, verbose, log)
    finally:
        claim.release()


def _train(config, folder, claim, strategy, chief, verbose, log) -> dict:
    who = f"{config.arch} seed {config.seed}"
    try:
        if chief:
            _check_config(folder, config)
    except ConfigError as error:  # the folder is another run's: record nothing in it
        log(f"{who}: FAILED: {error}")
        return _row(config, "failed", {"error": str(error)})
    splits = _splits(config.data)
    for warning in splits.info.warnings:
        log(f"warning: {warning}")
    run = Run(config, folder, splits, claim=claim, strategy=strategy, chief=chief, log=log, verbose=verbose)
    try:
        resumed = run.start()  # building and restoring can fail too: inside the try
        if not resumed and verbose:
            log(f"{who}: training {config.budget} -> {folder}")
        run.train()
        record = run.summary("complete", final=run.evaluator.final())
    except Interrupted as signal_:
        if chief:
            with control.recording():  # a second Ctrl-C now waits for this write
                schema.write_summary(folder, run.summary("interrupted", error=f"stopped by {signal_}"))
        if signal_.at_once:
            log(f"{who}: stopped at once by a second {signal_}; the last checkpoint on disk (step "
                f"{run.state.step} or earlier) is kept. Run the same command again to resume.")
        else:
            log(f"{who}: {signal_} received; checkpoint written at step {run.state.step}. "
                f"Run the same command again to resume.")
        raise
    except Diverged as diverged:  # a result about the recipe: recorded, never retrained
        record = run.summary("diverged", error=str(diverged))
        log(f"{who}: DIVERGED: {diverged}")
    except Exception as error:  # one failed run must not stop the suite; it is recorded
        message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        if chief:
            schema.write_summary(folder, run.summary("failed", error=message))
        log(f"{who}: FAILED: {message}")
        return _row(config, "failed", {"error": message})
    if chief:
        schema.write_summary(folder, record)
    return _row(config, record["status"], record)


def _check_config(folder: Path, config: RunConfig) -> None:
    """A folder belongs to one config: refuse to mix another into it (a hash collision)."""
    path = folder / "config.json"
    try:
        held = read_json(path)
    except FileNotFoundError:
        held = None
    except (OSError, ValueError):  # torn before it was ever renamed in? rewritten below
        held = None
    if not isinstance(held, dict) or not isinstance(held.get("data"), dict):
        if held is not None or os.path.lexists(path):
            set_aside(path, "is not a run configuration")
        write_json(path, config.to_dict())
        return
    ours = config.to_dict()
    if _result_changing(held, ours) != _result_changing(ours, ours):
        raise ConfigError(f"{folder} holds a run of another configuration; use another --results-dir")


def _result_changing(record: dict, known: dict) -> dict:
    """The fields of `record` that change a result, among those this archbench writes (`known`): a key
    added by hand, or by a newer archbench, changes nothing that this one trains."""
    out = {"data_digest": "", **{k: v for k, v in record.items() if k in known and k not in _NOT_RESULT_CHANGING}}
    out["data"] = {k: v for k, v in record["data"].items() if k in known["data"] and k != "data_dir"}
    return out


_NOT_RESULT_CHANGING = ("jit", "checkpoint_every_minutes", "train_eval_every", "tuning")


def _config_readable(folder: Path) -> bool:
    try:
        return isinstance(read_json(folder / "config.json", "config"), dict)
    except (OSError, ValueError, RecursionError):
        return False


def _rebuild_history(folder: Path, log) -> None:
    """A finished run whose history.csv was damaged: every checkpoint holds the whole history,
    so rewrite it from the newest one that reads (nothing is retrained)."""
    loaded = checkpoint.load_latest(folder / "checkpoints", log=log)
    if loaded is None or not isinstance(loaded[0].get("state", {}).get("history"), list):
        log(f"warning: {folder / 'history.csv'} is unreadable and no checkpoint holds it: --restart retrains the run")
        return
    set_aside(folder / "history.csv", f"is unreadable (rebuilt from checkpoint {loaded[0]['state'].get('sequence')})", log)
    write_history(folder, loaded[0]["state"]["history"])


def _set_aside(results_dir: Path, folder: Path) -> Path:
    """--restart never deletes: the old run moves under results/.restarted/ (the report skips it)."""
    aside = results_dir / ".restarted" / f"{folder.relative_to(results_dir)}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.rename(folder, aside)
    except OSError as error:  # .restarted is a file, or not writable: nothing is moved, nothing trained
        raise ConfigError(f"--restart cannot move {folder} to {aside.parent} ({error.strerror or error})")
    return aside


def _row(config: RunConfig, status: str, record: dict | None) -> dict:
    record = record or {}
    return {"arch": config.arch, "recipe": config.recipe.name, "seed": config.seed, "status": status,
            "epochs": record.get("epochs"), "best val top-1": record.get("best_val_top1"),
            "test top-1": record.get("test_top1"), "train time": format_duration(record.get("train_seconds")),
            "error": record.get("error") or ""}
