"""The answer to the question archbench asks: for each budget, which architecture to train.

For every comparison group (dataset, precision, backend, device) and budget, the rows (arch,
recipe, variant) are ranked by mean test top-1 over complete seeds; the winner's margin over the
runner-up comes with the same 95% Welch interval `compare` computes, and "no clear winner" is
said when that interval includes zero (or when fewer than two seeds make an interval impossible).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.budget import Budget
from benchmarks.compare import welch_interval
from benchmarks.results import GROUP, row_label, rows

SETTING = [k for k in GROUP if k != "budget"]  # what must be equal for budgets to be compared


def budget_key(text: str) -> tuple[str, float]:
    """Sort budgets by kind, then amount ('30s' < '90s' < '15m'); unparseable ones last."""
    try:
        budget = Budget.parse(text)
        return budget.kind, budget.amount
    except ValueError:
        return "~", 0.0


def settings(runs: pd.DataFrame):
    """(setting as a dict, its runs) for each (dataset, precision, backend, device)."""
    known = runs.dropna(subset=GROUP)
    return [(dict(zip(SETTING, key)), group) for key, group in known.groupby(SETTING, sort=True)]


def what_to_train(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per budget of one setting: winner, its mean test top-1, runner-up, margin and interval."""
    out = []
    for budget in sorted(runs["budget"].dropna().unique(), key=budget_key):
        candidates = []
        for key, group in rows(runs[runs["budget"] == budget]):
            scores = group.loc[group["status"] == "complete", "test_top1"].dropna().astype(float)
            if len(scores):
                candidates.append((scores.mean(), row_label(key["arch"], key["recipe"], key["variant"]), scores))
        if not candidates:
            continue
        candidates.sort(key=lambda c: c[0], reverse=True)
        (best, name, scores), rest = candidates[0], candidates[1:]
        row = {"budget": budget, "train": name, "test top-1": best, "seeds": len(scores), "runner-up": None,
               "margin": None, "low": None, "high": None, "clear": False}
        if rest:
            second, second_name, second_scores = rest[0]
            interval = welch_interval(second_scores, scores)
            row.update({"runner-up": second_name, "margin": best - second})
            if interval is not None:
                row.update(low=interval[1], high=interval[2], clear=bool(interval[1] > 0))
        out.append(row)
    return pd.DataFrame(out)


def verdict(row) -> str:
    """'resnet20, +12.3 pts over original [95% CI +8.1, +16.5]' or 'no clear winner (...)'."""
    if row["runner-up"] is None:
        return f"{row['train']} (the only architecture with complete runs)"
    margin = f"{100 * row['margin']:+.1f} pts over {row['runner-up']}"
    if pd.isna(row["low"]):
        return f"no clear winner: {row['train']} leads by {margin}, but with fewer than two seeds each there is no interval"
    interval = f"95% CI [{100 * row['low']:+.1f}, {100 * row['high']:+.1f}]"
    if row["clear"]:
        return f"**{row['train']}**, {margin} ({interval})"
    return f"no clear winner: {row['train']} leads by {margin}, but the {interval} includes zero"


def markdown(table: pd.DataFrame) -> str:
    """The 'what to train' table: one line per budget."""
    lines = ["| budget | what to train | test top-1 | seeds |", "|---|---|---|---|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['budget']} | {verdict(row)} | {100 * row['test top-1']:.1f}% | {row['seeds']} |")
    return "\n".join(lines)


def sentence(table: pd.DataFrame) -> str:
    """The one sentence above the table."""
    clear = table[table["clear"]]
    if table.empty:
        return "No complete runs yet: nothing to recommend."
    if clear.empty:
        return (f"At none of the {len(table)} budgets is one architecture ahead by more than seed noise: "
                f"run more seeds (`--seeds 3` or more) before choosing.")
    parts = [f"{r['train']} at {r['budget']}" for _, r in clear.iterrows()]
    unclear = len(table) - len(clear)
    return (f"Train {', '.join(parts)}" + (f"; at {unclear} other budget{'s' * (unclear > 1)} no architecture is "
                                            f"ahead by more than seed noise." if unclear else "."))
