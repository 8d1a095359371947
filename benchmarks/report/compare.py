"""`compare A B`: architectures side by side, each report row (arch, recipe, variant) of the others
against each of the first's, with the difference in the metric's unit and its 95% Welch interval."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from benchmarks.core.errors import ConfigError
from benchmarks.core.storage import atomic_write
from benchmarks.report import caveats, tables
from benchmarks.report.figures import learning_curves
from benchmarks.report.style import REFERENCE_ARCH, reference, save_png
from benchmarks.results import metrics
from benchmarks.results.reading import groups, load, row_label, rows


# ------------------------------------------------------------------------------ statistics
def welch_interval(a, b) -> tuple[float, float, float] | None:
    """(difference of means b - a, low, high) of the 95% Welch interval (scipy's unequal-variance t
    test); None below 2 seeds each."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # every seed agrees on both sides (a model's parameters)
        diff = float(b[0] - a[0])  # not b.mean() - a.mean(), whose rounding would make equal sides differ
        return diff, diff, diff
    diff = float(b.mean() - a.mean())
    with warnings.catch_warnings():
        # scipy warns of lost precision when one side's seeds agree exactly; its variance is then 0
        # to rounding, which is what Welch's interval should use.
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        interval = ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    return diff, float(interval.low), float(interval.high)


def verdict(name_a: str, name_b: str, metric: str, interval) -> str:
    """One sentence on `metric`, in its unit and direction."""
    m = metrics.METRICS[metric]
    if interval is None:
        return (f"With fewer than two seeds with a {m.label} on each side, no claim about significance "
                f"can be made (run with --seeds 3 or more).")
    diff, low, high = interval
    if low == high and m.higher_is_better is not None:
        return (f"Every seed gives the same {m.label} on both sides ({name_b} - {name_a}: {m.difference(diff)}): "
                f"with no spread the seed noise is unknown, so no claim about significance can be made.")
    ci = f"the 95% interval [{m.difference(low)}, {m.difference(high)}]"
    if low <= 0 <= high:
        return (f"The difference in {m.label} ({name_b} - {name_a}: {m.difference(diff)}) is "
                f"within seed noise: {ci} includes zero.")
    if m.higher_is_better is None:
        return (f"{name_b} - {name_a} in {m.label}: {m.difference(diff)} ({ci}); a descriptive metric: "
                f"neither is better for it.")
    better = name_b if (diff > 0) == m.higher_is_better else name_a
    return (f"{better} {m.phrase} by {m.difference(abs(diff)).lstrip('+')}; {ci} excludes zero, "
            f"so the difference is larger than seed noise.")


def compare_table(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str,
                  metric: str = "test_top1") -> tuple[pd.DataFrame, str]:
    """Rows: metrics; columns: name_a, name_b, b - a and its 95% interval, over complete seeds.

    `a` and `b` are the runs of one report row each. A metric that some complete seeds lack (time
    to 52% when one seed never got there) has no mean: one over the others would flatter the side.
    """
    done_a, done_b = (side[side["status"] == "complete"] for side in (a, b))
    both = pd.concat([done_a, done_b])
    mixed = "device" in both and both["device"].nunique() > 1  # a step-like budget's seeds on two machines
    table_rows, intervals = [], {}
    for m in metrics.shown():
        va, vb = m.over_seeds(done_a), m.over_seeds(done_b)
        if m.timed and mixed:  # a time of one machine against another's compares machines: left out
            va, vb = va.iloc[:0], vb.iloc[:0]
        interval = intervals[m.name] = welch_interval(va, vb)
        table_rows.append({"metric": m.name, name_a: va.mean(), name_b: vb.mean(), "difference": vb.mean() - va.mean(),
                           "95% CI low": interval[1] if interval else np.nan,
                           "95% CI high": interval[2] if interval else np.nan})
    text = (f"{name_a}: n={len(done_a)} complete seeds ({tables.completed_text(a)}); {name_b}: n={len(done_b)} "
            f"complete seeds ({tables.completed_text(b)}). " + verdict(name_a, name_b, metric, intervals[metric]))
    if mixed:
        text += " Times and speeds are left out (-): these seeds ran on different devices."
    return pd.DataFrame(table_rows), text


# ------------------------------------------------------------------------------- the command
def run(archs: list[str], results_dir, out_dir, metric: str = "test_top1",
        warn: Callable[[str], None] = caveats.warn_stderr) -> tuple[str, Path]:
    """Every row of each architecture against every row of the first, within each comparison
    group (grouped exactly as the report); writes compare-A-vs-B.md and the learning curves."""
    if len(archs) < 2 or len(set(archs)) < len(archs):
        raise ConfigError("compare needs at least two different architectures")
    names = [m.name for m in metrics.shown()]
    if metric not in names:
        raise ConfigError(f"unknown metric {metric!r}; metrics: {', '.join(names)}")
    runs, history = load(results_dir)
    for problem in runs.attrs.get("warnings", []):
        warn(problem)
    missing = [a for a in archs if a not in set(runs["arch"].dropna())]
    if missing:
        raise ConfigError(f"no results for {', '.join(missing)} under {results_dir}: run "
                          f"`python -m benchmarks run {' '.join(missing)} --seeds 3` first")
    readable = runs[~runs["status"].isin(("unreadable", "duplicate"))]
    only_unreadable = [a for a in archs if a not in set(readable["arch"].dropna())]
    if only_unreadable:
        raise ConfigError(f"every result of {', '.join(only_unreadable)} under {results_dir} is unreadable "
                          f"(see the warnings above); re-run the same `run` command to rebuild them from checkpoints")
    runs = runs[runs["arch"].isin(archs)]
    body, compared = [], 0
    for key, group in groups(runs):
        sides = {arch: rows(group[group["arch"] == arch]) for arch in archs}
        if not sides[archs[0]]:
            continue
        body.append(f"## {', '.join(f'{k} {v}' for k, v in key.items())}\n")
        if caveats.truthy(group["synthetic"]).any():
            body.append("> **SYNTHETIC DATA**: says nothing about CIFAR.\n")
        for other in archs[1:]:
            if not sides[other]:
                body.append(f"No {other} results in this group.\n")
            pairs = _pairs(sides[archs[0]], sides[other])
            compared += len(pairs)
            body += [_section(side_a, side_b, metric) for side_a, side_b in pairs]
    if not compared:
        raise ConfigError(f"{' and '.join(archs)} never ran under the same dataset, budget, precision, backend and "
                          f"XLA setting (and device, for a time budget)")
    warnings = caveats.run_warnings(runs)
    sections = [f"# compare: {' vs '.join(archs)}\n"]
    if warnings:
        sections.append("## Warnings\n\n" + "\n".join(f"- {w}" for w in warnings) + "\n")
    sections += body
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    stem = "compare-" + "-vs-".join(re.sub(r"[^A-Za-z0-9_-]+", "_", a).strip("_")[:40] or "x" for a in archs)
    curves = history[history["arch"].isin(archs) & (history["status"] != "diverged")] if not history.empty else history
    if not curves.empty:
        marks = {reference(d) for d in curves["dataset"].dropna().unique()}  # the post's 52%, where it applies
        save_png(learning_curves(curves, " vs ".join(archs), reference=marks.pop() if len(marks) == 1 else None,
                                 highlight=REFERENCE_ARCH), Path(out_dir) / f"{stem}.png")
        sections.append(f"![learning curves]({stem}.png)\n")
    text = "\n".join(sections)
    path = Path(out_dir) / f"{stem}.md"
    atomic_write(path, lambda f: f.write(text))
    return text, path


def _pairs(rows_a, rows_b):
    """Every row of A against every row of B, like against like (same recipe and variant) first."""
    def unlike(pair):
        (key_a, _), (key_b, _) = pair
        return (key_a["recipe"], key_a["variant"]) != (key_b["recipe"], key_b["variant"])

    return sorted(((a, b) for a in rows_a for b in rows_b), key=unlike)


def _section(side_a, side_b, metric: str) -> str:
    (key_a, a), (key_b, b) = side_a, side_b
    name_a, name_b = (row_label(**key, recipe_always=True) for key in (key_a, key_b))
    table, text = compare_table(a, b, name_a, name_b, metric)
    if (key_a["recipe"], key_a["variant"]) != (key_b["recipe"], key_b["variant"]):
        text += (" The two sides differ in recipe or variant, not only in architecture: this difference "
                 "is theirs together.")
    cells = tables.markdown_table(_format(table), left=("metric", "better"))
    return f"### {name_b} - {name_a}\n\n{cells}\n\n{text}\n"


def _format(table: pd.DataFrame) -> pd.DataFrame:
    """Values in each metric's unit, differences signed in the unit of a difference."""
    direction = {True: "higher", False: "lower", None: "- (descriptive)"}
    shown = [metrics.METRICS[name] for name in table["metric"]]
    out = pd.DataFrame({"metric": [m.label for m in shown], "better": [direction[m.higher_is_better] for m in shown]})
    for column in table.columns[1:]:
        differences = column in ("difference", "95% CI low", "95% CI high")
        out[column] = [m.difference(v) if differences else m.text(v) for m, v in zip(shown, table[column])]
    return out
