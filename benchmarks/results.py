"""The results folder: where each run lives, its self-describing record, and loading into pandas.

    results/<dataset>/<recipe>-<budget>[-<hash>]/<arch>/seed-<s>/
        config.json      the RunConfig, as run
        summary.json     one record per run (schema below), replaced atomically
        history.csv      one row per epoch
        environment.json one entry per segment (host, device, versions)
        checkpoints/     ckpt-<n>.npz, the newest two
        tensorboard/     epoch scalars
        claim.json       present while a worker trains the run
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from benchmarks.storage import atomic_write, read_json, write_json

SCHEMA_VERSION = 1
STATUSES = ("complete", "diverged", "running", "interrupted", "failed")  # written by the runner
READ_STATUSES = (*STATUSES, "unreadable")  # a run whose files cannot be read (set by `load`)

# summary.json: field -> (allowed JSON types, meaning). Documented in the README; tests validate
# every summary the runner writes against it.
_NUM = (int, float)
SUMMARY_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "schema_version": ((int,), "this table's version"),
    "status": ((str,), "complete | diverged | running | interrupted | failed"),
    "error": ((str, type(None)), "the error of a failed run, or what diverged"),
    "diverged_at": ((dict, type(None)), "a diverged run: epoch (1-based), step and the non-finite loss"),
    "variant": ((str,), "what differs from the canonical run of this arch and recipe ('' when nothing)"),
    "config_hash": ((str,), "hash of the differences in the run folder's name ('' when canonical)"),
    "arch": ((str,), "registered architecture name"),
    "family": ((str,), "original | vgg | resnet | wide_resnet"),
    "seed": ((int,), "fixes split, data order, augmentation, init"),
    "dataset": ((str,), "cifar100, cifar100-coarse, cifar10 or synthetic"),
    "synthetic": ((bool,), "true for the embedded synthetic dataset"),
    "data_source": ((str,), "tfds | archive | synthetic"),
    "recipe": ((str,), "recipe name (paper, post)"),
    "budget": ((str,), "as given: 50epochs, 20000steps, 5e6images, 30m"),
    "budget_kind": ((str,), "epochs | steps | images | seconds"),
    "budget_used": (_NUM, "share of the budget spent, 0..1"),
    "epochs": ((int,), "epochs started (a partial last epoch counts)"),
    "epochs_completed": ((int,), "whole epochs"),
    "steps": ((int,), "training steps done"),
    "train_seconds": (_NUM, "seconds in training steps, summed over resumes (charged to the budget)"),
    "compile_seconds": (_NUM, "first step of each segment (tracing/compiling), included above"),
    "eval_seconds": (_NUM, "seconds evaluating (not charged)"),
    "checkpoint_seconds": (_NUM, "seconds writing checkpoints (not charged)"),
    "images_per_second": (_NUM + (type(None),), "median training images/s over epochs, first excluded"),
    "best_val_top1": (_NUM + (type(None),), "best validation top-1 (selection split)"),
    "best_epoch": ((int, type(None)), "epoch of best_val_top1 (1-based)"),
    "final_val_top1": (_NUM + (type(None),), "validation top-1 after the last epoch"),
    "test_top1": (_NUM + (type(None),), "test top-1 with the best-on-validation weights"),
    "test_top5": (_NUM + (type(None),), "test top-5 with the best-on-validation weights"),
    "test_top1_final": (_NUM + (type(None),), "test top-1 with the final weights"),
    "test_top5_final": (_NUM + (type(None),), "test top-5 with the final weights"),
    "train_eval_top1": (_NUM + (type(None),), "top-1 on the fixed train subset, inference mode, final weights"),
    "gap": (_NUM + (type(None),), "train_eval_top1 - final_val_top1 (overfitting gap)"),
    "time_to_target": ((dict,), "val top-1 target ('0.52') -> training seconds, or null"),
    "params": ((int, type(None)), "trainable parameters"),
    "mmacs": (_NUM + (type(None),), "multiply-accumulates per image, millions"),
    "resume_count": ((int,), "times the run was resumed"),
    "segments": ((list,), "one entry per process that trained it: host, device, start"),
    "devices": ((list,), "distinct devices over the segments"),
    "mixed_devices": ((bool,), "segments ran on different devices (time budget compares unlike)"),
    "precision": ((str,), "float32 | mixed_float16 | mixed_bfloat16"),
    "backend": ((str,), "Keras backend that trained it: tensorflow | jax | torch"),
    "jit": ((bool,), "XLA-compiled training step"),
    "strategy": ((str,), "default | mirrored | multi-worker"),
    "batch_size": ((int,), "global images per step"),
    "learning_rate": (_NUM, "peak learning rate after batch scaling"),
    "selected_on": ((str,), "val, or test under the post's protocol"),
    "test_used_for_selection": ((bool,), "true: the test figure is optimistic (post's protocol)"),
    "data": ((dict,), "dataset metadata: sizes, mean/std, source, sha256 check, warnings"),
    "config": ((dict,), "the full RunConfig"),
    "tuning": ((dict, type(None)), "a tuned variant's search: tuner, trials, compute_seconds, file"),
    "versions": ((dict,), "python, tensorflow, keras, numpy, archbench, git_revision"),
    "updated": ((str,), "when this record was written"),
}


def validate_summary(record: dict[str, Any]) -> list[str]:
    """Problems of `record` against SUMMARY_SCHEMA (an empty list when it is valid)."""
    problems = [f"missing {k}" for k in SUMMARY_SCHEMA if k not in record]
    problems += [f"unknown field {k}" for k in record if k not in SUMMARY_SCHEMA]
    for key, (types, _) in SUMMARY_SCHEMA.items():
        if key in record and not isinstance(record[key], types):
            problems.append(f"{key}: {type(record[key]).__name__} is not {'/'.join(t.__name__ for t in types)}")
    if record.get("status") not in STATUSES:
        problems.append(f"status {record.get('status')!r} is not one of {STATUSES}")
    return problems


# ----------------------------------------------------------------------------------- writing
def write_summary(folder: Path, record: dict[str, Any]) -> None:
    write_json(Path(folder) / "summary.json", record)


def read_summary(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json(Path(folder) / "summary.json")
    except (OSError, ValueError):
        return None


def append_environment(folder: Path, entry: dict[str, Any]) -> None:
    """environment.json: one entry per segment (host, device, versions), replaced atomically."""
    path = Path(folder) / "environment.json"
    try:
        entries = read_json(path)
    except (OSError, ValueError):
        entries = []
    write_json(path, [*entries, entry])


HISTORY_COLUMNS = ("epoch", "partial", "step", "images", "loss", "train_top1", "train_top5", "val_loss",
                   "val_top1", "val_top5", "lr", "train_seconds", "images_per_second", "budget_used",
                   "train_eval_top1")


def write_history(folder: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write(Path(folder) / "history.csv", lambda f: f.write(buffer.getvalue()))
    _tensorboard(Path(folder) / "tensorboard", history[-1:] if history else [])


def _tensorboard(folder: Path, rows: list[dict[str, Any]]) -> None:
    # The runner's own epoch records, not keras.callbacks.TensorBoard: that callback only writes
    # at epoch end, which a run stopped by its budget or a signal mid-epoch never reaches. Written
    # on the TensorFlow backend only: elsewhere TensorFlow may be absent, and importing it beside
    # JAX or torch would claim GPU memory for a few scalars.
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for row in rows:
            for key in ("loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr", "images_per_second"):
                if row.get(key) is not None:
                    tf.summary.scalar(key, row[key], step=row["step"])
    writer.close()


def run_folders(results_dir: Path) -> list[Path]:
    """Every run folder (one holding a summary.json) under `results_dir`; hidden folders
    (`.restarted/`, where --restart sets old runs aside) and tuning trials are skipped."""
    root = Path(results_dir)
    return sorted(p.parent for p in root.glob("**/summary.json")
                  if not any(part.startswith(".") or part == "tuning" for part in p.relative_to(root).parts[:-1]))


# ----------------------------------------------------------------------------------- loading
# Run-level columns, in the order notebooks see them. A comparison is only ever made inside one
# group: results of different datasets, budgets, precisions or devices are never averaged. Inside
# a group, one row (of the report; one side of `compare`) is one thing trained: the same
# architecture, recipe and variant (builder options, data options, archive), over seeds.
RUN_COLUMNS = ("arch", "family", "seed", "status", "diverged_at", "dataset", "synthetic", "recipe", "variant",
               "config_hash", "budget", "budget_kind", "precision", "backend", "device", "mixed_devices", "epochs", "steps",
               "train_seconds", "compile_seconds", "images_per_second", "best_val_top1", "final_val_top1",
               "test_top1", "test_top5", "test_top1_final", "train_eval_top1", "gap", "time_to_52", "params",
               "mmacs", "test_used_for_selection", "sha256_ok", "data_warnings", "resume_count", "batch_size",
               "versions", "tuning", "error", "updated", "folder")
GROUP = ["dataset", "budget", "precision", "backend", "device"]
ROW = ["arch", "recipe", "variant"]
# Fields that older summaries lack, with the value that means "as before".
_ADDED_FIELDS = {"tuning": None, "diverged_at": None, "variant": "", "config_hash": "", "backend": "tensorflow"}
# A summary without one of these cannot be reported; any other field may be absent (written by an
# older archbench) but, when present, must have its type.
_NEEDED_FIELDS = {*RUN_COLUMNS, "schema_version", "devices", "versions", "data", "time_to_target"}
# The history columns the report draws; every present column but `partial` must be numeric.
_HISTORY_REQUIRED = ("epoch", "step", "train_top1", "val_top1", "train_seconds")


def load(results_dir: Path):
    """(runs, histories): one row per run from every summary.json, and one row per epoch.

    Never raises on a damaged run: a summary.json, config.json or history.csv that cannot be read
    makes its run a row with status 'unreadable' (whatever the summary told is kept, out of every
    mean) and its history is left out. One line per problem, naming the file, is in
    `runs.attrs["warnings"]`. Running, interrupted, failed and diverged runs are rows with their status.
    """
    import pandas as pd

    runs, histories, warnings = [], [], []
    for folder in run_folders(results_dir):
        row, epochs = _read_run(folder)
        runs.append(row)
        if row["status"] == "unreadable":
            warnings.append(row["error"])
        elif epochs is not None:
            for key in ("arch", "seed", "recipe", "variant", "budget", "dataset", "precision", "backend", "device",
                        "status"):
                epochs[key] = row[key]
            histories.append(epochs)
    runs_df = pd.DataFrame(runs, columns=list(RUN_COLUMNS))
    for column in ("seed", "epochs", "steps", "params", "resume_count", "batch_size"):
        runs_df[column] = pd.to_numeric(runs_df[column]).astype("Int64")
    for column in ("train_seconds", "images_per_second", "best_val_top1", "final_val_top1", "test_top1",
                   "test_top5", "test_top1_final", "train_eval_top1", "gap", "time_to_52", "mmacs",
                   "compile_seconds"):
        runs_df[column] = pd.to_numeric(runs_df[column], errors="coerce").astype("float64")
    history_df = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    runs_df = runs_df.sort_values(["dataset", "budget", "arch", "recipe", "variant", "seed"], ignore_index=True)
    runs_df.attrs["warnings"] = warnings
    return runs_df, history_df


def groups(runs):
    """(group key as a dict, its runs) for each comparison group (GROUP), sorted. The one place,
    with `rows`, that decides which runs may be averaged together; runs whose summary could not be
    read have neither group nor row and are left out (`load` warned about them)."""
    known = runs.dropna(subset=GROUP + ROW)
    return [(dict(zip(GROUP, key)), group) for key, group in known.groupby(GROUP, sort=True)]


def rows(group):
    """(row key as a dict, its runs) for each (arch, recipe, variant) of one group, sorted."""
    known = group.dropna(subset=GROUP + ROW)
    return [(dict(zip(ROW, key)), runs) for key, runs in known.groupby(ROW, sort=True)]


def row_label(arch: str, recipe: str, variant: str | None, *, recipe_always: bool = False) -> str:
    """How a row is named: 'original (post recipe) [augment=none]'; the paper recipe is implied
    unless `recipe_always`."""
    text = arch + (f" ({recipe} recipe)" if recipe_always or recipe != "paper" else "")
    return text + (f" [{variant}]" if isinstance(variant, str) and variant else "")


class _Unreadable(Exception):
    """One line naming the file and what is wrong with it."""


def _read_run(folder: Path):
    """(run row, history frame or None); the row's status is 'unreadable' when a file is damaged."""
    row: dict[str, Any] = {"folder": str(folder), **_identity_from_path(folder)}
    try:
        record = _read_record(folder)
        row.update(_summary_row(record, folder))
        _read_json_object(folder / "config.json", "config", missing_ok=True)
        return row, _read_history(folder / "history.csv")
    except _Unreadable as problem:
        return {**row, "status": "unreadable", "error": str(problem)}, None


def _identity_from_path(folder: Path) -> dict[str, Any]:
    # <arch>/seed-<s>: enough to name a run whose summary cannot be read.
    seed = folder.name.removeprefix("seed-")
    return {"arch": folder.parent.name, "seed": int(seed)} if seed.isdigit() else {}


def _read_json_object(path: Path, what: str, missing_ok: bool = False) -> dict[str, Any] | None:
    import json

    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        if missing_ok:
            return None
        raise _Unreadable(f"{path}: missing")
    except OSError as error:
        raise _Unreadable(f"{path}: cannot be read ({error.strerror or error})")
    except json.JSONDecodeError as error:
        raise _Unreadable(f"{path}: not valid JSON ({error.msg}: line {error.lineno} column {error.colno})")
    except (ValueError, RecursionError) as error:  # not UTF-8 text; nested too deep
        raise _Unreadable(f"{path}: not valid JSON ({type(error).__name__})")
    if not isinstance(value, dict):
        raise _Unreadable(f"{path}: a JSON {type(value).__name__} where a {what} object was expected")
    return value


def _read_record(folder: Path) -> dict[str, Any]:
    """summary.json, checked against SUMMARY_SCHEMA; fields added since it was written get the
    value that means 'as before' (and the folder name's hash for config_hash)."""
    path = folder / "summary.json"
    record = _read_json_object(path, "summary")
    tag = folder.parent.parent.name  # <recipe>-<budget>[-<hash>]
    canonical_tag = f"{record.get('recipe')}-{record.get('budget')}"
    old_hash = tag.removeprefix(canonical_tag + "-") if tag.startswith(canonical_tag + "-") else ""
    added = dict(_ADDED_FIELDS, config_hash=old_hash)
    if "variant" not in record and added["config_hash"]:
        added["variant"] = f"config {added['config_hash']}"  # a non-canonical run from before variants
    record = {**added, **record}
    tolerated = {f"missing {k}" for k in SUMMARY_SCHEMA if k not in _NEEDED_FIELDS}
    problems = [p for p in validate_summary(record) if p not in tolerated and not p.startswith("unknown field")]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise _Unreadable(f"{path}: not a valid summary ({'; '.join(problems[:3])}{more})")
    return record


def _summary_row(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    row = {k: record.get(k) for k in RUN_COLUMNS}
    versions = record.get("versions") or {}
    data = record.get("data") or {}
    row.update(folder=str(folder), device=", ".join(map(str, record.get("devices") or [])) or "unknown",
               versions=f"{record.get('backend', 'tensorflow')} {versions.get(record.get('backend', 'tensorflow'))}, "
                        f"Keras {versions.get('keras')}, "
                        f"archbench {versions.get('git_revision') or versions.get('archbench')}",
               time_to_52=(record.get("time_to_target") or {}).get("0.52"),
               sha256_ok=data.get("sha256_ok"), data_warnings=list(data.get("warnings") or []))
    return row


def _read_history(path: Path):
    """history.csv as a frame (None when the run has none yet)."""
    import pandas as pd

    if not path.exists():
        return None
    try:
        epochs = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = "empty" if isinstance(error, pd.errors.EmptyDataError) else type(error).__name__
        raise _Unreadable(f"{path}: not a readable history ({reason})")
    missing = [c for c in _HISTORY_REQUIRED if c not in epochs.columns]
    if missing:
        raise _Unreadable(f"{path}: not a readable history (no column {', '.join(missing)})")
    for column in (c for c in HISTORY_COLUMNS if c in epochs.columns and c != "partial"):
        try:
            epochs[column] = pd.to_numeric(epochs[column])
        except (ValueError, TypeError):
            raise _Unreadable(f"{path}: not a readable history (non-numeric {column})")
    return epochs
