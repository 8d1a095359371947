"""`compare A B`: two architectures side by side, with the difference and its uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (standard tables);
# interpolated for Welch's fractional df, 1.96 beyond. Kept here rather than adding scipy.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042]


def t975(df: float) -> float:
    if df >= 30:
        return 1.96 + (2.042 - 1.96) * 30 / df  # approaches the normal quantile
    df = max(df, 1.0)
    lo = int(math.floor(df))
    frac = df - lo
    return _T975[lo - 1] if frac == 0 else _T975[lo - 1] + frac * (_T975[lo] - _T975[lo - 1])


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
    if interval is None:
        return ("With fewer than two seeds per architecture no claim about significance can be made "
                "(run with --seeds 3 or more).")
    diff, low, high = interval
    if low > 0 or high < 0:
        better = name_b if diff > 0 else name_a
        return (f"{better} is better on {metric} by {abs(diff):.1%}; the 95% interval "
                f"[{low:+.1%}, {high:+.1%}] excludes zero, so the difference is larger than seed noise.")
    return (f"The difference on {metric} ({diff:+.1%}) is within seed noise: the 95% interval "
            f"[{low:+.1%}, {high:+.1%}] includes zero.")


METRICS = ("test_top1", "test_top5", "best_val_top1", "train_eval_top1", "gap", "images_per_second",
           "epochs", "time_to_52", "params", "mmacs")


def compare_table(runs: pd.DataFrame, base: str, other: str, metric: str) -> tuple[pd.DataFrame, str]:
    """Rows: metrics; columns: base, other, other - base (means over complete seeds)."""
    done = runs[runs["status"] == "complete"]
    a, b = done[done["arch"] == base], done[done["arch"] == other]
    rows = []
    for m in METRICS:
        va, vb = pd.to_numeric(a[m], errors="coerce").astype(float), pd.to_numeric(b[m], errors="coerce").astype(float)
        interval = welch_interval(va.dropna(), vb.dropna())
        rows.append({"metric": m, base: va.mean(), other: vb.mean(), "difference": vb.mean() - va.mean(),
                     "95% CI low": interval[1] if interval else None,
                     "95% CI high": interval[2] if interval else None})
    table = pd.DataFrame(rows)
    interval = welch_interval(a[metric].dropna().astype(float), b[metric].dropna().astype(float))
    text = (f"{base}: n={len(a)} seeds, {other}: n={len(b)} seeds. "
            + verdict(base, other, metric, interval))
    return table, text


def run(archs: list[str], results_dir, out_dir, metric: str = "test_top1") -> tuple[str, object]:
    """Every architecture against the first, within each comparison group; writes the markdown."""
    from pathlib import Path

    from benchmarks import report
    from benchmarks.config import ConfigError
    from benchmarks.results import GROUP, load

    if len(archs) < 2:
        raise ConfigError("compare needs at least two architectures")
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
    runs, history = load(results_dir)
    missing = [a for a in archs if a not in set(runs["arch"])]
    if missing:
        raise ConfigError(f"no results for {', '.join(missing)} under {results_dir}: run "
                          f"`python -m benchmarks run {' '.join(missing)} --seeds 3` first")
    runs = runs[runs["arch"].isin(archs)]
    base, sections = archs[0], [f"# compare: {' vs '.join(archs)}\n"]
    for key, group in runs.groupby(GROUP, sort=True):
        title = ", ".join(f"{k} {v}" for k, v in zip(GROUP, key))
        present = set(group["arch"])
        if base not in present:
            continue
        sections.append(f"## {title}\n")
        if group["synthetic"].fillna(False).astype(bool).any():
            sections.append("> **SYNTHETIC DATA**: says nothing about CIFAR.\n")
        for other in archs[1:]:
            if other not in present:
                sections.append(f"No {other} results in this group.\n")
                continue
            table, verdict_text = compare_table(group, base, other, metric)
            sections.append(f"### {other} - {base}\n\n{_format(table).to_markdown(index=False)}\n\n{verdict_text}\n")
    if len(sections) == 1:
        raise ConfigError(f"{' and '.join(archs)} never ran under the same dataset, budget, precision and device")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    stem = f"compare-{'-vs-'.join(archs)}"
    if not history.empty:
        curves = history[history["arch"].isin(archs)]
        report.save_png(report.learning_curves(curves, " vs ".join(archs)), Path(out_dir) / f"{stem}.png")
        sections.append(f"![learning curves]({stem}.png)\n")
    text = "\n".join(sections)
    path = Path(out_dir) / f"{stem}.md"
    path.write_text(text)
    return text, path


_ACCURACIES = ("test_top1", "test_top5", "best_val_top1", "train_eval_top1", "gap")


def _format(table: pd.DataFrame) -> pd.DataFrame:
    def fmt(metric, v):
        if v is None or pd.isna(v):
            return "-"
        if metric in ("images_per_second", "params"):
            return f"{v:,.0f}"
        if metric in ("epochs", "mmacs"):
            return f"{v:,.1f}"
        if metric == "time_to_52":
            return f"{v:,.0f} s"
        return f"{100 * v:+.1f}" if metric == "gap" else f"{100 * v:.1f}%"

    out = table.copy()
    for column in out.columns[1:]:
        as_points = column in ("difference", "95% CI low", "95% CI high")
        out[column] = [f"{100 * v:+.1f} pts" if as_points and m in _ACCURACIES and not pd.isna(v) else fmt(m, v)
                       for m, v in zip(out["metric"], out[column])]
    return out
