"""Checkpoints that resume a run exactly, at an epoch end or in the middle of one.

Why not `keras.callbacks.BackupAndRestore` or `model.save`: neither resumes inside an epoch at
the batch it stopped at with the metric accumulators of that half-finished epoch, nor keeps the
best-on-validation weights (README, Resume, has the details). So a checkpoint is one .npz of every
variable of the model, the optimizer and the compiled metrics, the best weights and a JSON state.
Every check (variables matched by path and shape, the run it names, zip CRCs) is made before the
first variable is assigned, so a refused file leaves the model as built; the previous checkpoint
is kept until the new one is complete. Numbers only grow and are parsed, never matched by width.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.core.storage import atomic_write
from benchmarks.data import feed
from benchmarks.train import backends

KEEP = 2  # checkpoints kept: the newest and the one before it
_NAME = re.compile(r"ckpt-(\d+)\.npz")


class CheckpointError(ValueError):
    pass


def _canonical(path: str) -> str:
    """A variable path without Keras' per-process uniquifying suffixes ("seed_generator_3" ->
    "seed_generator"): the same model built after others in one process gets other numbers. An
    optimizer slot carries its layer's name inside its own ("sgd/conv2d_3_kernel_momentum")."""
    return re.sub(r"_\d+(?=[/_]|$)", "", path)


def _groups(model) -> dict[str, list]:
    """The variables a checkpoint holds; the device's copy of the data is not state."""
    return {"model": [v for v in model.variables if not feed.is_data(v)],
            "optimizer": list(model.optimizer.variables), "metrics": list(model.metrics_variables)}


def next_number(folder: Path, sequence: int) -> int:
    """The number of the next checkpoint: past `sequence` and past every file already there."""
    return max([sequence, *(number(p) for p in candidates(folder))]) + 1


def number(path: Path) -> int:
    return int(_NAME.fullmatch(path.name).group(1))


def save(folder: Path, model, state: dict[str, Any], best_weights: list[np.ndarray] | None,
         identity: dict[str, Any] | None = None) -> Path:
    """Write checkpoint number `state['sequence']` atomically; keep it and the newest KEEP-1 others."""
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {}
    paths: dict[str, list[str]] = {}
    for group, variables in _groups(model).items():
        paths[group] = [v.path for v in variables]
        for i, v in enumerate(variables):
            arrays[f"{group}/{i}"] = backends.to_numpy(v)
    for i, w in enumerate(best_weights or []):
        arrays[f"best/{i}"] = w
    rng = backends.global_rng_state()
    if rng is not None:
        arrays["rng/global"] = rng
    meta = {"state": state, "paths": paths, "has_best": best_weights is not None, "run": identity}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
    # A numbered name per step: the previous file stays untouched until this one is renamed in.
    path = folder / f"ckpt-{int(state['sequence']):09d}.npz"
    atomic_write(path, lambda f: np.savez(f, **arrays), mode="wb")
    for old in [p for p in candidates(folder) if p != path][KEEP - 1:]:
        old.unlink(missing_ok=True)
    return path


def candidates(folder: Path) -> list[Path]:
    """Checkpoint files, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.fullmatch(p.name)), key=number, reverse=True)


def read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of one checkpoint; CheckpointError when it is truncated or corrupt, or not a
    regular file (a link could reach anything, a FIFO would wait forever)."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise CheckpointError(f"{path.name} is not a regular file (a link, FIFO or folder); never read")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}  # reading checks every member's CRC
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not an object")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, AttributeError) as error:
        # numpy's own message for a non-zip file advises allow_pickle=True: never repeat that.
        reason = "not a zip archive" if "pickle" in str(error) else f"{type(error).__name__}: {error}"
        raise CheckpointError(f"{path.name} is unreadable, truncated or not a checkpoint ({reason})")
    return meta, arrays


def restore(model, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    """Assign every saved variable; return the best weights. Refuses (CheckpointError) a file
    that does not fit this model, before assigning anything."""
    assignments = list(_fitting(model, meta, arrays))
    best = None
    if meta.get("has_best"):
        shapes = [tuple(w.shape) for w in model.weights if not feed.is_data(w)]
        best = [arrays.get(f"best/{i}") for i in range(len(shapes))]
        if any(b is None or tuple(b.shape) != shape for b, shape in zip(best, shapes)):
            raise CheckpointError("its best-on-val weights do not fit this model")
    for variable, value in assignments:
        variable.assign(value)
    backends.set_global_rng_state(arrays.get("rng/global"))
    return best


def _fitting(model, meta, arrays):
    """(variable, value) pairs, after checking that every saved value fits its variable."""
    paths = meta.get("paths")
    if not isinstance(paths, dict):
        raise CheckpointError("it has no variable table (an older format?)")
    for group, variables in _groups(model).items():
        saved = paths.get(group, [])
        if group == "metrics" and not saved:
            continue
        if [_canonical(p) for p in saved] != [_canonical(v.path) for v in variables]:
            raise CheckpointError(f"its {group} variables do not match this model (another model's checkpoint?)")
        for i, v in enumerate(variables):
            value = arrays.get(f"{group}/{i}")
            if value is None or tuple(value.shape) != tuple(v.shape):
                raise CheckpointError(f"{v.path}: saved shape {getattr(value, 'shape', None)} != {tuple(v.shape)}")
            yield v, value


def restore_metrics(model, arrays: dict[str, np.ndarray]) -> None:
    for i, v in enumerate(model.metrics_variables):
        v.assign(arrays[f"metrics/{i}"])


def load_latest(folder: Path, log=print, fits=None) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The newest checkpoint that reads and for which `fits(meta, arrays)` does not raise
    CheckpointError, falling back to older ones (and saying so)."""
    for path in candidates(folder):
        try:
            meta, arrays = read(path)
            if fits is not None:
                fits(meta, arrays)
            return meta, arrays
        except CheckpointError as error:
            log(f"warning: {error if path.name in str(error) else f'{path.name}: {error}'}; skipped "
                f"(an older checkpoint is used if one fits, else the run starts over)")
    return None


class Checkpointer:
    """A run's checkpoint folder: numbered atomic saves (by the chief alone) and the restore of the
    newest checkpoint that reads and fits. Knows when the next in-epoch checkpoint is due."""

    def __init__(self, folder: Path, chief: bool = True, log=print, identity: dict[str, Any] | None = None):
        """`identity`: what names the run (its results folder, data digest); saved in every
        checkpoint and required of one restored."""
        self.folder, self.chief, self.log, self.identity = Path(folder), chief, log, identity
        self.last = time.monotonic()

    def due(self, every_minutes: float) -> bool:
        return time.monotonic() - self.last >= every_minutes * 60

    def save(self, model, state, best_weights) -> None:
        """Checkpoint `model` and `state` (a dataclass with `sequence` and `checkpoint_seconds`)."""
        if not self.chief:
            return
        import dataclasses

        from benchmarks.train import models

        started = time.perf_counter()
        models.sync(model)
        state.sequence = next_number(self.folder, state.sequence)
        save(self.folder, model, dataclasses.asdict(state), best_weights, self.identity)
        state.checkpoint_seconds += time.perf_counter() - started
        self.last = time.monotonic()

    def restore(self, model, make_state):
        """(state, best weights, arrays) of the newest checkpoint that fits, or None.
        `make_state(dict)` builds the state, raising CheckpointError for one that does not fit."""
        restored = {}

        def fits(meta, arrays):  # checks everything, then assigns: see `restore`
            if self.identity is not None and meta.get("run") != self.identity:
                named = meta.get("run") if isinstance(meta.get("run"), dict) else {}
                raise CheckpointError(f"it belongs to another run ({named.get('run') or 'no run named: an older format'})")
            state = make_state(meta.get("state"))
            restored.update(best=restore(model, meta, arrays), state=state, arrays=arrays)

        if load_latest(self.folder, log=self.log, fits=fits) is None:
            return None
        return restored["state"], restored["best"], restored["arrays"]
