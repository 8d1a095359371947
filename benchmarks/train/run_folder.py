"""A run's folder and the files in it that are not the runner's to write freely: the config it
belongs to, a finished run's damaged history or config repaired, and `--restart` setting a run aside
(never deleting it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.core.config import ConfigError, RunConfig
from benchmarks.core.storage import read_json, set_aside, write_json
from benchmarks.train import checkpoint
from benchmarks.train.record import write_history


def check_config(folder: Path, config: RunConfig) -> None:
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
    if result_changing(held, ours) != result_changing(ours, ours):
        raise ConfigError(f"{folder} holds a run of another configuration; use another --results-dir")


def result_changing(record: dict, known: dict) -> dict:
    """The fields of `record` that change a result, among those this archbench writes (`known`): a key
    added by hand, or by a newer archbench, changes nothing that this one trains."""
    out = {"data_digest": "", **{k: v for k, v in record.items() if k in known and k not in _NOT_RESULT_CHANGING}}
    out["data"] = {k: v for k, v in record["data"].items() if k in known["data"] and k != "data_dir"}
    return out


_NOT_RESULT_CHANGING = ("jit", "checkpoint_every_minutes", "train_eval_every", "tuning")


def config_readable(folder: Path) -> bool:
    try:
        return isinstance(read_json(folder / "config.json", "config"), dict)
    except (OSError, ValueError, RecursionError):
        return False


def rebuild_history(folder: Path, log) -> None:
    """A finished run whose history.csv was damaged: every checkpoint holds the whole history,
    so rewrite it from the newest one that reads (nothing is retrained)."""
    loaded = checkpoint.load_latest(folder / "checkpoints", log=log)
    if loaded is None or not isinstance(loaded[0].get("state", {}).get("history"), list):
        log(f"warning: {folder / 'history.csv'} is unreadable and no checkpoint holds it: --restart retrains the run")
        return
    set_aside(folder / "history.csv", f"is unreadable (rebuilt from checkpoint {loaded[0]['state'].get('sequence')})", log)
    write_history(folder, loaded[0]["state"]["history"])


def set_aside_for_restart(results_dir: Path, folder: Path) -> Path:
    """--restart never deletes: the old run moves under results/.restarted/ (the report skips it)."""
    aside = results_dir / ".restarted" / f"{folder.relative_to(results_dir)}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.rename(folder, aside)
    except OSError as error:  # .restarted is a file, or not writable: nothing is moved, nothing trained
        raise ConfigError(f"--restart cannot move {folder} to {aside.parent} ({error.strerror or error})")
    return aside
