"""Compute to a target, read from the histories: the training FLOPs (and images, epochs, seconds) at
which a run's validation top-1 first reached an accuracy, hardware-free where `time_to_target`'s
seconds are the device's.

Validation is evaluated at epoch ends (and at a budget's end), so the figure has the resolution
of one epoch's FLOPs: `flops` is that of the first evaluation at or past the target (measured,
an upper bound), `flops_interpolated` a straight line between it and the evaluation before (an
estimate, None when the first evaluation already reached it), `resolution` the FLOPs between the
two evaluations.
"""

from __future__ import annotations

from typing import Any

KEYS = ("arch", "recipe", "variant", "seed")


def first_reach(history, target: float) -> dict[str, Any] | None:
    """Where one run's history first reached `target` val top-1 (None: never, or no FLOPs recorded)."""
    import pandas as pd

    h = history.sort_values("step")
    if "train_flops" not in h or h["train_flops"].isna().all():
        return None
    hits = (pd.to_numeric(h["val_top1"], errors="coerce") >= target).to_numpy().nonzero()[0]
    if not len(hits):
        return None
    at = h.iloc[hits[0]]
    before = h.iloc[hits[0] - 1] if hits[0] > 0 else None
    interpolated, resolution = None, float(at["train_flops"])
    if before is not None:
        resolution = float(at["train_flops"] - before["train_flops"])
        rise = float(at["val_top1"] - before["val_top1"])
        interpolated = float(before["train_flops"]) + (target - float(before["val_top1"])) / rise * resolution
    return {"flops": float(at["train_flops"]), "flops_interpolated": interpolated, "resolution": resolution,
            "images": int(at["images"]), "epoch": int(at["epoch"]), "seconds": float(at["train_seconds"])}


def reached(runs, histories, target: float):
    """One row per (arch, recipe, variant, budget) of `runs` (one setting): complete seeds, how many
    reached `target`, and the mean over those of `first_reach`'s figures. Only complete runs count."""
    import pandas as pd

    done = runs[runs["status"] == "complete"]
    out = []
    for (arch, recipe, variant, budget), group in done.groupby(["arch", "recipe", "variant", "budget"], dropna=False):
        hits = []
        for seed in group["seed"]:
            mine = histories[(histories["arch"] == arch) & (histories["recipe"] == recipe)
                             & (histories["variant"].fillna("") == (variant or "")) & (histories["seed"] == seed)
                             & (histories["budget"] == budget)] if not histories.empty else histories
            hit = first_reach(mine, target) if not mine.empty else None
            if hit is not None:
                hits.append(hit)
        row = {"arch": arch, "recipe": recipe, "variant": variant, "budget": budget, "seeds": len(group),
               "reached": len(hits), "mmacs": group["mmacs"].dropna().iloc[0] if group["mmacs"].notna().any() else None}
        for key in ("flops", "flops_interpolated", "resolution", "images", "epoch"):
            values = [h[key] for h in hits if h[key] is not None]
            row[key] = sum(values) / len(values) if values else None
        out.append(row)
    return pd.DataFrame(out, columns=["arch", "recipe", "variant", "budget", "seeds", "reached", "mmacs", "flops",
                                      "flops_interpolated", "resolution", "images", "epoch"])


def cheapest(table):
    """The row of `reached`'s table that reached the target with the fewest FLOPs, preferring those
    where every complete seed got there; None when none did."""
    got = table[table["reached"] > 0]
    if got.empty:
        return None
    every = got[got["reached"] == got["seeds"]]
    pool = every if not every.empty else got
    return pool.sort_values("flops").iloc[0]


def targets_of(dataset: str) -> tuple[float, ...]:
    """The validation targets of a dataset's spec ('cifar100-coarse' is CIFAR-100's, 'folder-pets' a folder's)."""
    from benchmarks.core.datasets import DATASETS

    spec = DATASETS.get(dataset) or DATASETS.get(dataset.split("-")[0]) or DATASETS["folder"]
    return tuple(spec.targets)
