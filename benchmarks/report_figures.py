"""The report's seaborn figures; each takes a frame from `results.load` or `report.main_table`
and returns a matplotlib figure (saved with fixed metadata, so the same results give the same bytes)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from benchmarks.results import row_label


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def _labels(frame: pd.DataFrame) -> list[str]:
    # Wrapped: a variant can be a long list of options.
    variants = frame["variant"] if "variant" in frame else [""] * len(frame)
    return [textwrap.fill(row_label(a, r, v), 40) for a, r, v in zip(frame["arch"], frame["recipe"], variants)]


def learning_curves(history: pd.DataFrame, title: str):
    """Validation top-1 against training time and against epochs; training accuracy dashed."""
    plt, sns = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    h = history.assign(val=100 * history["val_top1"], train=100 * history["train_top1"],
                       minutes=history["train_seconds"] / 60, label=_labels(history))
    for ax, x, xlabel in ((axes[0], "minutes", "training time (minutes)"), (axes[1], "epoch", "epoch")):
        # Seeds reach an epoch at different times: one line per seed against time, their mean per epoch.
        per_seed = {"units": "seed", "estimator": None} if x == "minutes" else {}
        sns.lineplot(data=h, x=x, y="val", hue="label", errorbar=None, marker="o", ax=ax, sort=True, **per_seed)
        palette = {line.get_label(): line.get_color() for line in ax.get_lines()}
        for label, g in h.groupby("label"):
            mean = g.groupby(x if x == "epoch" else "epoch")[[x, "train"]].mean()
            ax.plot(mean[x], mean["train"], linestyle="--", color=palette.get(label), label="_train")
        ax.set(xlabel=xlabel, ylabel="top-1 accuracy (%)", title=f"{title}: val (solid), train running (dashed)")
    axes[1].get_legend().remove() if axes[1].get_legend() else None
    fig.tight_layout()
    return fig


def frontier(table: pd.DataFrame, title: str):
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    t = table.assign(acc=100 * table["test_top1"], size=table["params"].astype(float), label=_labels(table))
    sns.scatterplot(data=t, x="images_per_second", y="acc", hue="label", size="size", sizes=(40, 400), ax=ax, legend="brief")
    ax.set(xlabel="training throughput (images/s)", ylabel="test top-1 (%)",
           title=f"{title}: accuracy vs speed (marker size = parameters)")
    fig.tight_layout()
    return fig


def gap_plot(table: pd.DataFrame, title: str):
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = table.assign(gap_pts=100 * table["gap"], label=_labels(table))
    sns.barplot(data=t, x="gap_pts", y="label", ax=ax, color="tab:orange")
    ax.set(ylabel="", xlabel="train-eval minus val top-1 (points)", title=f"{title}: overfitting gap")
    fig.tight_layout()
    return fig


def params_plot(table: pd.DataFrame, title: str):
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    t = table.assign(acc=100 * table["test_top1"], label=_labels(table))
    sns.scatterplot(data=t, x="params", y="acc", hue="label", s=120, ax=ax)
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters (log scale)", ylabel="test top-1 (%)", title=f"{title}: accuracy vs size")
    fig.tight_layout()
    return fig


def save_png(fig, path: Path) -> None:
    # Fixed metadata so the same results give the same bytes.
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)
