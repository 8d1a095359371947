"""The figure across budgets: test top-1 against budget, one panel per budget kind that was swept."""

from __future__ import annotations

import pandas as pd

from benchmarks.core.budget import Budget
from benchmarks.report import style

_KIND_AXIS = {"seconds": "training-time budget", "epochs": "epoch budget", "steps": "step budget",
              "images": "training-image budget", "flops": "training-FLOP budget"}


def sweep_kinds(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Budget kind -> its budgets (sorted), for each kind with two budgets or more: a sweep."""
    kinds: dict[str, list[str]] = {}
    for budget in sorted(runs["budget"].dropna().unique(), key=style.budget_key):
        kind = style.budget_key(budget)[0]
        if kind != "~":
            kinds.setdefault(kind, []).append(budget)
    return {kind: budgets for kind, budgets in kinds.items() if len(budgets) > 1}


def budget_sweep(runs: pd.DataFrame, title: str, reference: style.Reference | None = None, highlight: str | None = None):
    """Test top-1 against budget (log scale), one panel per budget kind with two budgets or more:
    per row a mean line over complete seeds, a band over their range and each seed faint, so that
    where one architecture overtakes another is visible."""
    plt, _ = style.pyplot()
    done = runs[runs["status"] == "complete"].dropna(subset=["test_top1", "budget"])
    kinds = sweep_kinds(done)
    common = style.common_variant(done["variant"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(3 + 6 * len(kinds), 4.8), sharey=True, squeeze=False,
                             layout="constrained")
    handles = {}
    for ax, (kind, budgets) in zip(axes[0], kinds.items()):
        amount = {b: Budget.parse(b).amount for b in budgets}
        for key, r in style.row_groups(done[done["budget"].isin(budgets)]):
            colour, (marker, grow) = style.row_color(*key[:2]), style.marker(key[0], highlight)
            r = r.assign(x=r["budget"].map(amount), y=100 * r["test_top1"])
            for _, seed in r.groupby("seed"):
                seed = seed.sort_values("x")
                ax.plot(seed["x"], seed["y"], color=colour, alpha=0.3, linewidth=0.8, marker=".", markersize=5)
            stats = r.groupby("x")["y"].agg(["mean", "min", "max"]).sort_index()
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.15, linewidth=0)
            handles[key], = ax.plot(stats.index, stats["mean"], color=colour, linewidth=2.2, marker=marker,
                                    markersize=6 * grow, label=style.label(key, done, common))
        _budget_axis(ax, amount)
        ax.set(xlabel=f"{_KIND_AXIS[kind]} (log scale)", title=f"{title}: test top-1 by {_KIND_AXIS[kind]}")
        style.reference_line(ax, reference)
        if kind == "flops" and reference is not None:
            _post_star(ax, done, amount, highlight)
    axes[0][0].set_ylabel("test top-1 (%): mean, range over seeds, each seed")
    style.legend_right(fig, list(handles.values()))
    return fig


def _budget_axis(ax, amount: dict[str, float]) -> None:
    """A log axis with one tick per budget, labelled as the budget was given ('30s', '2epochs')."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_xticks(list(amount.values()), list(amount))
    ax.xaxis.set_minor_locator(NullLocator())
    low, high = min(amount.values()), max(amount.values())
    ax.set_xlim(low / 1.3, high * 1.3)


def _post_star(ax, done: pd.DataFrame, amount: dict[str, float], highlight: str | None) -> None:
    """The blog post's own compute on the FLOP axis: its 52% as the star at 6 x MACs x 2,000 epochs
    x 50,000 images, so a reader sees how far below the post's compute each row gets how far."""
    mmacs = done.loc[done["arch"] == style.REFERENCE_ARCH, "mmacs"].dropna()
    if mmacs.empty or highlight is None:
        return
    x, y = style.post_compute(float(mmacs.iloc[0])), 100 * style.POST["val_top1"]
    ax.plot([x], [y], marker="*", markersize=16, color=style.row_color(style.REFERENCE_ARCH, "post"),
            markeredgecolor=style.INK, linestyle="none", zorder=5)
    ax.annotate(f"blog post: {y:.0f}% after {style.POST['epochs']:,} epochs\n= {x:.1e} FLOPs "
                f"({x / max(amount.values()):,.0f}x the largest budget here)", xy=(x, y), xytext=(-8, -30),
                textcoords="offset points", ha="right", va="top", fontsize=8, color=style.INK)
    ticks = {**amount, f"{x:.0e} (post)": x}
    ax.set_xticks(list(ticks.values()), list(ticks))
    ax.set_xlim(min(amount.values()) / 1.3, x * 2)
