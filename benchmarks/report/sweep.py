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


def budget_sweep(runs: pd.DataFrame, title: str, reference: style.Reference | None = None, highlight: str | None = None,
                 published: tuple = ()):
    """Test top-1 against budget (log scale), one panel per budget kind with two budgets or more:
    per row a mean line over complete seeds, a band over their range and each seed faint, so that
    where one architecture overtakes another is visible. On the FLOP panel, `published` results
    (`core.published`) are hollow markers at their own compute, never joined to a measured line,
    and the blog post's model a star at its two days."""
    from matplotlib.lines import Line2D

    plt, _ = style.pyplot()
    done = runs[runs["status"] == "complete"].dropna(subset=["test_top1", "budget"])
    kinds = sweep_kinds(done)
    common = style.common_variant(done["variant"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(2 + 7 * len(kinds), 5.6), sharey=True, squeeze=False,
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
        ax.set(xlabel=f"{_KIND_AXIS[kind]} (log scale)", title=f"{title}: test top-1 by {_KIND_AXIS[kind]}")
        shown = _published(ax, published) if kind == "flops" else ()
        style.reference_line(ax, reference)
        if kind == "flops":
            post = _post_star(ax, done, highlight) if reference is not None else None
            _decade_axis(ax, [*amount.values(), *([post] if post else []), *(p.train_flops for p in shown)])
            if shown:
                handles["published"] = Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor=style.INK,
                                              linestyle="none", label="published (200 epochs, own recipe)")
            if post:
                handles["post"] = Line2D([], [], marker="*", markersize=12, color=style.row_color(
                    style.REFERENCE_ARCH, "post"), markeredgecolor=style.INK, linestyle="none",
                    label=f"blog post: {100 * style.POST['val_top1']:.0f}% after {style.POST['epochs']:,} epochs")
        else:
            _budget_axis(ax, amount)
    axes[0][0].set_ylabel("test top-1 (%): mean, range over seeds, each seed")
    fig.legend(handles=list(handles.values()), loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def _budget_axis(ax, amount: dict[str, float]) -> None:
    """A log axis with one tick per budget, labelled as the budget was given ('30s', '2epochs')."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_xticks(list(amount.values()), list(amount))
    ax.xaxis.set_minor_locator(NullLocator())
    low, high = min(amount.values()), max(amount.values())
    ax.set_xlim(low / 1.3, high * 1.3)


def _post_star(ax, done: pd.DataFrame, highlight: str | None) -> float | None:
    """The blog post's own compute on the FLOP axis: its 52% as the star at 6 x MACs x 2,000 epochs
    x 50,000 images, so a reader sees how far below the post's compute each row gets how far.
    Returns its FLOPs (None when the post's model has no run here)."""
    mmacs = done.loc[done["arch"] == style.REFERENCE_ARCH, "mmacs"].dropna()
    if mmacs.empty or highlight is None:
        return None
    x, y = style.post_compute(float(mmacs.iloc[0])), 100 * style.POST["val_top1"]
    ax.plot([x], [y], marker="*", markersize=16, color=style.row_color(style.REFERENCE_ARCH, "post"),
            markeredgecolor=style.INK, linestyle="none", zorder=5)
    ax.annotate(f"blog post, two days\n{x:.1e} FLOPs".replace("e+", "e"), xy=(x, y), xytext=(0, 12),
                textcoords="offset points", ha="center", va="bottom", fontsize=8, color=style.INK)
    return x


def _published(ax, published: tuple) -> tuple:
    """Each published result as a hollow marker in its architecture's colour at its own FLOPs, its
    architecture named once beside its first marker; none is joined to a line or averaged with a
    measured run (the report's table lists each with its recipe)."""
    named = set()
    for p in sorted(published, key=lambda p: p.train_flops):
        x, y = p.train_flops, 100 * p.top1
        ax.plot([x], [y], marker="o", markersize=8, markerfacecolor="none", markeredgewidth=1.6,
                markeredgecolor=style.arch_color(p.arch), linestyle="none", zorder=4)
        if p.arch not in named:
            named.add(p.arch)
            ax.annotate(p.arch, xy=(x, y), xytext=(0, -11 if len(named) % 2 else 9), textcoords="offset points",
                        fontsize=7, color=style.INK, ha="center", va="center")
    return published


def _decade_axis(ax, values: list[float]) -> None:
    """A real log axis with a labelled tick at every decade from below the smallest value to past
    the largest ('1e13', '1e14', ...)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = math.floor(math.log10(min(values) / 1.5)), math.ceil(math.log10(max(values) * 1.5))
    ax.set_xscale("log")
    ax.set_xlim(10 ** low, 10 ** high)
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=high - low + 2))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{round(math.log10(v))}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
