"""A search's result as the runner reads it: best_hyperparameters.json, where `run original-tuned`
finds it and how it is checked (`tune` writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.core.config import ConfigError
from benchmarks.core.storage import read_json


def best_path(results_dir: Path, dataset_name: str, arch: str = "original") -> Path:
    """Where `run original-tuned` looks: the latest search's best for this dataset."""
    return Path(results_dir) / "tuning" / dataset_name / arch / "best_hyperparameters.json"


def load_best(path: Path) -> dict[str, Any]:
    try:
        record = read_json(path)
    except (OSError, ValueError, RecursionError) as error:
        raise ConfigError(f"cannot read tuned hyperparameters {path}: {str(error)[:200] or type(error).__name__}")
    if not isinstance(record, dict) or "builder" not in record:
        raise ConfigError(f"{path} is not a best_hyperparameters.json written by `tune`")
    return record
