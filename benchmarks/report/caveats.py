"""What a reader must know before trusting a number: results that may not be compared (datasets,
budgets, precisions, backends, devices), test-set selection, incomplete seeds, and every run left
out of the means (diverged, unfinished, failed, unreadable, trained on an altered archive)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from benchmarks.results.reading import groups, inert, row_label, rows


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def fairness_warnings(runs: pd.DataFrame) -> list[str]:
    warnings = []
    for column, what in (("dataset", "datasets"), ("budget", "budgets"), ("precision", "precisions"),
                         ("backend", "Keras backends"), ("hardware", "devices under time budgets")):
        values = sorted(runs[column].dropna().astype(str).unique())
        if len(values) > 1:
            warnings.append(f"Results of different {what} ({', '.join(values)}) are in this folder: each "
                            f"is reported in its own section and never averaged with another.")
    stepped = runs[runs["budget_kind"].notna() & (runs["budget_kind"] != "seconds")]
    devices = sorted(stepped["device"].dropna().astype(str).unique())
    if len(devices) > 1:
        warnings.append(f"Runs of epoch, step, image or FLOP budgets ran on different devices ({', '.join(devices)}): "
                        f"such a budget fixes what a run trains on any device, so their accuracies are compared "
                        f"together; their times and images/s are the device's, never averaged across devices.")
    if truthy(runs["mixed_devices"]).any():
        names = sorted(runs.loc[truthy(runs["mixed_devices"]), "arch"].unique())
        warnings.append(f"Runs whose segments ran on different devices ({', '.join(names)}): their time "
                        f"budgets compare unlike things.")
    if (runs["jit"] == "mixed").any():
        names = sorted(runs.loc[runs["jit"] == "mixed", "arch"].unique())
        warnings.append(f"Runs resumed with another --jit than they began with ({', '.join(names)}): each segment "
                        f"records its own; they are grouped apart and never averaged with runs of one setting.")
    if truthy(runs["test_used_for_selection"]).any():
        warnings.append("Some runs selected their checkpoint on the TEST set (the blog post's protocol): "
                        "their test figures are optimistic.")
    counts = {row_label(**key): int((g["status"] == "complete").sum()) for _, group in groups(runs)
              for key, g in rows(group)}
    if len(set(counts.values())) > 1:
        warnings.append("Incomplete seeds: complete runs per row differ ("
                        + ", ".join(f"{label}: {n}" for label, n in counts.items()) + ").")
    return warnings + run_warnings(runs)


def run_warnings(runs: pd.DataFrame) -> list[str]:
    """One line per run left out of the means (diverged, unfinished, failed, unreadable), and per
    dataset archive that does not match its published sha256, naming the runs trained on it."""
    warnings = []
    for _, r in runs[runs["status"] != "complete"].iterrows():
        error = f" ({r['error']})" if isinstance(r["error"], str) and r["error"] else ""
        if r["status"] == "diverged":
            at = r["diverged_at"] if isinstance(r["diverged_at"], dict) else {}
            warnings.append(f"{_who(r)} diverged at epoch {at.get('epoch', '?')}, step {at.get('step', '?')} "
                            f"(loss {at.get('loss', '?')}): left out of every mean. A result about the recipe: "
                            f"running the same command again will not retrain it.")
        elif r["status"] == "unreadable":
            warnings.append(f"{_who(r)} is unreadable: {r['error']}. It is left out of every mean.")
        elif r["status"] == "duplicate":
            warnings.append(f"{_who(r)} is a duplicate: {r['error']}.")
        else:
            warnings.append(f"{_who(r)} is {r['status']}{error}: run the same `python -m benchmarks run` "
                            f"command again to finish it.")
    differ = runs[falsy(runs["stats_ok"])] if "stats_ok" in runs else runs.iloc[:0]
    if len(differ):
        warnings.append(f"The training images of {', '.join(_who(r) for _, r in differ.iterrows())} do not have the "
                        f"published per-channel statistics: a damaged or different copy of the dataset, whose results "
                        f"are not comparable with runs on the published data.")
    altered = runs[falsy(runs["sha256_ok"])]
    for problem, g in altered.groupby(altered["data_warnings"].map(lambda w: w[0] if len(w) else ""), sort=True):
        warnings.append(f"The dataset archive of {', '.join(_who(r) for _, r in g.iterrows())} does not match "
                        f"the published sha256{f' ({problem})' if problem else ''}: their results are not "
                        f"comparable with runs on the published data.")
    return warnings


def _who(r) -> str:
    """'original (post recipe) seed 1', or the folder when the summary could not say."""
    if not isinstance(r["arch"], str):
        return f"the run in {inert(r['folder'])}"
    label = row_label(r["arch"], r["recipe"], r["variant"]) if isinstance(r["recipe"], str) else r["arch"]
    return f"{label} seed {r['seed']}" if not pd.isna(r["seed"]) else label


def truthy(series: pd.Series) -> pd.Series:
    return series.map(lambda v: isinstance(v, (bool, np.bool_)) and bool(v))


def falsy(series: pd.Series) -> pd.Series:
    """A check that ran and failed (False), not one that did not run (None)."""
    return series.map(lambda v: isinstance(v, (bool, np.bool_)) and not v)


_SOURCES = {"folder": "image folders", "archive": "the original archive", "tfds": "tensorflow-datasets",
            "synthetic": "generated"}


def data_check(runs: pd.DataFrame) -> str:
    """Where a group's data came from and what was checked, said beside the dataset: 'image folders;
    the published images (content digest); per-channel statistics match the published ones'."""
    said = []
    for column, yes, no in (("data_source", None, None),
                            ("digest_ok", "the published images (content digest)", "**not the published images**"),
                            ("sha256_ok", "archive sha256 as published", "**archive sha256 differs from the published one**"),
                            ("stats_ok", "per-channel statistics match the published ones",
                             "**per-channel statistics differ from the published ones**")):
        values = runs[column].dropna().unique() if column in runs else []
        if column == "data_source":
            said += [" / ".join(_SOURCES.get(str(v), inert(v)) for v in sorted(values))] if len(values) else []
        elif len(values):
            said.append(no if any(not bool(v) for v in values) else yes)
    return "; ".join(s for s in said if s)
