"""The look every figure of `report` and `compare` shares: one colour per architecture, the row
order and labels of every legend, the blog post's star and line, axes in human units.

`arch_color` is fixed by the architecture's place in the registry (a hash of the name for one outside
it), never by plotting order, so it is the same in every figure of a report, in `compare`, and in two
reports of different architectures. Accuracies are in %, sizes in 0.27M params / 41 MMACs, time in
seconds, minutes or hours.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

import architectures
from benchmarks.core.budget import Budget
from benchmarks.core.datasets import DATASETS
from benchmarks.core.units import format_count
from benchmarks.results.reading import ROW, row_label

Reference = tuple[float, str]  # a published accuracy drawn on accuracy axes: (0.52, "blog post: 52%")
REFERENCE_ARCH = "original"  # the blog post's model: a star in every figure, beside the post in the text
POST = architectures.spec(REFERENCE_ARCH).published_dict
INK = "#333333"  # the reference line and zero lines: not an architecture's colour


def pyplot():
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


def reference(dataset: str) -> Reference | None:
    """The blog post's published accuracy, drawn on the accuracy axes of a CIFAR-100-like dataset (100
    fine classes: CIFAR-100 and the synthetic set that imitates it), else None."""
    spec = DATASETS.get(dataset)
    if spec is None or spec.label_sets.get("fine") != 100:
        return None
    return POST["val_top1"], f"blog post: {POST['val_top1']:.0%}"


POST_TRAIN_IMAGES = 50_000  # the post trained on all of CIFAR-100's training split (test as validation)


def post_compute(mmacs: float) -> float:
    """The blog post's training FLOPs by the same 6 x MACs rule as every budget here: its model's
    MACs per image x 6 x 2,000 epochs x 50,000 images (about 2e16 for 33 MMACs)."""
    from benchmarks.core.budget import TRAIN_FLOPS_PER_MAC

    return mmacs * 1e6 * TRAIN_FLOPS_PER_MAC * POST["epochs"] * POST_TRAIN_IMAGES


# ------------------------------------------------------------------------------------ colours
# Indexed by the architecture's position in `architectures.names()` (registration order), so adding
# a run never recolours another. Ordered so that the names most runs use (the default suite) get
# the most distinct hues.
_COLOURS = ("#1f77b4", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7b4173", "#bcbd22",
            "#393b79", "#2ca02c", "#637939", "#d62728", "#8c6d31", "#9467bd", "#843c39")


def _registry() -> list[str]:
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
def row_groups(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
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


def size_text(frame: pd.DataFrame) -> str:
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


def row_of(frame: pd.DataFrame, key: tuple) -> pd.DataFrame:
    """The rows of `frame` that belong to report row `key` (arch, recipe, variant)."""
    return frame[(frame["arch"] == key[0]) & (frame["recipe"] == key[1]) & (frame["variant"].fillna("") == key[2])]


def label(key: tuple, sizes: pd.DataFrame | None = None, common: str = "") -> str:
    """'resnet20 · 0.27M params, 41 MMACs': the row's name (wrapped: a variant can be long) and size."""
    text = textwrap.fill(short_label(*key, common), 40)
    if sizes is not None and not sizes.empty:
        same = row_of(sizes, key) if "recipe" in sizes else sizes[sizes["arch"] == key[0]]
        size = size_text(same)
        text += f" · {size}" if size else ""
    return text


BUDGET_MARKERS = ("o", "s", "^", "D", "v", "P")  # one row's runs of several budgets, in budget order


def marker(arch: str, highlight: str | None) -> tuple[str, float]:
    """The blog post's model is a star in every figure; every other architecture a circle."""
    return ("*", 2.0) if arch == highlight else ("o", 1.0)


def time_unit(seconds: float) -> tuple[float, str]:
    """(divisor, unit) that puts a span of training time in readable numbers."""
    if not np.isfinite(seconds) or seconds < 180:
        return 1.0, "seconds"
    return (60.0, "minutes") if seconds < 3 * 3600 else (3600.0, "hours")


def reference_line(ax, reference: Reference | None) -> None:
    """The published accuracy as a dashed horizontal line with its label, kept inside the y range."""
    if reference is None:
        return
    value, text = 100 * reference[0], reference[1]
    ax.axhline(value, color=INK, linestyle=(0, (5, 3)), linewidth=1.2, zorder=1)
    ax.annotate(text, xy=(0.99, value), xycoords=("axes fraction", "data"), xytext=(0, 3),
                textcoords="offset points", ha="right", va="bottom", fontsize=9, color=INK)
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, value - 3), max(high, value + 4))


def count_axis(axis) -> None:
    """Ticks of a log axis at 1, 2 and 5 of each decade (a span under one decade still gets some),
    written 0.27M, 15M, 12k."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: format_count(v)))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def legend_right(fig, handles, title: str | None = None, where: str = "upper") -> None:
    fig.legend(handles=handles, loc=f"outside right {where}", title=title, fontsize=9, title_fontsize=9,
               frameon=False)


def budget_key(text: str) -> tuple[str, float]:
    """Sort budgets by kind, then amount ('30s' < '90s' < '15m'); unparseable ones last."""
    try:
        budget = Budget.parse(text)
        return budget.kind, budget.amount
    except ValueError:
        return "~", 0.0
