"""The results folder: where each run lives and its self-describing record (schema, checks, writes).

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

import math
from pathlib import Path
from typing import Any

from benchmarks.core.budget import KINDS
from benchmarks.core.storage import read_json, write_json
from benchmarks.results import metrics

SCHEMA_VERSION = 1
STATUSES = ("complete", "diverged", "running", "interrupted", "failed")  # written by the runner
READ_STATUSES = (*STATUSES, "unreadable")  # a run whose files cannot be read (set by `load`)

# summary.json: field -> (allowed JSON types, meaning). The metric fields come from the metric
# table; the README's field table is `schema_markdown()` (a test holds it there), and tests validate
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
    "data_source": ((str,), "tfds / archive / folder / synthetic"),
    "recipe": ((str,), "recipe name (paper, post)"),
    "budget": ((str,), "as given: 50epochs, 20000steps, 5e6images, 5pflop, 30m"),
    "budget_kind": ((str,), " | ".join(KINDS)),
    **metrics.summary_fields(),  # params ... resume_count: the metric table, benchmarks/results/metrics.py
    "time_to_target": ((dict,), "val top-1 target ('0.52') -> training seconds, or null"),
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
    "data": ((dict,), "dataset metadata: sizes, mean/std, source, content digest, sha256 and statistics checks, warnings"),
    "config": ((dict,), "the full RunConfig"),
    "tuning": ((dict, type(None)), "a tuned variant's search: tuner, trials, compute_seconds, file"),
    "versions": ((dict,), "python, tensorflow, keras, numpy, archbench, git_revision"),
    "updated": ((str,), "when this record was written"),
}


def schema_markdown() -> str:
    """The README's table of summary fields, generated from SUMMARY_SCHEMA."""
    def names(types):
        return "/".join("null" if t is type(None) else t.__name__ for t in types)

    lines = ["| field | type | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | {names(t)} | {meaning.replace(' | ', ' / ')} |" for k, (t, meaning) in SUMMARY_SCHEMA.items()]
    return "\n".join(lines)


def validate_summary(record: dict[str, Any]) -> list[str]:
    """Problems of `record` against SUMMARY_SCHEMA (an empty list when it is valid)."""
    problems = [f"missing {k}" for k in SUMMARY_SCHEMA if k not in record]
    problems += [f"unknown field {k}" for k in record if k not in SUMMARY_SCHEMA]
    for key, (types, _) in SUMMARY_SCHEMA.items():
        if key in record and not isinstance(record[key], types):
            problems.append(f"{key}: {type(record[key]).__name__} is not {'/'.join(t.__name__ for t in types)}")
    if record.get("status") not in STATUSES:
        problems.append(f"status {record.get('status')!r} is not one of {STATUSES}")
    for key, value in record.items():  # ranges too, before pandas or a log axis sees them
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key in SUMMARY_SCHEMA:
            low, high = (-1, 1) if key == "gap" else (0, 1) if key.endswith(("top1", "top5", "_used")) else \
                (0, 2**63 - 1 if isinstance(value, int) else math.inf)  # an int past int64 breaks pandas
            if not (math.isfinite(value) and low <= value <= high):
                problems.append(f"{key}: {value!r} is outside {low}..{high:.3g}")
    return problems


# ----------------------------------------------------------------------------------- writing
def write_summary(folder: Path, record: dict[str, Any]) -> None:
    write_json(Path(folder) / "summary.json", record)


def read_summary(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json(Path(folder) / "summary.json", "summary")
    except (OSError, ValueError, RecursionError):
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
                   "val_top1", "val_top5", "lr", "train_seconds", "images_per_second", "budget_used", "train_flops",
                   "train_eval_top1")
