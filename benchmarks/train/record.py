"""The run record: the one self-describing summary.json of a run, built from the run's parts and
valid against `schema.SUMMARY_SCHEMA` (tests check every record the runner writes)."""

from __future__ import annotations

import csv
import io
import statistics
import time
from pathlib import Path
from typing import Any

import keras

import architectures
from architectures import complexity
from benchmarks.core.storage import atomic_write
from benchmarks.core.units import format_duration
from benchmarks.results import schema
from benchmarks.train import environment


def time_to_target(history: list[dict[str, Any]], targets) -> dict[str, float | None]:
    """Training seconds until val top-1 first reached each target (None: not reached)."""
    return {f"{t:.2f}": next((r["train_seconds"] for r in history if r["val_top1"] >= t), None) for t in targets}


def epoch_row(state, clock, train_logs: dict[str, float], val: dict[str, float], steps: int, seconds: float,
              partial: bool) -> dict[str, Any]:
    """The history row of the epoch (or the partial one at the budget's end) that just ended:
    `steps` and `seconds` of training in it, `val` the selection split's evaluation."""
    batch_size = clock.batch_size
    return {"epoch": state.epoch + 1, "partial": partial, "step": state.step, "images": state.step * batch_size,
            "loss": train_logs.get("loss"), "train_top1": train_logs.get("top1"), "train_top5": train_logs.get("top5"),
            "val_loss": val["loss"], "val_top1": val["top1"], "val_top5": val["top5"], "lr": clock.scheduled_lr(),
            "ce": train_logs.get("ce"), "val_ce": val.get("ce"), "penalty": None,
            "train_seconds": state.train_seconds,
            "images_per_second": steps * batch_size / seconds if seconds > 0 else None,
            "budget_used": min(clock.progress, 1.0), "train_flops": clock.train_flops, "train_eval_top1": None}


def progress_line(who: str, clock, row: dict[str, Any]) -> str:
    """One epoch's progress: budget used, accuracy, loss (cross-entropy + weight-decay penalty, so
    the first can be held against ln(classes)), speed and the ETA."""
    parts = f" = CE {row['ce']:.3f} + L2 {row['loss'] - row['ce']:.3f}" if row.get("ce") is not None else ""
    return (f"{who} | epoch {row['epoch']}{' (partial)' if row['partial'] else ''} | "
            f"budget {row['budget_used']:6.1%} of {clock.budget} | val top-1 {row['val_top1']:6.2%} | "
            f"loss {row['loss']:.3f}{parts} | {row['images_per_second'] or 0:,.0f} img/s | "
            f"ETA {format_duration(clock.eta())}")


def summary_record(config, info, state, clock, model, *, feed: str, status: str, final: dict[str, Any] | None = None,
          error: str | None = None) -> dict[str, Any]:
    """The record of a run as it stands: its config, data `info`, `state`, `clock` and `model`
    (the last two None before it is built); `feed`: where the data is held (device or host);
    `final` adds the end-of-run metrics."""
    history = state.history
    speeds = [r["images_per_second"] for r in history[1:] if r["images_per_second"]] or \
             [r["images_per_second"] for r in history if r["images_per_second"]]
    devices = [s["device"] for s in state.segments]
    record = {
        "schema_version": schema.SCHEMA_VERSION, "status": status, "error": error,
        "diverged_at": state.diverged_at, "variant": config.variant(), "config_hash": config.fingerprint(),
        "arch": config.arch, "family": architectures.spec(config.model_name).family, "seed": config.seed,
        "dataset": info.name, "synthetic": info.synthetic, "data_source": info.source,
        "recipe": config.recipe.name, "budget": str(config.budget), "budget_kind": config.budget.kind,
        "budget_used": min(clock.progress, 1.0) if clock else 0.0,
        "epochs": state.epoch + (1 if state.step_in_epoch else 0),
        "epochs_completed": state.epoch, "steps": state.step,
        "train_seconds": state.train_seconds, "compile_seconds": state.compile_seconds,
        "eval_seconds": state.eval_seconds, "checkpoint_seconds": state.checkpoint_seconds,
        "wall_seconds": state.wall_seconds,
        "train_flops": clock.train_flops if clock else None,
        "train_flops_per_image": clock.flops_per_image if clock else None,
        "images_per_second": statistics.median(speeds) if speeds else None,
        "best_val_top1": state.best_val_top1, "best_epoch": state.best_epoch,
        "final_val_top1": history[-1]["val_top1"] if history else None,
        "final_val_ce": history[-1].get("val_ce") if history else None,
        "final_penalty": history[-1].get("penalty") if history else None,
        "test_top1": None, "test_top5": None, "test_top1_final": None, "test_top5_final": None,
        "train_eval_top1": None, "gap": None,
        "time_to_target": time_to_target(history, info.targets),
        "params": complexity.trainable_params(model) if model is not None else None,
        "mmacs": complexity.macs(model) / 1e6 if model is not None else None,
        "backend": keras.backend.backend(),
        "resume_count": max(len(state.segments) - 1, 0), "segments": state.segments,
        "devices": sorted(set(devices)), "mixed_devices": len(set(devices)) > 1,
        "precision": config.precision, "jit": config.jit, "strategy": config.strategy,
        "batch_size": config.data.batch_size, "learning_rate": config.peak_lr,
        "selected_on": config.data.select_on, "test_used_for_selection": info.test_used_for_selection,
        "data": {**{k: v for k, v in info.to_dict().items() if k != "class_names"},
                 "feed": feed},
        "config": config.to_dict(), "versions": environment.versions(),
        "tuning": dict(config.tuning) or None,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    record.update(final or {})
    return record


def write_history(folder: Path, history: list[dict[str, Any]]) -> None:
    """history.csv (schema.HISTORY_COLUMNS, declared once), replaced atomically; a key the columns
    do not declare (a misspelt one) is an error, never dropped."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, schema.HISTORY_COLUMNS, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write(Path(folder) / "history.csv", lambda f: f.write(buffer.getvalue()))


class Scalars:
    """A run's epoch scalars for TensorBoard, through one writer opened at the first row.

    The runner's own epoch records, not keras.callbacks.TensorBoard: that callback only writes at
    epoch end, which a run stopped by its budget or a signal mid-epoch never reaches. Written on
    the TensorFlow backend only: elsewhere TensorFlow may be absent, and importing it beside JAX
    or torch would claim GPU memory for a few scalars."""

    KEYS = ("loss", "ce", "penalty", "train_top1", "val_loss", "val_ce", "val_top1", "val_top5", "lr",
            "images_per_second")

    def __init__(self, folder: Path):
        self.folder, self._writer = Path(folder), None

    def write(self, row: dict[str, Any]) -> None:
        if keras.backend.backend() != "tensorflow":
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.folder))
        with self._writer.as_default():
            for key in self.KEYS:
                if row.get(key) is not None:
                    tf.summary.scalar(key, row[key], step=row["step"])
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
