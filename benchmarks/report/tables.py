"""The report's tables: one row per (arch, recipe, variant), each metric of `metrics.shown()` as
mean ± std over complete seeds (the others only counted, by status), the best in bold, cut to the
width a page shows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.core.units import format_duration
from benchmarks.report.style import common_variant, short_label
from benchmarks.results import metrics
from benchmarks.results.reading import rows

PAGE = 110  # characters of a table row a GitHub page shows without scrolling (about 900 px)
NOT_AVERAGED = ("diverged", "failed", "interrupted", "running", "unreadable", "duplicate")  # every status but complete


def main_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (arch, recipe, variant) of one comparison group and one column per shown metric
    (`metrics.shown()`, by name), numeric and unformatted. Only complete runs enter a mean, a std
    or n; `completed` counts the others by status."""
    table_rows = []
    for key, g in rows(runs):
        done = g[g["status"] == "complete"]
        row = {**key, "n": len(done), "completed": completed_text(g), "tuned": _tuning_text(g["tuning"])}
        for m in metrics.shown():
            row.update(_summarise(m, g, done))
        table_rows.append(row)
    table = pd.DataFrame(table_rows)
    if table.empty:
        return table
    return table.sort_values("test_top1", ascending=False, na_position="last", ignore_index=True)


def _summarise(m: metrics.Metric, runs: pd.DataFrame, done: pd.DataFrame) -> dict:
    """{name: mean, 'name std': std, 'name n': complete runs that have it}; a property of the model
    is taken from any run, so it shows even when no seed completed."""
    if m.per_model:
        known = runs[m.name].dropna()
        return {m.name: known.iloc[0] if len(known) else np.nan}
    if m.timed and "device" in done and done["device"].nunique() > 1:  # seconds of two machines: no mean of them means anything
        return {m.name: np.nan, f"{m.name} std": np.nan, f"{m.name} n": len(done), f"{m.name} mixed": True}
    values = m.over_seeds(done)
    return {m.name: values.mean(), f"{m.name} std": values.std(ddof=1), f"{m.name} n": int(done[m.name].notna().sum())}


def completed_text(runs: pd.DataFrame) -> str:
    """'2/3, 1 diverged': complete seeds of all, then the others by status."""
    counts = runs["status"].value_counts()
    others = [f"{counts[s]} {s}" for s in NOT_AVERAGED if counts.get(s, 0)]
    return ", ".join([f"{counts.get('complete', 0)}/{len(runs)}", *others])


def _tuning_text(series) -> str:
    records = [t for t in series if isinstance(t, dict)]
    if not records:
        return ""
    t = records[0]
    spent = format_duration(t.get("compute_seconds"), missing="?")
    return f"tuned: {t.get('trials')} trials of {t.get('budget_per_trial')}, {spent} of search"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each shown metric in its format under its header (`metrics.Metric.cell`), mean ± std where
    the metric has a spread, and the best value in bold where the metric has a direction."""
    best = {m.name: table[m.name].max() if m.higher_is_better else table[m.name].min()
            for m in metrics.shown() if m.higher_is_better is not None}
    common = common_variant(table["variant"])  # said once above the table (the smoke preset's data options)
    out = {"architecture": [short_label(a, r, v, common) + (f" [{t}]" if t else "")
                            for a, r, v, t in zip(table["arch"], table["recipe"], table["variant"], table["tuned"])]}
    for m in metrics.shown():
        out[m.header] = [_cell(m, r, best.get(m.name)) for _, r in table.iterrows()]
    out["completed"] = table["completed"]
    return pd.DataFrame(out)


def _cell(m: metrics.Metric, row: pd.Series, best) -> str:
    value = row[m.name]
    if row.get(f"{m.name} mixed") is True:
        return "mixed devices"
    if pd.isna(value):  # some complete seed lacks it ('not reached (1/2)'), or none has it ('-')
        return f"{m.absent} ({row[f'{m.name} n']}/{row['n']})" if m.absent else "-"
    text = m.cell(value)
    if m.spread:
        std = row[f"{m.name} std"]
        text += (f" ± {m.cell(std)}" if row["n"] > 1 and not pd.isna(std) else "") + f" (n={row['n']})"
    return f"**{text}**" if best is not None and value == best else text


def markdown_table(cells: pd.DataFrame, left=()) -> str:
    """A pipe table of formatted cells, kept as written (tabulate would re-read '10.0' as the number
    10 and print '10'); the `left` columns aligned left, the others (numbers) right."""
    align = ["left" if column in left else "right" for column in cells.columns]
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)


def page_tables(cells: pd.DataFrame, left=(), width: int = PAGE, key: int = 1) -> str:
    """`markdown_table` cut into tables one below the other, each repeating the first `key` columns
    (what names a row: its name, or its name and budget) and none wider than `width` characters as
    rendered (bold marks do not count)."""
    def rendered(column) -> int:
        texts = [str(column), *(str(v).replace("**", "") for v in cells[column])]
        return max(map(len, texts)) + 4  # the cell's padding and border

    first, rest = list(cells.columns[:key]), list(cells.columns[key:])
    chunks, current = [], []
    for column in rest:
        if current and sum(map(rendered, first + current + [column])) > width:
            chunks.append(current)
            current = []
        current.append(column)
    chunks.append(current)
    return "\n\n".join(markdown_table(cells[[*first, *chunk]], left) for chunk in chunks)
