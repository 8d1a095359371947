"""The figures of `report` and `compare`: each takes a frame from `results.load` or
`report.main_table` and returns a matplotlib figure (saved with fixed metadata, so the same results
give the same bytes).

Every figure draws an architecture in its own colour, `arch_color`: fixed by the architecture's
place in the registry (a hash of the name for one outside it), never by plotting order, so it is the
same in every figure of a report, in `compare`, and in two reports of different architectures.
Seeds are aggregated the same way everywhere: a mean line, a band over the seeds' range, each seed
faint. Accuracies are in %, sizes in 0.27M params / 41 MMACs, time in seconds, minutes or hours.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.budget import Budget
from benchmarks.results import ROW, row_label
from benchmarks.units import format_count

Reference = tuple[float, str]  # a published accuracy drawn on accuracy axes: (0.52, "blog post: 52%")
INK = "#333333"  # the reference line and zero lines: not an architecture's colour


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def save_png(fig, path: Path) -> None:
    # Fixed metadata so the same results give the same bytes.
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------ colours
# Indexed by the architecture's position in `architectures.names()` (registration order), so adding
# a run never recolours another. Ordered so that the names most runs use (the default suite) get
# the most distinct hues.
_COLOURS = ("#1f77b4", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7b4173", "#bcbd22",
            "#393b79", "#2ca02c", "#637939", "#d62728", "#8c6d31", "#9467bd", "#843c39")


def _registry() -> list[str]:
    import architectures

    return architectures.names()


def _digest(text: str) -> float:
    """A stable fraction in [0, 1) (Python's own hash() changes between processes)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32


def arch_color(arch: str) -> str:
    """The architecture's colour, '#rrggbb': its registry position's, or one hashed from its name
    (an unregistered depth such as resnet8) at a fixed lightness and saturation."""
    import colorsys

    names = _registry()
    if arch in names and names.index(arch) < len(_COLOURS):
        return _COLOURS[names.index(arch)]
    return _hex(colorsys.hls_to_rgb(_digest(arch), 0.42, 0.6))


def row_color(arch: str, recipe: str = "paper") -> str:
    """A report row's colour: the architecture's with the paper recipe (whatever its variant: the
    smoke preset's rows all have one); with another recipe, a darker shade of the same hue, fixed by
    a hash of the recipe's name."""
    base = arch_color(arch)
    if row_label(arch, recipe, "") == arch:
        return base
    keep = 0.45 + 0.25 * _digest(recipe)
    return _hex([keep * int(base[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(255 * min(max(c, 0.0), 1.0)):02x}" for c in rgb)


# -------------------------------------------------------------------------------- rows, labels
def _rows(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """((arch, recipe, variant), its rows) in registry order, then by name: every legend lists the
    architectures in the same order."""
    known = frame.dropna(subset=["arch", "recipe"])
    if "variant" not in known:
        known = known.assign(variant="")
    known = known.assign(variant=known["variant"].fillna(""))
    names = _registry()
    position = {name: i for i, name in enumerate(names)}
    grouped = list(known.groupby(ROW, sort=True))
    return sorted(grouped, key=lambda kg: (position.get(kg[0][0], len(names)), kg[0]))


def _size_text(frame: pd.DataFrame) -> str:
    """'0.27M params, 41 MMACs' from the first run that knows them ('' when none does)."""
    parts = []
    if "params" in frame and frame["params"].notna().any():
        parts.append(f"{format_count(float(frame['params'].dropna().iloc[0]))} params")
    if "mmacs" in frame and frame["mmacs"].notna().any():
        mmacs = float(frame["mmacs"].dropna().iloc[0])
        parts.append(f"{mmacs:,.0f} MMACs" if mmacs >= 10 else f"{mmacs:.2g} MMACs")
    return ", ".join(parts)


def common_variant(variants: pd.Series) -> str:
    """The parts ('key=value') of a variant that every row shares (the smoke preset's data options,
    say), in the first row's order: said once beside a table or figure rather than on every row."""
    parts = [_parts(v) for v in variants.fillna("")]
    shared = set.intersection(*map(set, parts)) if parts else set()
    return ", ".join(p for p in (parts[0] if parts else []) if p in shared)


def short_label(arch: str, recipe: str, variant: str | None, common: str = "") -> str:
    """`results.row_label` without the variant parts that every row shares (`common_variant`)."""
    shared = set(_parts(common))
    return row_label(arch, recipe, ", ".join(p for p in _parts(variant) if p not in shared))


def _parts(variant: str | None) -> list[str]:
    return [p for p in (variant or "").split(", ") if p]


def _label(key: tuple, sizes: pd.DataFrame | None = None, common: str = "") -> str:
    """'resnet20 · 0.27M params, 41 MMACs': the row's name (wrapped: a variant can be long) and size."""
    text = textwrap.fill(short_label(*key, common), 40)
    if sizes is not None and not sizes.empty:
        same = sizes[(sizes["arch"] == key[0]) & (sizes["recipe"] == key[1])
                     & (sizes["variant"].fillna("") == key[2])] if "recipe" in sizes else sizes[sizes["arch"] == key[0]]
        size = _size_text(same)
        text += f" · {size}" if size else ""
    return text


_BUDGET_MARKERS = ("o", "s", "^", "D", "v", "P")  # one row's runs of several budgets, in budget order


def _marker(arch: str, highlight: str | None) -> tuple[str, float]:
    """The blog post's model is a star in every figure; every other architecture a circle."""
    return ("*", 2.0) if arch == highlight else ("o", 1.0)


def _time_unit(seconds: float) -> tuple[float, str]:
    """(divisor, unit) that puts a span of training time in readable numbers."""
    if not np.isfinite(seconds) or seconds < 180:
        return 1.0, "seconds"
    return (60.0, "minutes") if seconds < 3 * 3600 else (3600.0, "hours")


def _reference_line(ax, reference: Reference | None) -> None:
    """The published accuracy as a dashed horizontal line with its label, kept inside the y range."""
    if reference is None:
        return
    value, text = 100 * reference[0], reference[1]
    ax.axhline(value, color=INK, linestyle=(0, (5, 3)), linewidth=1.2, zorder=1)
    ax.annotate(text, xy=(0.99, value), xycoords=("axes fraction", "data"), xytext=(0, 3),
                textcoords="offset points", ha="right", va="bottom", fontsize=9, color=INK)
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, value - 3), max(high, value + 4))


def _count_axis(axis) -> None:
    """Ticks of a log axis at 1, 2 and 5 of each decade (a span under one decade still gets some),
    written 0.27M, 15M, 12k."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: format_count(v)))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _legend_right(fig, handles, title: str | None = None, where: str = "upper") -> None:
    fig.legend(handles=handles, loc=f"outside right {where}", title=title, fontsize=9, title_fontsize=9,
               frameon=False)


# ------------------------------------------------------------------------------ learning curves
def learning_curves(history: pd.DataFrame, title: str, sizes: pd.DataFrame | None = None,
                    reference: Reference | None = None, highlight: str | None = None):
    """Validation top-1 against training time and against epochs: per row a mean line, a band over
    the seeds' range and each seed faint; the running training top-1 dashed. Runs of several budgets
    (compare after a sweep) are never averaged together: one line per row and budget, in the row's
    colour, the budget told by the marker."""
    plt, _ = _plt()
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True, layout="constrained")
    scale, unit = _time_unit(float(history["train_seconds"].max()))
    budgets = sorted(history["budget"].dropna().unique(), key=budget_key) if "budget" in history else []
    common = common_variant(history["variant"]) if "variant" in history else ""
    handles = []
    for key, rows in _rows(history):
        colour = row_color(*key[:2])
        for budget, g in rows.groupby("budget", sort=False) if len(budgets) > 1 else [(None, rows)]:
            marker, grow = _marker(key[0], highlight)
            if budget is not None:
                marker, grow = _BUDGET_MARKERS[budgets.index(budget) % len(_BUDGET_MARKERS)], 1.3
            label = _label(key, sizes, common) + (f", budget {budget}" if budget is not None else "")
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
        _reference_line(ax, reference)
    from matplotlib.ticker import MaxNLocator

    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{title}: learning curves")
    style = [Line2D([], [], color=INK, linewidth=2.2, label="val top-1: mean over seeds"),
             Line2D([], [], color=INK, linewidth=6, alpha=0.15, label="range over seeds"),
             Line2D([], [], color=INK, linewidth=0.8, alpha=0.4, label="each seed"),
             Line2D([], [], color=INK, linestyle="--", linewidth=1.2, label="running train top-1 (mean)")]
    _legend_right(fig, handles)
    _legend_right(fig, style, where="lower")
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
def frontier(table: pd.DataFrame, title: str, reference: Reference | None = None, highlight: str | None = None):
    """Test top-1 (mean, whiskers one std over seeds) against training throughput; marker area
    grows with the parameter count."""
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(9.5, 5), layout="constrained")
    area = _areas(table["params"])
    handles = _accuracy_points(ax, table, "images_per_second", lambda index: area[index], highlight)
    ax.set_xscale("log")
    _count_axis(ax.xaxis)
    ax.set(xlabel="training throughput (images/s, log scale)", ylabel="test top-1 (%)",
           title=f"{title}: accuracy vs speed")
    _reference_line(ax, reference)
    _legend_right(fig, handles)
    _legend_right(fig, _size_legend(ax, table["params"]), title="marker area: parameters", where="lower")
    return fig


def _accuracy_points(ax, table: pd.DataFrame, x_column: str, size, highlight: str | None) -> list:
    """One point per row at (x_column, mean test top-1), whiskers one std over seeds, in the row's
    colour; `size(index)` is the marker area. Returns the legend handles."""
    common, handles = common_variant(table["variant"]), []
    for key, r in _rows(table):
        row = r.iloc[0]
        marker, grow = _marker(key[0], highlight)
        x, y = row[x_column], 100 * row["test_top1"]
        ax.errorbar(x, y, yerr=_std(row, "test_top1"), fmt="none", ecolor=row_color(*key[:2]), alpha=0.6, zorder=2)
        handles.append(ax.scatter(x, y, s=size(r.index[0]) * grow**2, color=row_color(*key[:2]), marker=marker,
                                  edgecolor="white", linewidth=0.8, label=_label(key, table, common), zorder=3))
    return handles


def gap_plot(table: pd.DataFrame, title: str, runs: pd.DataFrame | None = None):
    """The overfitting gap per row, a bar in the row's colour with each complete seed a dot."""
    plt, _ = _plt()
    keyed = _rows(table)
    fig, ax = plt.subplots(figsize=(9.5, 1.6 + 0.55 * len(keyed)), layout="constrained")
    for i, (key, r) in enumerate(keyed):
        gap = 100 * r["gap"].iloc[0]
        seeds = 100 * _row_runs(runs, key)["gap"].dropna() if runs is not None else pd.Series(dtype=float)
        ax.barh(i, gap, color=row_color(*key[:2]), height=0.6)
        ax.scatter(seeds, np.full(len(seeds), i), color=INK, s=12, zorder=3)
        end = max([gap, *seeds]) if gap >= 0 else min([gap, *seeds])  # the number beyond bar and dots
        ax.annotate(f"{gap:+.1f}", xy=(end, i), xytext=(5 if gap >= 0 else -5, 0), textcoords="offset points",
                    ha="left" if gap >= 0 else "right", va="center", fontsize=9)
    ax.axvline(0, color=INK, linewidth=1)
    common = common_variant(table["variant"])
    ax.set_yticks(range(len(keyed)), [_label(key, table, common) for key, _ in keyed])
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.set(xlabel="train-eval minus val top-1, points: higher = more overfitting", ylabel="")
    fig.suptitle(f"{title}: overfitting gap (bar: mean over seeds, dots: each seed)")
    return fig


def params_plot(table: pd.DataFrame, title: str, reference: Reference | None = None, highlight: str | None = None):
    """Test top-1 (mean, whiskers one std over seeds) against trainable parameters (log scale)."""
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(9.5, 5), layout="constrained")
    handles = _accuracy_points(ax, table, "params", lambda index: 110, highlight)
    ax.set_xscale("log")
    _count_axis(ax.xaxis)
    ax.set(xlabel="trainable parameters (log scale)", ylabel="test top-1 (%)", title=f"{title}: accuracy vs size")
    _reference_line(ax, reference)
    _legend_right(fig, handles)
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


def _row_runs(runs: pd.DataFrame, key: tuple) -> pd.DataFrame:
    return runs[(runs["arch"] == key[0]) & (runs["recipe"] == key[1]) & (runs["variant"].fillna("") == key[2])]


# ------------------------------------------------------------------------------------ budgets
_KIND_AXIS = {"seconds": "training-time budget", "epochs": "epoch budget", "steps": "step budget",
              "images": "training-image budget", "flops": "training-FLOP budget"}


def budget_key(text: str) -> tuple[str, float]:
    """Sort budgets by kind, then amount ('30s' < '90s' < '15m'); unparseable ones last."""
    try:
        budget = Budget.parse(text)
        return budget.kind, budget.amount
    except ValueError:
        return "~", 0.0


def sweep_kinds(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Budget kind -> its budgets (sorted), for each kind with two budgets or more: a sweep."""
    kinds: dict[str, list[str]] = {}
    for budget in sorted(runs["budget"].dropna().unique(), key=budget_key):
        kind = budget_key(budget)[0]
        if kind != "~":
            kinds.setdefault(kind, []).append(budget)
    return {kind: budgets for kind, budgets in kinds.items() if len(budgets) > 1}


def budget_sweep(runs: pd.DataFrame, title: str, reference: Reference | None = None, highlight: str | None = None):
    """Test top-1 against budget (log scale), one panel per budget kind with two budgets or more:
    per row a mean line over complete seeds, a band over their range and each seed faint, so that
    where one architecture overtakes another is visible."""
    plt, _ = _plt()
    done = runs[runs["status"] == "complete"].dropna(subset=["test_top1", "budget"])
    kinds = sweep_kinds(done)
    common = common_variant(done["variant"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(3 + 6 * len(kinds), 4.8), sharey=True, squeeze=False,
                             layout="constrained")
    handles = {}
    for ax, (kind, budgets) in zip(axes[0], kinds.items()):
        amount = {b: Budget.parse(b).amount for b in budgets}
        for key, r in _rows(done[done["budget"].isin(budgets)]):
            colour, (marker, grow) = row_color(*key[:2]), _marker(key[0], highlight)
            r = r.assign(x=r["budget"].map(amount), y=100 * r["test_top1"])
            for _, seed in r.groupby("seed"):
                seed = seed.sort_values("x")
                ax.plot(seed["x"], seed["y"], color=colour, alpha=0.3, linewidth=0.8, marker=".", markersize=5)
            stats = r.groupby("x")["y"].agg(["mean", "min", "max"]).sort_index()
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.15, linewidth=0)
            handles[key], = ax.plot(stats.index, stats["mean"], color=colour, linewidth=2.2, marker=marker,
                                    markersize=6 * grow, label=_label(key, done, common))
        _budget_axis(ax, amount)
        ax.set(xlabel=f"{_KIND_AXIS[kind]} (log scale)", title=f"{title}: test top-1 by {_KIND_AXIS[kind]}")
        _reference_line(ax, reference)
    axes[0][0].set_ylabel("test top-1 (%): mean, range over seeds, each seed")
    _legend_right(fig, list(handles.values()))
    return fig


def _budget_axis(ax, amount: dict[str, float]) -> None:
    """A log axis with one tick per budget, labelled as the budget was given ('30s', '2epochs')."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_xticks(list(amount.values()), list(amount))
    ax.xaxis.set_minor_locator(NullLocator())
    low, high = min(amount.values()), max(amount.values())
    ax.set_xlim(low / 1.3, high * 1.3)
