"""`compare A B`: architectures side by side, each report row (arch, recipe, variant) of the others
against each of the first's, with the difference in the metric's unit and its 95% Welch interval."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from benchmarks import report
from benchmarks.config import ConfigError
from benchmarks.results import groups, load, row_label, rows
from benchmarks.storage import atomic_write


# --------------------------------------------------------------------------------- metrics
@dataclasses.dataclass(frozen=True)
class Metric:
    name: str  # the column of `results.load`'s runs
    label: str  # for a person
    unit: str  # of a value; a difference of a "%" value is in "pts" (percentage points)
    higher_is_better: bool | None  # None: describes the models, neither side is "better"
    better: str  # the verdict's phrase for the better side ("" when descriptive)
    scale: float = 1.0  # stored value x scale = shown value
    decimals: int = 0


# Every metric compare shows, as data (a later project-wide metric table will hold these facts).
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("test_top1", "test top-1", "%", True, "has the higher test top-1", 100, 1),
    Metric("test_top5", "test top-5", "%", True, "has the higher test top-5", 100, 1),
    Metric("best_val_top1", "best val top-1", "%", True, "has the higher best val top-1", 100, 1),
    # Higher accuracy on training images is not better by itself (it may be overfitting).
    Metric("train_eval_top1", "train-eval top-1", "%", None, "", 100, 1),
    Metric("gap", "overfitting gap (train-eval - val)", "pts", False, "overfits less (smaller gap)", 100, 1),
    Metric("images_per_second", "training throughput", "img/s", True, "trains faster", 1, 0),
    Metric("time_to_52", "time to 52% val", "s", False, "is faster to 52%", 1, 0),
    Metric("epochs", "epochs reached", "epochs", None, "", 1, 1),
    Metric("params", "trainable parameters", "count", None, ""),
    Metric("mmacs", "MMACs per image", "MMACs", None, "", 1, 1),
)}


def format_value(metric: str, value) -> str:
    """'52.3%', '+4.1 pts', '1,234 s', '269,722'."""
    m = METRICS[metric]
    if value is None or pd.isna(value):
        return "-"
    return f"{m.scale * value:{'+' if m.unit == 'pts' else ''},.{m.decimals}f}{_suffix(m.unit)}"


def format_difference(metric: str, difference) -> str:
    """'+12.3 pts', '-40 s', '+1,200 img/s': always signed, in the metric's unit."""
    m = METRICS[metric]
    if difference is None or pd.isna(difference):
        return "-"
    return f"{m.scale * difference:+,.{m.decimals}f}{_suffix('pts' if m.unit == '%' else m.unit)}"


def _suffix(unit: str) -> str:
    return {"%": "%", "count": ""}.get(unit, f" {unit}")


# ------------------------------------------------------------------------------ statistics
def t975(df: float) -> float:
    """The two-sided 95% quantile of Student's t with `df` (Welch's are fractional) degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def welch_interval(a, b) -> tuple[float, float, float] | None:
    """(difference of means b - a, low, high) of the 95% Welch interval; None below 2 seeds each."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = b.mean() - a.mean()
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / ((va**2 / (len(a) - 1)) + (vb**2 / (len(b) - 1)))
    half = t975(df) * se
    return diff, diff - half, diff + half


def verdict(name_a: str, name_b: str, metric: str, interval) -> str:
    """One sentence on `metric`, in its unit and direction."""
    m = METRICS[metric]
    if interval is None:
        return (f"With fewer than two seeds with a {m.label} on each side, no claim about significance "
                f"can be made (run with --seeds 3 or more).")
    diff, low, high = interval
    ci = f"the 95% interval [{format_difference(metric, low)}, {format_difference(metric, high)}]"
    if low <= 0 <= high:
        return (f"The difference in {m.label} ({name_b} - {name_a}: {format_difference(metric, diff)}) is "
                f"within seed noise: {ci} includes zero.")
    if m.higher_is_better is None:
        return (f"{name_b} - {name_a} in {m.label}: {format_difference(metric, diff)} ({ci}); this describes "
                f"the models, neither is better for it.")
    better = name_b if (diff > 0) == m.higher_is_better else name_a
    return (f"{better} {m.better} by {format_difference(metric, abs(diff)).lstrip('+')}; {ci} excludes zero, "
            f"so the difference is larger than seed noise.")


def compare_table(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str,
                  metric: str = "test_top1") -> tuple[pd.DataFrame, str]:
    """Rows: metrics; columns: name_a, name_b, b - a and its 95% interval, over complete seeds.

    `a` and `b` are the runs of one report row each. A metric that some complete seeds lack (time
    to 52% when one seed never got there) has no mean: one over the others would flatter the side.
    """
    done_a, done_b = (side[side["status"] == "complete"] for side in (a, b))
    table_rows, intervals = [], {}
    for name in METRICS:
        va, vb = _values(done_a, name), _values(done_b, name)
        interval = intervals[name] = welch_interval(va, vb)
        table_rows.append({"metric": name, name_a: va.mean(), name_b: vb.mean(), "difference": vb.mean() - va.mean(),
                           "95% CI low": interval[1] if interval else np.nan,
                           "95% CI high": interval[2] if interval else np.nan})
    text = (f"{name_a}: n={len(done_a)} complete seeds ({report.completed_text(a)}); {name_b}: n={len(done_b)} "
            f"complete seeds ({report.completed_text(b)}). " + verdict(name_a, name_b, metric, intervals[metric]))
    return pd.DataFrame(table_rows), text


def _values(done: pd.DataFrame, metric: str) -> pd.Series:
    values = pd.to_numeric(done[metric], errors="coerce").astype(float)
    return values if values.notna().all() else values.iloc[:0]


# ------------------------------------------------------------------------------- the command
def run(archs: list[str], results_dir, out_dir, metric: str = "test_top1",
        warn: Callable[[str], None] = report.warn_stderr) -> tuple[str, Path]:
    """Every row of each architecture against every row of the first, within each comparison
    group (grouped exactly as the report); writes compare-A-vs-B.md and the learning curves."""
    if len(archs) < 2 or len(set(archs)) < len(archs):
        raise ConfigError("compare needs at least two different architectures")
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
    runs, history = load(results_dir)
    for problem in runs.attrs.get("warnings", []):
        warn(problem)
    missing = [a for a in archs if a not in set(runs["arch"].dropna())]
    if missing:
        raise ConfigError(f"no results for {', '.join(missing)} under {results_dir}: run "
                          f"`python -m benchmarks run {' '.join(missing)} --seeds 3` first")
    runs = runs[runs["arch"].isin(archs)]
    body = []
    for key, group in groups(runs):
        sides = {arch: rows(group[group["arch"] == arch]) for arch in archs}
        if not sides[archs[0]]:
            continue
        body.append(f"## {', '.join(f'{k} {v}' for k, v in key.items())}\n")
        if report.truthy(group["synthetic"]).any():
            body.append("> **SYNTHETIC DATA**: says nothing about CIFAR.\n")
        for other in archs[1:]:
            if not sides[other]:
                body.append(f"No {other} results in this group.\n")
            body += [_section(side_a, side_b, metric) for side_a, side_b in _pairs(sides[archs[0]], sides[other])]
    if not body:
        raise ConfigError(f"{' and '.join(archs)} never ran under the same dataset, budget, precision and device")
    warnings = report.run_warnings(runs)
    sections = [f"# compare: {' vs '.join(archs)}\n"]
    if warnings:
        sections.append("## Warnings\n\n" + "\n".join(f"- {w}" for w in warnings) + "\n")
    sections += body
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    stem = f"compare-{'-vs-'.join(archs)}"
    curves = history[history["arch"].isin(archs) & (history["status"] != "diverged")] if not history.empty else history
    if not curves.empty:
        report.save_png(report.learning_curves(curves, " vs ".join(archs)), Path(out_dir) / f"{stem}.png")
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
    return f"### {name_b} - {name_a}\n\n{_format(table).to_markdown(index=False)}\n\n{text}\n"


def _format(table: pd.DataFrame) -> pd.DataFrame:
    """Values in each metric's unit, differences signed in the unit of a difference."""
    direction = {True: "higher", False: "lower", None: "- (descriptive)"}
    out = pd.DataFrame({"metric": [METRICS[m].label for m in table["metric"]],
                        "better": [direction[METRICS[m].higher_is_better] for m in table["metric"]]})
    for column in table.columns[1:]:
        fmt = format_difference if column in ("difference", "95% CI low", "95% CI high") else format_value
        out[column] = [fmt(m, v) for m, v in zip(table["metric"], table[column])]
    return out
