"""`report`: markdown (or self-contained HTML) tables and seaborn figures from the results folder
alone. Deterministic: the same results give the same bytes, apart from the date line."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import numpy as np
import pandas as pd

import architectures
from benchmarks.config import ConfigError
from benchmarks.results import GROUP, load

POST = architectures.spec("original").published_dict


class NoResultsError(ConfigError):
    pass


# ------------------------------------------------------------------------------- the numbers
def main_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (arch, recipe) of one comparison group; numeric, unformatted."""
    rows = []
    for (arch, recipe), g in runs.groupby(["arch", "recipe"], sort=True):
        done = g[g["status"] == "complete"]
        reached = done["time_to_52"].dropna()
        rows.append({
            "arch": arch, "recipe": recipe, "params": _first(g["params"]), "MMACs": _first(g["mmacs"]),
            "epochs": done["epochs"].astype(float).mean(), "images/s": done["images_per_second"].mean(),
            "test top-1": done["test_top1"].mean(), "test top-1 std": done["test_top1"].std(ddof=1),
            "test top-5": done["test_top5"].mean(), "test top-5 std": done["test_top5"].std(ddof=1),
            "n": len(done), "best val top-1": done["best_val_top1"].mean(),
            "train-eval top-1": done["train_eval_top1"].mean(), "gap": done["gap"].mean(),
            "time to 52%": reached.mean() if len(reached) == len(done) and len(done) else np.nan,
            "reached 52%": f"{len(reached)}/{len(done)}", "completed": f"{len(done)}/{len(g)}",
            "tuned": _tuning_text(g["tuning"]),
        })
    table = pd.DataFrame(rows)
    return table.sort_values("test top-1", ascending=False, na_position="last", ignore_index=True)


def _tuning_text(series) -> str:
    records = [t for t in series if isinstance(t, dict)]
    if not records:
        return ""
    t = records[0]
    return f"tuned: {t.get('trials')} trials of {t.get('budget_per_trial')}, {_hms(t.get('compute_seconds'))} of search"


def _first(series):
    values = series.dropna()
    return values.iloc[0] if len(values) else np.nan


def _pct(v, std=None, n=None):
    if v is None or pd.isna(v):
        return "-"
    text = f"{100 * v:.1f}"
    if std is not None and n and n > 1 and not pd.isna(std):
        text += f" ± {100 * std:.1f}"
    return text + (f" (n={n})" if n is not None else "")


def _hms(seconds) -> str:
    if seconds is None or pd.isna(seconds):
        return "not reached"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Fixed formats per column (accuracy in % with one decimal, thousands separators, h:mm:ss),
    the best value of each column in bold."""
    best = {"test top-1": table["test top-1"].max(), "test top-5": table["test top-5"].max(),
            "best val top-1": table["best val top-1"].max(), "images/s": table["images/s"].max(),
            "gap": table["gap"].min(), "time to 52%": table["time to 52%"].min()}
    bold = lambda text, col, v: f"**{text}**" if not pd.isna(v) and v == best[col] else text  # noqa: E731
    out = pd.DataFrame({
        "architecture": [a + (f" ({r} recipe)" if r != "paper" else "") + (f" [{t}]" if t else "")
                         for a, r, t in zip(table["arch"], table["recipe"], table["tuned"])],
        "params": table["params"].map(lambda v: "-" if pd.isna(v) else f"{int(v):,}"),
        "MMACs": table["MMACs"].map(lambda v: "-" if pd.isna(v) else f"{v:,.1f}"),
        "epochs": table["epochs"].map(lambda v: "-" if pd.isna(v) else f"{v:.1f}"),
        "images/s": [bold("-" if pd.isna(v) else f"{v:,.0f}", "images/s", v) for v in table["images/s"]],
        "test top-1 %": [bold(_pct(v, s, n), "test top-1", v) for v, s, n in
                         zip(table["test top-1"], table["test top-1 std"], table["n"])],
        "test top-5 %": [bold(_pct(v, s), "test top-5", v) for v, s in zip(table["test top-5"], table["test top-5 std"])],
        "best val top-1 %": [bold(_pct(v), "best val top-1", v) for v in table["best val top-1"]],
        "train-eval top-1 %": table["train-eval top-1"].map(_pct),
        "gap (pts)": [bold("-" if pd.isna(v) else f"{100 * v:+.1f}", "gap", v) for v in table["gap"]],
        "time to 52% val": [bold(_hms(v), "time to 52%", v) if not pd.isna(v) else f"not reached ({r})"
                            for v, r in zip(table["time to 52%"], table["reached 52%"])],
        "completed": table["completed"],
    })
    return out


def fairness_warnings(runs: pd.DataFrame) -> list[str]:
    warnings = []
    for column, what in (("dataset", "datasets"), ("budget", "budgets"), ("precision", "precisions"),
                         ("device", "devices")):
        values = sorted(runs[column].dropna().astype(str).unique())
        if len(values) > 1:
            warnings.append(f"Results of different {what} ({', '.join(values)}) are in this folder: each "
                            f"is reported in its own section and never averaged with another.")
    if runs["mixed_devices"].fillna(False).astype(bool).any():
        names = sorted(runs.loc[runs["mixed_devices"].fillna(False).astype(bool), "arch"].unique())
        warnings.append(f"Runs whose segments ran on different devices ({', '.join(names)}): their time "
                        f"budgets compare unlike things.")
    if runs["test_used_for_selection"].fillna(False).astype(bool).any():
        warnings.append("Some runs selected their checkpoint on the TEST set (the blog post's protocol): "
                        "their test figures are optimistic.")
    counts = runs[runs["status"] == "complete"].groupby(["arch", "recipe"]).size()
    if len(set(counts.values)) > 1:
        warnings.append(f"Incomplete seeds: complete runs per architecture differ ({counts.to_dict()}).")
    unfinished = runs[runs["status"] != "complete"]
    for _, r in unfinished.iterrows():
        warnings.append(f"{r['arch']} seed {r['seed']} is {r['status']}"
                        + (f" ({r['error']})" if isinstance(r["error"], str) and r["error"] else "")
                        + ": run the same `python -m benchmarks run` command again to finish it.")
    return warnings


# --------------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def learning_curves(history: pd.DataFrame, title: str):
    """Validation top-1 against training time and against epochs; training accuracy dashed."""
    plt, sns = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    h = history.assign(val=100 * history["val_top1"], train=100 * history["train_top1"],
                       minutes=history["train_seconds"] / 60,
                       label=history["arch"] + np.where(history["recipe"] != "paper", " (" + history["recipe"] + ")", ""))
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
    t = table.assign(acc=100 * table["test top-1"], size=table["params"].astype(float))
    sns.scatterplot(data=t, x="images/s", y="acc", hue="arch", size="size", sizes=(40, 400), ax=ax, legend="brief")
    ax.set(xlabel="training throughput (images/s)", ylabel="test top-1 (%)",
           title=f"{title}: accuracy vs speed (marker size = parameters)")
    fig.tight_layout()
    return fig


def gap_plot(table: pd.DataFrame, title: str):
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = table.assign(gap_pts=100 * table["gap"], label=table["arch"] + " / " + table["recipe"])
    sns.barplot(data=t, x="label", y="gap_pts", ax=ax, color="tab:orange")
    ax.set(xlabel="architecture / recipe", ylabel="train-eval minus val top-1 (points)",
           title=f"{title}: overfitting gap")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def params_plot(table: pd.DataFrame, title: str):
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    t = table.assign(acc=100 * table["test top-1"])
    sns.scatterplot(data=t, x="params", y="acc", hue="arch", s=120, ax=ax)
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters (log scale)", ylabel="test top-1 (%)", title=f"{title}: accuracy vs size")
    fig.tight_layout()
    return fig


def save_png(fig, path: Path) -> None:
    # Fixed metadata so the same results give the same bytes.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)


# ----------------------------------------------------------------------------------- report
def build(results_dir: Path, out_dir: Path, fmt: str = "md", today: str | None = None) -> Path:
    runs, history = load(results_dir)
    if runs.empty:
        raise NoResultsError(f"no results under {results_dir}: run `python -m benchmarks run --all --preset smoke` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    today = today or datetime.date.today().isoformat()
    sections = [f"# archbench report\n\nGenerated {today} from `{results_dir}`.\n"]
    figures: dict[str, Path] = {}
    warnings = fairness_warnings(runs)
    if warnings:
        sections.append("## Fairness warnings\n\n" + "\n".join(f"- {w}" for w in warnings) + "\n")
    for i, (key, group) in enumerate(runs.groupby(GROUP, sort=True, dropna=False)):
        sections.append(_group_section(dict(zip(GROUP, key)), group, history, out_dir, i, figures))
    sections.append(_tuning_section(results_dir, out_dir, figures))
    text = "\n".join(sections)
    if fmt == "html":
        path = out_dir / "report.html"
        path.write_text(_html(text, figures))
    else:
        path = out_dir / "report.md"
        path.write_text(text)
    return path


def _group_section(key, runs, history, out_dir, index, figures) -> str:
    synthetic = bool(runs["synthetic"].fillna(False).astype(bool).any())
    title = f"{key['dataset']}, budget {key['budget']}"
    head = [f"## {title}\n"]
    if synthetic:
        head.append("> **SYNTHETIC DATA**: these numbers come from the embedded synthetic dataset and say "
                    "nothing about CIFAR. They only show that the pipeline works.\n")
    seeds = runs.groupby(["arch", "recipe"])["seed"].nunique()
    head.append(f"What was compared: dataset **{key['dataset']}**, budget **{key['budget']}** per run, "
                f"recipes {', '.join(sorted(runs['recipe'].dropna().unique()))}, device {key['device']}, "
                f"precision {key['precision']}, seeds per architecture {int(seeds.min())}-{int(seeds.max())}, "
                f"versions: {_versions(runs)}.\n")
    table = main_table(runs)
    head.append(format_table(table).to_markdown(index=False) + "\n")
    head.append("Test top-1/top-5 use the best-on-validation weights (mean ± std over seeds, n shown); "
                "gap = train-eval top-1 (fixed train subset, inference mode) minus validation top-1.\n")
    head.append(_post_section(table))
    h = history[(history["dataset"] == key["dataset"]) & (history["budget"] == key["budget"])] if not history.empty else history
    done = table.dropna(subset=["test top-1"])
    plots = [("curves", lambda: learning_curves(h, title), not h.empty),
             ("frontier", lambda: frontier(done, title), not done.empty),
             ("gap", lambda: gap_plot(done.dropna(subset=["gap"]), title), done["gap"].notna().any()),
             ("params", lambda: params_plot(done, title), not done.empty)]
    for name, make, ok in plots:
        if ok:
            path = out_dir / f"{index:02d}-{name}.png"
            save_png(make(), path)
            figures[path.name] = path
            head.append(f"![{name}]({path.name})\n")
    return "\n".join(head)


def _tuning_section(results_dir: Path, out_dir: Path, figures: dict) -> str:
    """The searches that `tune` left under results/tuning/, with their best trials and figure."""
    import shutil

    searches = sorted(Path(results_dir).glob("tuning/*/*/search.csv"))
    if not searches:
        return ""
    lines = ["## Tuning searches\n"]
    for i, path in enumerate(searches):
        trials = pd.read_csv(path)
        done = trials[trials["status"] == "COMPLETED"]
        lines.append(f"### {path.parent.parent.name} / {path.parent.name}\n")
        lines.append(f"{len(done)} completed trials of {len(trials)}, {_hms(done['train_seconds'].sum())} of training; "
                     f"objective: best validation top-1 (the test set is never used). Best five:\n")
        shown = done.head(5).assign(val_top1=lambda t: (100 * t["val_top1"]).round(1),
                                    train_seconds=lambda t: t["train_seconds"].round(0))
        lines.append(shown.drop(columns=["status"]).to_markdown(index=False) + "\n")
        figure = path.parent / "search.png"
        if figure.exists():
            name = f"tuning-{i:02d}.png"
            shutil.copyfile(figure, out_dir / name)
            figures[name] = out_dir / name
            lines.append(f"![search]({name})\n")
    return "\n".join(lines)


def _versions(runs) -> str:
    return "; ".join(sorted(runs["versions"].dropna().astype(str).unique())) or "unknown"


def _post_section(table: pd.DataFrame) -> str:
    lines = ["### The original model beside the blog post\n"]
    original = table[table["arch"] == "original"]
    best = table.dropna(subset=["test top-1"]).head(1)
    lines.append(f"The blog post reports about {POST['val_top1']:.0%} validation and {POST['train_top1']:.0%} "
                 f"training accuracy after {POST['epochs']} epochs ({POST['wall_clock']}, {POST['device']}), "
                 f"selected on the test set.")
    for _, r in original.iterrows():
        gap = "-" if pd.isna(r["gap"]) else f"{100 * r['gap']:+.1f}"
        lines.append(f"Here, with the {r['recipe']} recipe and this budget, `original` reaches "
                     f"{_pct(r['test top-1'])}% test top-1 (selected on validation, not test), "
                     f"{_pct(r['train-eval top-1'])}% train-eval top-1, a gap of "
                     f"{gap} points.")
    if len(best) and (original.empty or best.iloc[0]["arch"] != "original"):
        b = best.iloc[0]
        lines.append(f"The best architecture under the same budget is `{b['arch']}` at {_pct(b['test top-1'])}% test top-1.")
    return " ".join(lines[1:]).join([lines[0], "\n"])


def _html(markdown: str, figures: dict[str, Path]) -> str:
    """A self-contained HTML page: tables rendered, figures inlined as base64."""
    import html as html_lib

    body = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            rows = [[c.strip() for c in r.strip("|").split("|")] for r in block if not set(r) <= set("|:- ")]
            head, *rest = rows
            body.append("<table><tr>" + "".join(f"<th>{html_lib.escape(c)}</th>" for c in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rest)
                        + "</table>")
            continue
        if line.startswith("!["):
            name = line[line.index("(") + 1: line.index(")")]
            data = base64.b64encode(figures[name].read_bytes()).decode()
            body.append(f'<p><img alt="{name}" src="data:image/png;base64,{data}"></p>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line.lstrip('# '))}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}" \
            "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>archbench report</title>" \
           f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"


def _inline(text: str) -> str:
    import html as html_lib
    import re

    text = html_lib.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
