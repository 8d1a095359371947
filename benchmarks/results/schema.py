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

import os
import re
from pathlib import Path
from typing import Any

from benchmarks.core import storage
from benchmarks.core.budget import KINDS
from benchmarks.core.storage import read_json, set_aside, write_json
from benchmarks.results import metrics

SCHEMA_VERSION = 1
STATUSES = ("complete", "diverged", "running", "interrupted", "failed")  # written by the runner
# Set by `load`: a run whose files cannot be read, and a second copy of a run (counted once)
READ_STATUSES = (*STATUSES, "unreadable", "duplicate")

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
    "dataset": ((str,), "cifar100, cifar100-coarse, cifar10, synthetic or folder-<folder name>"),
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
    "jit": ((bool,), "XLA-compiled training step (the latest segment's; each segment records its own)"),
    "strategy": ((str,), "default | mirrored | multi-worker"),
    "batch_size": ((int,), "global images per step"),
    "learning_rate": (_NUM, "peak learning rate after batch scaling"),
    "selected_on": ((str,), "val, or test under the post's protocol"),
    "test_used_for_selection": ((bool,), "true: the test figure is optimistic (post's protocol)"),
    "data": ((dict,), "dataset metadata: sizes, mean/std, source, content digest, sha256 and statistics checks, warnings"),
    "config": ((dict,), "the full RunConfig"),
    "tuning": ((dict, type(None)), "a tuned variant's search: tuner, trials, compute_seconds, file"),
    "versions": ((dict,), "python, tensorflow, jax, torch, keras, numpy, archbench, git_revision (+dirty: the "
                          "code changed, its diff in the run's folder as source.diff; results, reports and README "
                          "are not code)"),
    "updated": ((str,), "when this record was written"),
}


def schema_markdown() -> str:
    """The README's table of summary fields, generated from SUMMARY_SCHEMA."""
    def names(types):
        return "/".join("null" if t is type(None) else t.__name__ for t in types)

    lines = ["| field | type | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | {names(t)} | {meaning.replace(' | ', ' / ')} |" for k, (t, meaning) in SUMMARY_SCHEMA.items()]
    return "\n".join(lines)


MAX_VALUE = 1e30  # no count, duration or FLOPs of a real run comes near it; a mean of a million stays finite
_NULL = type(None)
_STR, _BOOL, _INT = (str,), (bool,), (int,)
_OPT_STR, _OPT_BOOL, _OPT_NUM = (str, _NULL), (bool, _NULL), (*_NUM, _NULL)


class Each:
    """A nested spec: a list whose every item has `spec`, or (`keys`: a pattern) an object whose
    every value does, its keys matching the pattern."""

    def __init__(self, spec, keys: str | None = None):
        self.spec, self.keys = spec, keys


# The nested values of summary.json, checked like the fields themselves: a tuple of JSON types for a
# value, {key: spec} for an object (the keys a run writes; others, from a newer archbench, are
# never read), Each(spec) for a list. `bool` is never a number, whatever the JSON says.
NESTED = {
    "time_to_target": Each((*_NUM, _NULL), keys=r"[0-9]\.[0-9]{2}"),
    "diverged_at": {"epoch": _INT, "step": _INT, "loss": (str, *_NUM)},
    "devices": Each(_STR),
    "segments": Each({"device": _STR, "from_step": _INT, "host": _STR, "pid": _INT, "started": _STR, "jit": _BOOL}),
    "versions": Each(_OPT_STR, keys=r".+"),
    "tuning": {"tuner": _OPT_STR, "trials": (int, _NULL), "compute_seconds": _OPT_NUM, "budget_per_trial": _OPT_STR,
               "score": _OPT_NUM, "file": _OPT_STR},
    "data": {"name": _STR, "source": _STR, "synthetic": _BOOL, "num_classes": _INT, "sizes": Each(_INT, keys=r".+"),
             "mean": Each(_NUM), "std": Each(_NUM), "test_used_for_selection": _BOOL, "location": _OPT_STR,
             "sha256": _OPT_STR, "sha256_ok": _OPT_BOOL, "content_digest": _OPT_STR, "digest_ok": _OPT_BOOL,
             "stats_ok": _OPT_BOOL, "cache": _OPT_STR, "warnings": Each(_STR), "targets": Each(_NUM), "feed": _STR},
}


def is_of(value: Any, types: tuple[type, ...]) -> bool:
    """Whether a JSON value has one of `types`: a boolean is a number only where `bool` is named
    (Python's True is an int, JSON's true is not a number). Ranges, finiteness among them, are
    checked apart."""
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _names(types) -> str:
    return "/".join("null" if t is _NULL else t.__name__ for t in types)


def _nested(value: Any, spec, where: str) -> list[str]:
    """Problems of `value` against a NESTED spec, each naming its place ('data.warnings[0]')."""
    if isinstance(spec, tuple):
        if not is_of(value, spec):
            return [f"{where}: {type(value).__name__} {str(value)[:40]!r} is not {_names(spec)}"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low = 0 if where.split(".")[0] in _NON_NEGATIVE else -MAX_VALUE
            if not low <= value <= MAX_VALUE:  # NaN and infinities too
                return [f"{where}: {value!r} is outside {low:g}..{MAX_VALUE:g}"]
        return []
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} is not an object"]
        return [p for key, sub in spec.items() if key in value for p in _nested(value[key], sub, f"{where}.{key}")]
    if spec.keys is None:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} is not a list"]
        return [p for i, item in enumerate(value) for p in _nested(item, spec.spec, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__} is not an object"]
    bad = [k for k in value if not re.fullmatch(spec.keys, k)]
    if bad:
        return [f"{where}: key {bad[0][:40]!r} is not one a run writes"]
    return [p for key, item in value.items() for p in _nested(item, spec.spec, f"{where}.{key}")]


_NON_NEGATIVE = ("time_to_target", "tuning")  # nested numbers that are counts, seconds or shares


def validate_summary(record: dict[str, Any]) -> list[str]:
    """Problems of `record` against SUMMARY_SCHEMA and NESTED (an empty list when it is valid):
    every field by type (a boolean is no number), every number in its range, nested values too."""
    problems = [f"missing {k}" for k in SUMMARY_SCHEMA if k not in record]
    problems += [f"unknown field {k}" for k in record if k not in SUMMARY_SCHEMA]
    for key, (types, _) in SUMMARY_SCHEMA.items():
        if key in record and not is_of(record[key], types):
            problems.append(f"{key}: {type(record[key]).__name__} is not {_names(types)}")
    if record.get("status") not in STATUSES:
        problems.append(f"status {str(record.get('status'))[:40]!r} is not one of {STATUSES}")
    for key, value in record.items():  # ranges too, before pandas or a log axis sees them
        if is_of(value, _NUM) and key in SUMMARY_SCHEMA:
            low, high = (-1, 1) if key == "gap" else (0, 1) if key.endswith(("top1", "top5", "_used")) else \
                (0, 2**63 - 1 if isinstance(value, int) else MAX_VALUE)  # an int past int64 breaks pandas
            if not low <= value <= high:
                problems.append(f"{key}: {value!r} is outside {low}..{high:.3g}")
    for key, spec in NESTED.items():
        if record.get(key) is not None and is_of(record[key], SUMMARY_SCHEMA[key][0]):
            problems += _nested(record[key], spec, key)
    return problems


# ----------------------------------------------------------------------------------- writing
STRICT = "ARCHBENCH_STRICT_RECORDS"  # set by the tests: a record that fails the schema is an error


def write_summary(folder: Path, record: dict[str, Any]) -> None:
    """summary.json, atomically. Under $ARCHBENCH_STRICT_RECORDS (the test suite) every record is held
    to SUMMARY_SCHEMA first: a field the schema does not declare (a misspelt one), a missing one or
    a value of the wrong type fails the test that wrote it."""
    if os.environ.get(STRICT):
        problems = validate_summary(storage.as_written(record))
        if problems:
            raise ValueError(f"summary record against the schema: {'; '.join(problems[:5])}")
    write_json(Path(folder) / "summary.json", record)


def read_summary(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json(Path(folder) / "summary.json", "summary")
    except (OSError, ValueError, RecursionError):
        return None


def append_environment(folder: Path, entry: dict[str, Any], log=None) -> None:
    """environment.json: one entry per segment (host, device, versions), replaced atomically. A
    file that is not a list of entries (damaged, edited by hand, a link) is moved aside with a
    warning and a new list begun: the user's file is never replaced without a word."""
    path = Path(folder) / "environment.json"
    try:
        entries = read_json(path)
    except FileNotFoundError:
        entries = []
    except (OSError, ValueError, RecursionError) as error:
        set_aside(path, f"cannot be read ({error})", log)
        entries = []
    if not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries)):
        set_aside(path, "is not a list of segment entries", log)
        entries = []
    write_json(path, [*entries, entry])


HISTORY_COLUMNS = ("epoch", "partial", "step", "images", "loss", "train_top1", "train_top5", "val_loss",
                   "val_top1", "val_top5", "lr", "train_seconds", "images_per_second", "budget_used", "train_flops",
                   "train_eval_top1", "ce", "val_ce", "penalty")
