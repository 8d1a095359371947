"""Running a suite (`matrix.configs` makes it, `preflight.prepare` checks it): each run trained,
resumed or skipped in its folder, under its claim, one failure never stopping the others."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from benchmarks.core.config import ConfigError, RunConfig
from benchmarks.core.storage import Claim, NoClaim, set_aside, write_json
from benchmarks.core.units import format_duration
from benchmarks.data.loader import load_splits
from benchmarks.results import reading, schema
from benchmarks.train import control, run_folder
from benchmarks.train.control import Diverged, Interrupted
from benchmarks.train.runner import Run


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
            run_folder.rebuild_history(folder, log)
        if chief and not run_folder.config_readable(folder):  # the summary is whole: only config.json was damaged
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
            aside = run_folder.set_aside_for_restart(results_dir, folder)
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
            run_folder.check_config(folder, config)
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


def _row(config: RunConfig, status: str, record: dict | None) -> dict:
    record = record or {}
    return {"arch": config.arch, "recipe": config.recipe.name, "seed": config.seed, "status": status,
            "epochs": record.get("epochs"), "best val top-1": record.get("best_val_top1"),
            "test top-1": record.get("test_top1"), "train time": format_duration(record.get("train_seconds")),
            "error": record.get("error") or ""}
