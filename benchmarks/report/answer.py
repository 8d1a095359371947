"""The answer to the question archbench asks: for each budget, which architecture to train.

For every setting (dataset, precision, backend, XLA, and the device where the budget is time) and budget, the rows (arch, recipe,
variant) are ranked by mean test top-1 over complete seeds; the winner's margin over the runner-up
comes with the same 95% Welch interval `compare` computes, and "no clear winner" is said when that
interval includes zero, or when a side has fewer than two complete seeds (no interval exists).
"""

from __future__ import annotations

import pandas as pd

from benchmarks.report import compute
from benchmarks.report.caveats import truthy
from benchmarks.report.compare import welch_interval
from benchmarks.report.style import budget_key, common_variant, short_label
from benchmarks.results import metrics
from benchmarks.results.reading import ANY_DEVICE, GROUP, grouped, rows, xla_text

SETTING = [k for k in GROUP if k != "budget"]  # what must be equal for budgets to be compared
_BASE = [k for k in SETTING if k != "hardware"]
COLUMNS = ["budget", "train", "test top-1", "seeds", "runner-up", "margin", "low", "high", "clear", "no_spread"]


# ------------------------------------------------------------------------ the report's opening
def section(runs: pd.DataFrame, histories: pd.DataFrame | None = None) -> str:
    """'## What to train': per setting, one sentence, then the winner at each budget with its interval,
    then (from `histories`) the least compute that reached each validation target."""
    found = settings(runs)
    if not found:
        return ""
    lines = ["## What to train\n"]
    for setting, group in found:
        table = what_to_train(group)
        if len(found) > 1:
            lines.append(f"### {setting_title(setting)}\n")
        lines.append(sentence(table) + "\n")
        if not table.empty:
            lines.append(markdown(table) + "\n")
        common = common_variant(group["variant"].dropna())
        if common:
            lines.append(f"Every row ran with `{common}` (not the canonical settings).\n")
        if truthy(group["synthetic"]).any():
            lines.append("> **SYNTHETIC DATA**: the embedded synthetic dataset; this shows how the report reads, "
                         "not which architecture wins on CIFAR.\n")
        if histories is not None:
            lines.append(compute.section(group, of_setting(histories, setting)))
    lines.append("At each budget, the row with the best mean test top-1 over complete seeds, its lead over the "
                 "runner-up and the 95% Welch interval of that lead over seeds (as `compare` computes it): a "
                 "winner is named only when the interval excludes zero.\n")
    return "\n".join(lines)


def of_setting(histories: pd.DataFrame, setting: dict) -> pd.DataFrame:
    """The history rows of one setting's runs."""
    if histories.empty:
        return histories
    keep = histories["hardware"].isin((setting["hardware"], ANY_DEVICE))
    for key in _BASE:
        keep &= histories[key].astype(str) == str(setting[key])
    return histories[keep]


def setting_title(setting: dict) -> str:
    """'synthetic, float32, tensorflow, no XLA, CPU' (the device where time budgets ran)."""
    return ", ".join(xla_text(setting[k]) if k == "jit" else str(setting[k]) for k in SETTING
                     if k != "hardware" or setting[k] != ANY_DEVICE)


# ------------------------------------------------------------------------------- the numbers
def settings(runs: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """(setting as a dict, its runs) for each setting (`SETTING`), sorted. Step-like budgets belong to
    every device's setting; time budgets run on several devices split the setting by device."""
    out = []
    for setting, group in grouped(runs.dropna(subset=GROUP), _BASE):
        timed = group[group["hardware"] != ANY_DEVICE]
        devices = sorted(timed["hardware"].astype(str).unique())
        if len(devices) <= 1:
            out.append(({**setting, "hardware": devices[0] if devices else ANY_DEVICE}, group))
            continue
        stepped = group[group["hardware"] == ANY_DEVICE]
        out += [({**setting, "hardware": d}, pd.concat([stepped, timed[timed["hardware"] == d]])) for d in devices]
    return out


def what_to_train(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per budget of one setting, budgets in order (kind, then amount): the winner, its mean
    test top-1 and complete seeds, the runner-up, the margin (winner - runner-up) and its 95% Welch
    interval (NaN when a side has fewer than two seeds), and whether the interval excludes zero."""
    out, common = [], common_variant(runs["variant"].dropna())
    for budget in sorted(runs["budget"].dropna().unique(), key=budget_key):
        ranked = sorted(_candidates(runs[runs["budget"] == budget], common), key=lambda c: c[0], reverse=True)
        if not ranked:
            continue
        (best, name, scores), rest = ranked[0], ranked[1:]
        row = dict(budget=budget, train=name, seeds=len(scores), clear=False, no_spread=False, margin=float("nan"),
                   low=float("nan"), high=float("nan"), **{"test top-1": best, "runner-up": None})
        if rest:
            second, second_name, second_scores = rest[0]
            row.update({"runner-up": second_name, "margin": best - second})
            interval = welch_interval(second_scores, scores)
            if interval is not None and interval[1] == interval[2]:
                row.update(no_spread=True)  # every seed agrees on both sides: the noise is unknown
            elif interval is not None:
                row.update(low=interval[1], high=interval[2], clear=bool(interval[1] > 0))
        out.append(row)
    return pd.DataFrame(out, columns=COLUMNS)


def _candidates(runs: pd.DataFrame, common: str):
    """(mean test top-1, row label, its complete seeds' values) for each row with a complete seed;
    never a row that selected on the test set (its test figure is not a fair one to rank by)."""
    for key, group in rows(runs):
        if truthy(group["test_used_for_selection"]).any():  # the post's protocol: its test figure is optimistic
            continue
        scores = group.loc[group["status"] == "complete", "test_top1"].dropna().astype(float)
        if len(scores):
            yield scores.mean(), short_label(key["arch"], key["recipe"], key["variant"], common), scores


def markdown(table: pd.DataFrame) -> str:
    """The 'what to train' table: one line per budget, narrow enough for a GitHub page."""
    lines = ["| budget | what to train | test top-1 | runner-up | margin | 95% interval |",
             "|:---|:---|---:|:---|---:|---:|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['budget']} | {_choice(r)} | {100 * r['test top-1']:.1f}% (n={r['seeds']}) "
                     f"| {r['runner-up'] or '-'} | {_points(r['margin'])} | {_interval(r)} |")
    return "\n".join(lines)


def _choice(row) -> str:
    if row["clear"]:
        return f"**{row['train']}**"
    if row["runner-up"] is None:
        return f"{row['train']} (nothing to compare with)"
    return f"no clear winner ({row['train']} ahead)"


def _points(value) -> str:
    return "-" if pd.isna(value) else f"{100 * value:+.1f} pts"


def _interval(row) -> str:
    if row["runner-up"] is None:
        return "-"
    if row.get("no_spread") is True:
        return "none: no spread"
    if pd.isna(row["low"]):
        return "none: < 2 seeds"
    return f"[{100 * row['low']:+.1f}, {100 * row['high']:+.1f}]"


def sentence(table: pd.DataFrame) -> str:
    """The one sentence above the table."""
    if table.empty:
        return "No complete runs yet: nothing to recommend."
    clear = table[table["clear"]]
    unclear = table[~table["clear"]]
    if clear.empty:
        if unclear["runner-up"].isna().all():
            return "Only one row has complete runs at each budget: there is nothing to compare it with."
        if (unclear["runner-up"].isna() | unclear["low"].isna()).all():
            return ("No budget has a clear winner: with fewer than two complete seeds per architecture there is "
                    "no interval (run `--seeds 3` or more).")
        return (f"At none of the {len(table)} budget{'s' * (len(table) > 1)} is one architecture ahead by more "
                f"than seed noise: run more seeds (`--seeds 3` or more) before choosing.")
    winners = clear["train"].unique()
    if len(winners) == 1 and unclear.empty:
        every = "every budget here" if len(table) > 1 else "this budget"
        return f"Train {winners[0]}: at {every} ({', '.join(table['budget'])}) it is ahead by more than seed noise."
    said = "Train " + ", ".join(f"{r['train']} at {r['budget']}" for _, r in clear.iterrows())
    if unclear.empty:
        return said + ": each is ahead by more than seed noise."
    others = ", ".join(unclear["budget"])
    return f"{said}; at {others} no architecture is ahead by more than seed noise."


def sweep_table(done: pd.DataFrame) -> pd.DataFrame:
    """Complete runs as one row per report row and one column per budget (in order): test top-1
    mean ± std (n) over seeds, the best of each budget in bold."""
    top1 = metrics.METRICS["test_top1"]
    budgets = sorted(done["budget"].unique(), key=budget_key)
    cells: dict[str, dict[str, str]] = {}
    common = common_variant(done["variant"])
    for budget in budgets:
        means = {short_label(**key, common=common): g["test_top1"].astype(float)
                 for key, g in rows(done[done["budget"] == budget])}
        best = max(values.mean() for values in means.values())
        for label, values in means.items():
            text = top1.cell(values.mean()) + (f" ± {top1.cell(values.std())}" if len(values) > 1 else "")
            text += f" (n={len(values)})"
            cells.setdefault(label, {})[budget] = f"**{text}**" if values.mean() == best else text
    table = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=budgets).fillna("-")
    return table.rename(columns=lambda b: f"{b} test top-1 %").rename_axis("architecture").reset_index()


# ---------------------------------------------------------------------------------- the README
def readme_block(runs: pd.DataFrame, histories: pd.DataFrame | None = None) -> str:
    """What README shows of a results folder: the 'What to train' section (its setting headings one
    level down, below README's own, with the compute to each target) and every row's test top-1 at
    every budget, with n."""
    import re

    from benchmarks.report.tables import page_tables

    body = section(runs, histories).removeprefix("## What to train\n").strip()
    lines = [re.sub(r"^### ", "#### ", body, flags=re.M)]
    headline = compute.headline(runs, histories) if histories is not None else ""
    if headline:
        lines.insert(0, f"**{headline}.**")
    done = runs[runs["status"] == "complete"].dropna(subset=["test_top1"])
    if not done.empty:
        lines.append("Every row at every budget (test top-1 %, mean ± std over complete seeds, n):\n\n"
                     + page_tables(sweep_table(done), left=("architecture",)))
    return "\n\n".join(lines) + "\n"
