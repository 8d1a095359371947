"""Reading a results folder into pandas: every run folder, its record and history, grouped as the
report and `compare` show them. A folder may come from anyone: only regular files inside it are
read, and a damaged run becomes an unreadable row, never an error."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

from benchmarks.core.storage import inert, linked_folders, read_regular, through_link
from benchmarks.results import metrics
from benchmarks.results.schema import (
    HISTORY_COLUMNS,
    SUMMARY_SCHEMA,
    read_summary,
    validate_summary,
)


def run_folders(results_dir: Path) -> list[Path]:
    """Every run folder (one holding a summary.json) under `results_dir`; hidden folders
    (`.restarted/`, where --restart sets old runs aside) and tuning trials are skipped."""
    root = Path(results_dir)
    return sorted(p.parent for p in root.glob("**/summary.json")
                  if not any(part.startswith(".") or part == "tuning" for part in p.relative_to(root).parts[:-1]))


# ----------------------------------------------------------------------------------- loading
# Run-level columns, in the order notebooks see them: who the run is, every metric of the metric
# table, then its context. A comparison is only ever made inside one group: results of different
# datasets, budgets, precisions, backends or XLA settings are never averaged, nor those of time budgets
# on different devices (`hardware`). A step-like budget (epochs, steps, images, FLOPs) fixes what a run
# trains whatever the device, so its seeds on two machines are one group; only their times differ, and
# the report never averages a timed metric over devices (`metrics.Metric.timed`). Inside a group, one
# row (of the report; one side of `compare`) is one thing trained: the same arch, recipe and variant.
_IDENTITY = ("arch", "family", "seed", "status", "diverged_at", "dataset", "synthetic", "recipe", "variant",
             "config_hash", "budget", "budget_kind", "precision", "backend", "jit", "device", "mixed_devices")
_CONTEXT = ("test_used_for_selection", "data_source", "sha256_ok", "digest_ok", "stats_ok", "data_warnings",
            "batch_size", "versions", "tuning", "error", "updated", "folder")
GROUP = ["dataset", "budget", "precision", "backend", "jit", "hardware"]
ANY_DEVICE = "any device"  # the `hardware` of a step-like budget's run
ROW = ["arch", "recipe", "variant"]
# Fields that older summaries lack, with the value that means "as before".
_ADDED_FIELDS = {"tuning": None, "diverged_at": None, "variant": "", "config_hash": "", "backend": "tensorflow"}


def run_columns() -> list[str]:
    """The columns of `load`'s runs: identity, `hardware` (derived), each metric of `metrics.METRICS`, context."""
    return [*_IDENTITY, "hardware", *metrics.METRICS, *_CONTEXT]


def hardware(row: dict[str, Any]) -> str | None:
    """What a run's result depends on besides its identity: its device for a time budget (a faster
    device trains more), nothing for a step-like one (None: the budget's kind is unknown)."""
    if row.get("budget_kind") is None:
        return None
    return row.get("device") if row["budget_kind"] == "seconds" else ANY_DEVICE


def _needed_fields() -> set[str]:
    """A summary without one of these cannot be reported: its identity and context, and the fields
    of the metrics that the report and compare show (but an optional one, which older summaries
    lack). Any other field may be absent (written by an older archbench) but, when present, must
    have its type."""
    shown = {(m.path or (m.name,))[0] for m in metrics.shown() if not m.optional}
    return {*_IDENTITY, *_CONTEXT, *shown, "schema_version", "devices", "versions", "data"}


def _dtypes() -> dict[str, str]:
    """The pandas dtype of each typed run column, from its JSON types (metric table, else schema)."""
    types = {**{k: t for k, (t, _) in SUMMARY_SCHEMA.items()}, **{m.name: m.types for m in metrics.METRICS.values()}}
    return {c: metrics.dtype(types[c]) for c in run_columns() if c in types and metrics.dtype(types[c])}


_HISTORY_REQUIRED = ("epoch", "step", "train_top1", "val_top1", "train_seconds")  # drawn; all but `partial` numeric


def load(results_dir: Path):
    """(runs, histories): one row per run from every summary.json, and one row per epoch.

    Never raises on a damaged run: a summary.json, config.json or history.csv that cannot be read
    makes its run a row with status 'unreadable' (whatever the summary told is kept, out of every
    mean) and its history is left out. One line per problem, naming the file, is in
    `runs.attrs["warnings"]`. Running, interrupted, failed and diverged runs are rows with their status.
    """
    import pandas as pd

    runs, histories, warnings = [], [], [inert(f"{link}: a symbolic link in the results folder, never followed")
                                         for link in linked_folders(results_dir)]
    read = [_read_run(folder, Path(results_dir)) for folder in run_folders(results_dir)]
    for row, _ in read:
        row["hardware"] = hardware(row)
    _mark_duplicates([row for row, _ in read], Path(results_dir))
    for row, epochs in read:
        runs.append(row)
        if row["status"] in ("unreadable", "duplicate"):
            warnings.append(row["error"])
        elif epochs is not None:
            for key in ("arch", "seed", "recipe", "variant", *GROUP, "status"):
                epochs[key] = row[key]
            histories.append(epochs)
    runs_df = pd.DataFrame(runs, columns=run_columns())
    for column, kind in _dtypes().items():
        runs_df[column] = pd.to_numeric(runs_df[column], errors="coerce").astype(kind)
    history_df = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    runs_df = runs_df.sort_values(["dataset", "budget", "arch", "recipe", "variant", "seed"], ignore_index=True)
    runs_df.attrs["warnings"] = warnings
    return runs_df, history_df


# What names one sample: the run's folder inside any results folder (dataset, recipe, budget, the
# hash of everything else that changes what is trained, arch, seed), and the group it is reported in.
# A copy of a run, wherever it sits and whatever its folder is called, is the same sample: counted once.
IDENTITY = ("dataset", "recipe", "budget", "config_hash", "arch", "seed", "variant", "precision", "backend", "jit",
            "hardware")


def canonical_folder(row: dict[str, Any]) -> str:
    """Where a run of this identity lives in a results folder: `RunConfig.relative_dir`."""
    tag = f"{row['recipe']}-{row['budget']}" + (f"-{row['config_hash']}" if row["config_hash"] else "")
    return f"{row['dataset']}/{tag}/{row['arch']}/seed-{row['seed']}"


def _mark_duplicates(rows: list[dict[str, Any]], root: Path) -> None:
    """Every run of the same identity but one becomes a 'duplicate' row, out of every mean: the
    one in its own folder counts (`canonical_folder`), else the first in path order."""
    by_identity: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] != "unreadable":
            by_identity.setdefault(tuple(row[k] for k in IDENTITY), []).append(row)
    for same in (s for s in by_identity.values() if len(s) > 1):
        home = [r for r in same if Path(r["folder"]).relative_to(root).as_posix() == canonical_folder(r)]
        kept = (home or same)[0]
        for row in (r for r in same if r is not kept):
            alike = all(_same(row.get(m), kept.get(m)) for m in (*metrics.METRICS, "status"))
            row.update(status="duplicate", error=inert(
                f"{row['folder']}: the same run as {kept['folder']} ({row['arch']} seed {row['seed']}, "
                f"{row['recipe']}-{row['budget']}){'' if alike else ' with other figures'}: one run is one sample, "
                f"counted once, from {kept['folder']}"))


def _same(a, b) -> bool:
    return a == b or (a != a and b != b)  # NaN alike


def grouped(frame, keys: list[str]) -> list[tuple[dict, Any]]:
    """(key as a dict, its rows) for each value of `keys`, sorted by their text: a column may hold
    values of two types (jit: true, false or 'mixed'), which pandas' own sort cannot order."""
    parts = [(dict(zip(keys, key)), group) for key, group in frame.groupby(keys, sort=False)]
    return sorted(parts, key=lambda kg: [(str(type(v)), str(v)) for v in kg[0].values()])


def xla_text(jit) -> str:
    """A group's XLA setting in words; 'mixed': a run resumed with another --jit than it began with."""
    return "XLA in some segments only" if jit == "mixed" else "XLA" if jit else "no XLA"


def groups(runs):
    """(group key as a dict, its runs) for each comparison group (GROUP), sorted. The one place,
    with `rows`, that decides which runs may be averaged together; runs whose summary could not be
    read have neither group nor row and are left out (`load` warned about them)."""
    return grouped(runs.dropna(subset=GROUP + ROW), GROUP)


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


def _read_run(folder: Path, root: Path):
    """(run row, history frame or None); the row's status is 'unreadable' when a file is damaged."""
    row: dict[str, Any] = {"folder": str(folder), **_identity_from_path(folder)}
    try:
        if through_link(root, folder):
            raise _Unreadable(f"{folder}: reached through a symbolic link, never followed in a results folder")
        record = _read_record(folder)
        row.update(_summary_row(record, folder))
        _read_json_object(folder / "config.json", "config", missing_ok=True)
        return row, _read_history(folder / "history.csv", record)
    except _Unreadable as problem:
        return {**row, "status": "unreadable", "error": inert(problem)}, None


def _identity_from_path(folder: Path) -> dict[str, Any]:
    # <arch>/seed-<s>: enough to name a run whose summary cannot be read.
    seed = folder.name.removeprefix("seed-")
    return {"arch": inert(folder.parent.name), "seed": int(seed)} if seed.isdigit() and len(seed) < 12 else {}


def _read_json_object(path: Path, what: str, missing_ok: bool = False) -> dict[str, Any] | None:
    import json

    try:
        value = json.loads(read_regular(path, what if what in ("summary", "config") else "json"))
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
    needed = _needed_fields()
    tolerated = {f"missing {k}" for k in SUMMARY_SCHEMA if k not in needed}
    problems = [p for p in validate_summary(record) if p not in tolerated and not p.startswith("unknown field")]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise _Unreadable(f"{path}: not a valid summary ({'; '.join(problems[:3])}{more})")
    return record


# A results folder may come from anyone: names must be names (free text is made inert by `inert`).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
_NAME_FIELDS = ("arch", "recipe", "dataset", "budget", "precision", "backend")


def _inert_all(value: Any) -> Any:
    """Every string of a record, at any depth, made inert for markdown and HTML (`inert`): whatever a
    summary holds, and whichever of its values a report shows, none becomes markup."""
    if isinstance(value, str):
        return inert(value)
    if isinstance(value, dict):
        return {inert(k): _inert_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inert_all(v) for v in value]
    return value


def _summary_row(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    bad = [f for f in _NAME_FIELDS if not (isinstance(record.get(f), str) and _NAME.fullmatch(record[f]))]
    if bad:
        raise _Unreadable(f"{folder / 'summary.json'}: {bad[0]} {inert(record.get(bad[0]))!r} is not a name a run writes")
    record = _inert_all(record)
    row = {k: record.get(k) for k in run_columns()}
    jits = {s["jit"] for s in record.get("segments") or [] if "jit" in s}
    if len(jits) > 1:  # resumed with another --jit: in a group of its own, never labelled as either
        row["jit"] = "mixed"
    row.update({m.name: m.read(record) for m in metrics.METRICS.values()})
    versions = record.get("versions") or {}
    data = record.get("data") or {}
    row.update(folder=str(folder), device=inert(", ".join(map(str, record.get("devices") or [])) or "unknown"),
               versions=inert(f"{record['backend']} {versions.get(record['backend'])}, Keras {versions.get('keras')}, "
                              f"archbench {versions.get('git_revision') or versions.get('archbench')}"),
               variant=inert(record.get("variant") or ""), error=None if record.get("error") is None else inert(record["error"]),
               sha256_ok=data.get("sha256_ok"), digest_ok=data.get("digest_ok"), stats_ok=data.get("stats_ok"),
               data_warnings=[inert(w) for w in data.get("warnings") or []])
    return row


def summary_problem(folder: Path) -> str | None:
    """Why the run's summary.json cannot be reported (one line, as `load` says it), or None."""
    try:
        _summary_row(_read_record(Path(folder)), Path(folder))
    except _Unreadable as problem:
        return inert(problem)
    return None


def history_readable(folder: Path) -> bool:
    """Whether the run's history.csv reads as `load` reads it (a missing one counts as readable)."""
    try:
        _read_history(Path(folder) / "history.csv", read_summary(folder))
        return True
    except _Unreadable:
        return False


def _read_history(path: Path, record: dict[str, Any] | None = None):
    """history.csv as a frame (None when the run has none yet); a finished run's must reach the
    epochs and steps its summary says (a truncated file is caught, and `run` rebuilds it)."""
    import pandas as pd

    if not os.path.lexists(path):
        return None
    try:
        data = read_regular(path, "history")
        if data and not data.endswith(b"\n"):  # every row the runner writes ends a line: cut mid-row
            raise ValueError("truncated")
        epochs = pd.read_csv(io.BytesIO(data))
    except OSError as error:
        raise _Unreadable(f"{path}: cannot be read ({error.strerror or error})")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = "empty" if isinstance(error, pd.errors.EmptyDataError) else \
            "truncated mid-row" if str(error) == "truncated" else type(error).__name__
        raise _Unreadable(f"{path}: not a readable history ({reason})")
    missing = [c for c in _HISTORY_REQUIRED if c not in epochs.columns]
    if missing:
        raise _Unreadable(f"{path}: not a readable history (no column {', '.join(missing)})")
    for column in (c for c in HISTORY_COLUMNS if c in epochs.columns and c != "partial"):
        try:
            epochs[column] = pd.to_numeric(epochs[column])
        except (ValueError, TypeError):
            raise _Unreadable(f"{path}: not a readable history (non-numeric {column})")
    if isinstance(record, dict) and record.get("status") in ("complete", "diverged"):
        last = epochs["step"].iloc[-1] if len(epochs) else None
        if len(epochs) != record.get("epochs") or last != record.get("steps"):
            raise _Unreadable(f"{path}: {len(epochs)} epochs to step {last}, but the summary says {record.get('epochs')} "
                              f"to step {record.get('steps')} (truncated?); the same `run` command rewrites it")
    return epochs
