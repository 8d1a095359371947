"""Checkpoints that resume a run exactly, at an epoch end or in the middle of one.

Why not `keras.callbacks.BackupAndRestore` or `model.save`: BackupAndRestore ignores the batch
position, drops callback state and deletes its backup when `fit` ends, and neither keeps the
metric accumulators of a half-finished epoch or the best-on-validation weights. So a checkpoint
here is one .npz holding every variable of the model (weights, batch-norm statistics, dropout
seed-generator states), of the optimizer (iteration counter, momenta, loss scale) and of the
compiled metrics, plus the best weights and a JSON state (epoch, step, budget used, history).
Variables are matched by path and shape, so a checkpoint of another model is refused. Zip's
CRCs detect a truncated or corrupt file; the previous checkpoint is kept until the new one is
complete, and loading falls back to it.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.storage import atomic_write

KEEP = 2  # checkpoints kept: the newest and the one before it
_NAME = re.compile(r"ckpt-(\d{9})\.npz")


class CheckpointError(ValueError):
    pass


def _canonical(path: str) -> str:
    """A variable path without Keras' per-process uniquifying suffixes ("seed_generator_3" ->
    "seed_generator"): the same model built after others in one process gets other numbers."""
    return re.sub(r"_\d+(?=/|$)", "", path)


def _groups(model) -> dict[str, list]:
    return {"model": list(model.variables), "optimizer": list(model.optimizer.variables),
            "metrics": list(model.metrics_variables)}


def save(folder: Path, model, state: dict[str, Any], best_weights: list[np.ndarray] | None) -> Path:
    """Write checkpoint number `state['step']` atomically and prune all but the newest KEEP."""
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {}
    paths: dict[str, list[str]] = {}
    for group, variables in _groups(model).items():
        paths[group] = [v.path for v in variables]
        for i, v in enumerate(variables):
            arrays[f"{group}/{i}"] = np.asarray(v.numpy())
    for i, w in enumerate(best_weights or []):
        arrays[f"best/{i}"] = w
    meta = {"state": state, "paths": paths, "has_best": best_weights is not None}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
    # A numbered name per step: the previous file stays untouched until this one is renamed in.
    path = folder / f"ckpt-{int(state['sequence']):09d}.npz"
    atomic_write(path, lambda f: np.savez(f, **arrays), mode="wb")
    for old in candidates(folder)[KEEP:]:
        old.unlink(missing_ok=True)
    return path


def candidates(folder: Path) -> list[Path]:
    """Checkpoint files, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.fullmatch(p.name)), reverse=True)


def read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of one checkpoint; CheckpointError when it is truncated or corrupt."""
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}  # reading checks every member's CRC
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as error:
        raise CheckpointError(f"{path.name} is unreadable ({type(error).__name__}: {error})")
    return meta, arrays


def restore(model, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    """Assign every saved variable; return the best weights. Refuses a different model."""
    for group, variables in _groups(model).items():
        saved = meta["paths"].get(group, [])
        if group == "metrics" and not saved:
            continue
        if [_canonical(p) for p in saved] != [_canonical(v.path) for v in variables]:
            raise CheckpointError(f"checkpoint's {group} variables do not match this model")
        for i, v in enumerate(variables):
            value = arrays[f"{group}/{i}"]
            if tuple(value.shape) != tuple(v.shape):
                raise CheckpointError(f"{v.path}: saved shape {value.shape} != {tuple(v.shape)}")
            v.assign(value)
    if not meta.get("has_best"):
        return None
    return [arrays[f"best/{i}"] for i in range(len(model.get_weights()))]


def restore_metrics(model, arrays: dict[str, np.ndarray]) -> None:
    for i, v in enumerate(model.metrics_variables):
        v.assign(arrays[f"metrics/{i}"])


def load_latest(folder: Path, log=print) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The newest readable checkpoint, falling back to older ones (and saying so)."""
    for path in candidates(folder):
        try:
            return read(path)
        except CheckpointError as error:
            log(f"warning: {error}; falling back to the previous checkpoint")
    return None
