"""How little compute reaches an accuracy: per setting, the cheapest row (at any budget) to each
validation target of the dataset, in training FLOPs and as a share of the blog post's compute, and
for the post's own 52% every row that got there. Read from the histories (`results.targets`)."""

from __future__ import annotations

import pandas as pd

from benchmarks.report import style
from benchmarks.report.tables import page_tables
from benchmarks.results import targets

RESOLUTION = ("Validation is evaluated at each epoch's end, so a figure is the training FLOPs of the first "
              "evaluation at or past the target (measured: at most one evaluation late); 'interpolated' draws a "
              "straight line from the evaluation before, an estimate; 'evaluations every' is the FLOPs between "
              "the two. Means over the seeds that got there; only complete runs count.")


def section(runs: pd.DataFrame, histories: pd.DataFrame, title: str = "") -> str:
    """'### Compute to each target' for one setting's runs ('' when no run reached any target)."""
    dataset = str(runs["dataset"].dropna().iloc[0])
    post = _post_flops(runs)
    found = []
    for target in targets.targets_of(dataset):
        table = targets.reached(runs, histories, target)
        best = targets.cheapest(table)
        if best is not None:
            found.append((target, table, best))
    if not found:
        return ""
    common = style.common_variant(runs["variant"])
    lines = [f"### Compute to each target{f': {title}' if title else ''}\n",
             page_tables(pd.DataFrame([_cells(target, best, post, common) for target, _, best in found]),
                         left=("val top-1", "cheapest row", "budget", "seeds there")) + "\n"]
    goal = style.POST["val_top1"]
    for target, table, _ in found:
        if post is not None and abs(target - goal) < 1e-9:
            got = table[table["reached"] > 0].sort_values("flops")
            lines.append(f"Every row that reached the post's {goal:.0%}:\n")
            cells = pd.DataFrame([_cells(target, r, post, common) for _, r in got.iterrows()])
            lines.append(page_tables(cells.drop(columns="val top-1").rename(columns={"cheapest row": "row"}),
                                     left=("row", "budget", "seeds there"), key=2) + "\n")
    lines.append(RESOLUTION + (f" The post's compute: {flops_text(post)} FLOPs (6 x its model's MACs x 2,000 epochs x "
                               f"50,000 images)." if post else "") + "\n")
    return "\n".join(lines)


def headline(runs: pd.DataFrame, histories: pd.DataFrame) -> str:
    """'resnet20 reached the post's 52% with 1/230 of its compute (8.7e13 FLOPs, 3 of 3 seeds)', or ''."""
    post = _post_flops(runs)
    if post is None:
        return ""
    best = targets.cheapest(targets.reached(runs, histories, style.POST["val_top1"]))
    if best is None:
        return ""
    name = _name(best, style.common_variant(runs["variant"]))
    return (f"{name} reached the post's two-day {style.POST['val_top1']:.0%} (validation top-1) with "
            f"1/{post / best['flops']:,.0f} of its compute ({flops_text(best['flops'])} training FLOPs, {best['reached']} of "
            f"{best['seeds']} seeds, budget {best['budget']})")


def _post_flops(runs: pd.DataFrame) -> float | None:
    """The post's training FLOPs where its 52% applies (a CIFAR-100-like dataset), from its model's MACs."""
    dataset = str(runs["dataset"].dropna().iloc[0])
    mmacs = runs.loc[runs["arch"] == style.REFERENCE_ARCH, "mmacs"].dropna()
    if style.reference(dataset) is None or mmacs.empty:
        return None
    return style.post_compute(float(mmacs.iloc[0]))


def flops_text(value: float) -> str:
    """'8.7e13': training FLOPs as the budgets are written."""
    return f"{value:.1e}".replace("e+", "e")


def _name(row, common: str = "") -> str:
    return style.short_label(row["arch"], row["recipe"], row["variant"] if isinstance(row["variant"], str) else "",
                             common)


def _cells(target: float, row, post: float | None, common: str) -> dict[str, str]:
    interpolated = row["flops_interpolated"]
    return {"val top-1": f"{target:.0%}", "cheapest row": _name(row, common), "budget": str(row["budget"]),
            "seeds there": f"{row['reached']} of {row['seeds']}", "training FLOPs": flops_text(row["flops"]),
            "interpolated": "-" if pd.isna(interpolated) else flops_text(interpolated),
            "of the post's compute": "-" if post is None else f"1/{post / row['flops']:,.0f}",
            "epochs": f"{row['epoch']:.1f}", "evaluations every": flops_text(row["resolution"])}
