"""The figures of `report` and `compare`: each takes a frame from `reading.load` or
`tables.main_table` and returns a matplotlib figure (saved with fixed metadata by
`style.save_png`, so the same results give the same bytes). Seeds are aggregated the same
way everywhere: a mean line, a band over the seeds' range, each seed faint. The look (colours,
labels, units) is `style`'s; the figure across budgets is `sweep`'s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.core.units import format_count
from benchmarks.report import style


# ------------------------------------------------------------------------------ learning curves
def learning_curves(history: pd.DataFrame, title: str, sizes: pd.DataFrame | None = None,
                    reference: style.Reference | None = None, highlight: str | None = None):
    """Validation top-1 against training time and against epochs: per row a mean line, a band over
    the seeds' range and each seed faint; the running training top-1 dashed. Runs of several budgets
    (compare after a sweep) are never averaged together: one line per row and budget, in the row's
    colour, the budget told by the marker."""
    plt, _ = style.pyplot()
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True, layout="constrained")
    scale, unit = style.time_unit(float(history["train_seconds"].max()))
    budgets = sorted(history["budget"].dropna().unique(), key=style.budget_key) if "budget" in history else []
    common = style.common_variant(history["variant"]) if "variant" in history else ""
    handles = []
    for key, rows in style.row_groups(history):
        colour = style.row_color(*key[:2])
        for budget, g in rows.groupby("budget", sort=False) if len(budgets) > 1 else [(None, rows)]:
            marker, grow = style.marker(key[0], highlight)
            if budget is not None:
                marker, grow = style.BUDGET_MARKERS[budgets.index(budget) % len(style.BUDGET_MARKERS)], 1.3
            label = style.label(key, sizes, common) + (f", budget {budget}" if budget is not None else "")
            mean = _per_epoch(g)
            for ax, x in ((axes[0], "minutes"), (axes[1], "epoch")):
                xs = mean["seconds"] / scale if x == "minutes" else mean.index
                for _, seed in g.groupby("seed"):
                    sx = seed["train_seconds"] / scale if x == "minutes" else seed["epoch"]
                    ax.plot(sx, 100 * seed["val_top1"], color=colour, alpha=0.3, linewidth=0.8)
                ax.fill_between(xs, 100 * mean["low"], 100 * mean["high"], color=colour, alpha=0.15, linewidth=0)
                ax.plot(xs, 100 * mean["train"], color=colour, linestyle="--", linewidth=1.2, label="_train")
                line, = ax.plot(xs, 100 * mean["val"], color=colour, linewidth=2.2, marker=marker,
                                markersize=4 * grow, label=label)
            handles.append(line)
    for ax, xlabel in zip(axes, (f"training time ({unit})", "epoch")):
        ax.set(xlabel=xlabel, ylabel="top-1 accuracy (%)")
        style.reference_line(ax, reference)
    from matplotlib.ticker import MaxNLocator

    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{title}: learning curves")
    key_lines = [Line2D([], [], color=style.INK, linewidth=2.2, label="val top-1: mean over seeds"),
             Line2D([], [], color=style.INK, linewidth=6, alpha=0.15, label="range over seeds"),
             Line2D([], [], color=style.INK, linewidth=0.8, alpha=0.4, label="each seed"),
             Line2D([], [], color=style.INK, linestyle="--", linewidth=1.2, label="running train top-1 (mean)")]
    style.legend_right(fig, handles)
    style.legend_right(fig, key_lines, where="lower")
    return fig


def _per_epoch(runs: pd.DataFrame) -> pd.DataFrame:
    """Per epoch over seeds: mean training seconds, mean, lowest and highest val top-1, mean train
    top-1; only the epochs every seed reached (under a time budget one seed may get an epoch more:
    a mean over the others would jump there; its faint line still shows it)."""
    stats = runs.groupby("epoch").agg(seconds=("train_seconds", "mean"), val=("val_top1", "mean"),
                                      low=("val_top1", "min"), high=("val_top1", "max"),
                                      train=("train_top1", "mean"), seeds=("seed", "nunique")).sort_index()
    return stats[stats["seeds"] == runs["seed"].nunique()]


# -------------------------------------------------------------------------- one budget's table
def frontier(table: pd.DataFrame, title: str, reference: style.Reference | None = None, highlight: str | None = None):
    """Test top-1 (mean, whiskers one std over seeds) against training throughput; marker area
    grows with the parameter count."""
    plt, _ = style.pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5), layout="constrained")
    area = _areas(table["params"])
    handles = _accuracy_points(ax, table, "images_per_second", lambda index: area[index], highlight)
    ax.set_xscale("log")
    style.count_axis(ax.xaxis)
    ax.set(xlabel="training throughput (images/s, log scale)", ylabel="test top-1 (%)",
           title=f"{title}: accuracy vs speed")
    style.reference_line(ax, reference)
    style.legend_right(fig, handles)
    style.legend_right(fig, _size_legend(ax, table["params"]), title="marker area: parameters", where="lower")
    return fig


def _accuracy_points(ax, table: pd.DataFrame, x_column: str, size, highlight: str | None) -> list:
    """One point per row at (x_column, mean test top-1), whiskers one std over seeds, in the row's
    colour; `size(index)` is the marker area. Returns the legend handles."""
    common, handles = style.common_variant(table["variant"]), []
    for key, r in style.row_groups(table):
        row = r.iloc[0]
        marker, grow = style.marker(key[0], highlight)
        x, y = row[x_column], 100 * row["test_top1"]
        ax.errorbar(x, y, yerr=_std(row, "test_top1"), fmt="none", ecolor=style.row_color(*key[:2]), alpha=0.6, zorder=2)
        handles.append(ax.scatter(x, y, s=size(r.index[0]) * grow**2, color=style.row_color(*key[:2]), marker=marker,
                                  edgecolor="white", linewidth=0.8, label=style.label(key, table, common), zorder=3))
    return handles


def gap_plot(table: pd.DataFrame, title: str, runs: pd.DataFrame | None = None):
    """The overfitting gap per row, a bar in the row's colour with each complete seed a dot."""
    plt, _ = style.pyplot()
    keyed = style.row_groups(table)
    fig, ax = plt.subplots(figsize=(9.5, 1.6 + 0.55 * len(keyed)), layout="constrained")
    for i, (key, r) in enumerate(keyed):
        gap = 100 * r["gap"].iloc[0]
        seeds = 100 * style.row_of(runs, key)["gap"].dropna() if runs is not None else pd.Series(dtype=float)
        ax.barh(i, gap, color=style.row_color(*key[:2]), height=0.6)
        ax.scatter(seeds, np.full(len(seeds), i), color=style.INK, s=12, zorder=3)
        end = max([gap, *seeds]) if gap >= 0 else min([gap, *seeds])  # the number beyond bar and dots
        ax.annotate(f"{gap:+.1f}", xy=(end, i), xytext=(5 if gap >= 0 else -5, 0), textcoords="offset points",
                    ha="left" if gap >= 0 else "right", va="center", fontsize=9)
    ax.axvline(0, color=style.INK, linewidth=1)
    common = style.common_variant(table["variant"])
    ax.set_yticks(range(len(keyed)), [style.label(key, table, common) for key, _ in keyed])
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.set(xlabel="train-eval minus val top-1, points: higher = more overfitting", ylabel="")
    fig.suptitle(f"{title}: overfitting gap (bar: mean over seeds, dots: each seed)")
    return fig


def params_plot(table: pd.DataFrame, title: str, reference: style.Reference | None = None, highlight: str | None = None):
    """Test top-1 (mean, whiskers one std over seeds) against trainable parameters (log scale)."""
    plt, _ = style.pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5), layout="constrained")
    handles = _accuracy_points(ax, table, "params", lambda index: 110, highlight)
    ax.set_xscale("log")
    style.count_axis(ax.xaxis)
    ax.set(xlabel="trainable parameters (log scale)", ylabel="test top-1 (%)", title=f"{title}: accuracy vs size")
    style.reference_line(ax, reference)
    style.legend_right(fig, handles)
    return fig


def _std(row: pd.Series, name: str) -> float:
    std = row.get(f"{name} std", np.nan)
    return 0.0 if pd.isna(std) else 100 * float(std)


def _areas(params: pd.Series) -> pd.Series:
    """Marker areas from 50 to 450 points², growing with log parameters."""
    logs = np.log10(params.astype(float).clip(lower=1))
    span = logs.max() - logs.min()
    return 50 + 400 * ((logs - logs.min()) / span if span > 0 else 0.5 + 0 * logs)


def _size_legend(ax, params: pd.Series) -> list:
    """Proxy markers for the smallest and largest parameter counts, labelled 0.27M."""
    known = params.dropna().astype(float)
    if known.empty:
        return []
    area = _areas(known)
    picks = sorted({known.idxmin(), known.idxmax()}, key=lambda i: known[i])
    return [ax.scatter([], [], s=area[i], color="#999999", label=format_count(known[i])) for i in picks]
