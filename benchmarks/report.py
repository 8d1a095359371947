"""`report`: markdown (or self-contained HTML) tables and seaborn figures from the results folder
alone. Deterministic: the same results give the same bytes, apart from the date line."""

from __future__ import annotations

import base64
import datetime
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import architectures
from benchmarks.config import ConfigError
from benchmarks.report_figures import frontier, gap_plot, learning_curves, params_plot, save_png
from benchmarks.results import GROUP, groups, load, row_label, rows
from benchmarks.storage import atomic_write

POST = architectures.spec("original").published_dict
NOT_AVERAGED = ("diverged", "failed", "interrupted", "running", "unreadable")  # every status but complete


class NoResultsError(ConfigError):
    pass


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------- the numbers
def main_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (arch, recipe, variant) of one comparison group; numeric, unformatted. Only
    complete runs enter a mean, a std or n; `completed` counts the others by status."""
    table_rows = []
    for key, g in rows(runs):
        done = g[g["status"] == "complete"]
        reached = done["time_to_52"].dropna()
        table_rows.append({
            **key, "params": _first(g["params"]), "MMACs": _first(g["mmacs"]),
            "epochs": done["epochs"].astype(float).mean(), "images/s": done["images_per_second"].mean(),
            "test top-1": done["test_top1"].mean(), "test top-1 std": done["test_top1"].std(ddof=1),
            "test top-5": done["test_top5"].mean(), "test top-5 std": done["test_top5"].std(ddof=1),
            "n": len(done), "best val top-1": done["best_val_top1"].mean(),
            "train-eval top-1": done["train_eval_top1"].mean(), "gap": done["gap"].mean(),
            "time to 52%": reached.mean() if len(reached) == len(done) and len(done) else np.nan,
            "reached 52%": f"{len(reached)}/{len(done)}", "completed": completed_text(g),
            "tuned": _tuning_text(g["tuning"]),
        })
    table = pd.DataFrame(table_rows)
    if table.empty:
        return table
    return table.sort_values("test top-1", ascending=False, na_position="last", ignore_index=True)


def completed_text(runs: pd.DataFrame) -> str:
    """'2/3, 1 diverged': complete seeds of all, then the others by status."""
    counts = runs["status"].value_counts()
    others = [f"{counts[s]} {s}" for s in NOT_AVERAGED if counts.get(s, 0)]
    return ", ".join([f"{counts.get('complete', 0)}/{len(runs)}", *others])


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
        "architecture": [row_label(a, r, v) + (f" [{t}]" if t else "")
                         for a, r, v, t in zip(table["arch"], table["recipe"], table["variant"], table["tuned"])],
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


# ------------------------------------------------------------------------------- warnings
def fairness_warnings(runs: pd.DataFrame) -> list[str]:
    warnings = []
    for column, what in (("dataset", "datasets"), ("budget", "budgets"), ("precision", "precisions"),
                         ("backend", "Keras backends"), ("device", "devices")):
        values = sorted(runs[column].dropna().astype(str).unique())
        if len(values) > 1:
            warnings.append(f"Results of different {what} ({', '.join(values)}) are in this folder: each "
                            f"is reported in its own section and never averaged with another.")
    if truthy(runs["mixed_devices"]).any():
        names = sorted(runs.loc[truthy(runs["mixed_devices"]), "arch"].unique())
        warnings.append(f"Runs whose segments ran on different devices ({', '.join(names)}): their time "
                        f"budgets compare unlike things.")
    if truthy(runs["test_used_for_selection"]).any():
        warnings.append("Some runs selected their checkpoint on the TEST set (the blog post's protocol): "
                        "their test figures are optimistic.")
    counts = {row_label(**key): int((g["status"] == "complete").sum()) for _, group in groups(runs)
              for key, g in rows(group)}
    if len(set(counts.values())) > 1:
        warnings.append("Incomplete seeds: complete runs per row differ ("
                        + ", ".join(f"{label}: {n}" for label, n in counts.items()) + ").")
    return warnings + run_warnings(runs)


def run_warnings(runs: pd.DataFrame) -> list[str]:
    """One line per run left out of the means (diverged, unfinished, failed, unreadable), and per
    dataset archive that does not match its published sha256, naming the runs trained on it."""
    warnings = []
    for _, r in runs[runs["status"] != "complete"].iterrows():
        error = f" ({r['error']})" if isinstance(r["error"], str) and r["error"] else ""
        if r["status"] == "diverged":
            at = r["diverged_at"] if isinstance(r["diverged_at"], dict) else {}
            warnings.append(f"{_who(r)} diverged at epoch {at.get('epoch', '?')}, step {at.get('step', '?')} "
                            f"(loss {at.get('loss', '?')}): left out of every mean. A result about the recipe: "
                            f"running the same command again will not retrain it.")
        elif r["status"] == "unreadable":
            warnings.append(f"{_who(r)} is unreadable: {r['error']}. It is left out of every mean.")
        else:
            warnings.append(f"{_who(r)} is {r['status']}{error}: run the same `python -m benchmarks run` "
                            f"command again to finish it.")
    altered = runs[runs["sha256_ok"].map(lambda v: isinstance(v, (bool, np.bool_)) and not v)]
    for problem, g in altered.groupby(altered["data_warnings"].map(lambda w: w[0] if len(w) else ""), sort=True):
        warnings.append(f"The dataset archive of {', '.join(_who(r) for _, r in g.iterrows())} does not match "
                        f"the published sha256{f' ({problem})' if problem else ''}: their results are not "
                        f"comparable with runs on the published data.")
    return warnings


def _who(r) -> str:
    """'original (post recipe) seed 1', or the folder when the summary could not say."""
    if not isinstance(r["arch"], str):
        return f"the run in {r['folder']}"
    label = row_label(r["arch"], r["recipe"], r["variant"]) if isinstance(r["recipe"], str) else r["arch"]
    return f"{label} seed {r['seed']}" if not pd.isna(r["seed"]) else label


def truthy(series: pd.Series) -> pd.Series:
    return series.map(lambda v: isinstance(v, (bool, np.bool_)) and bool(v))


# ----------------------------------------------------------------------------------- report
def build(results_dir: Path, out_dir: Path, fmt: str = "md", today: str | None = None,
          warn: Callable[[str], None] = warn_stderr) -> Path:
    """Write report.md (or report.html) and its figures into `out_dir`; `warn` gets one line per
    file that could not be read (those runs are in the report as unreadable)."""
    runs, history = load(results_dir)
    for problem in runs.attrs.get("warnings", []):
        warn(problem)
    if runs.empty:
        raise NoResultsError(f"no results under {results_dir}: run `python -m benchmarks run --all --preset smoke` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    today = today or datetime.date.today().isoformat()
    sections = [f"# archbench report\n\nGenerated {today} from `{results_dir}`.\n"]
    figures: dict[str, Path] = {}
    warnings = fairness_warnings(runs)
    if warnings:
        sections.append("## Fairness warnings\n\n" + "\n".join(f"- {w}" for w in warnings) + "\n")
    comparable = groups(runs)
    if not comparable:
        sections.append("No run could be read: see the warnings above.\n")
    for i, (key, group) in enumerate(comparable):
        sections.append(_group_section(key, group, history, out_dir, i, figures))
    sections.append(_tuning_section(results_dir, out_dir, figures, warn))
    text = "\n".join(sections)
    path = out_dir / ("report.html" if fmt == "html" else "report.md")
    content = _html(text, figures) if fmt == "html" else text
    atomic_write(path, lambda f: f.write(content))  # a full disk never leaves half a report
    return path


def _group_section(key, runs, history, out_dir, index, figures) -> str:
    synthetic = bool(truthy(runs["synthetic"]).any())
    title = f"{key['dataset']}, budget {key['budget']}"
    head = [f"## {title}\n"]
    if synthetic:
        head.append("> **SYNTHETIC DATA**: these numbers come from the embedded synthetic dataset and say "
                    "nothing about CIFAR. They only show that the pipeline works.\n")
    seeds = [g["seed"].nunique() for _, g in rows(runs)]
    head.append(f"What was compared: dataset **{key['dataset']}**, budget **{key['budget']}** per run, "
                f"recipes {', '.join(sorted(runs['recipe'].dropna().unique()))}, device {key['device']}, "
                f"precision {key['precision']}, Keras backend {key['backend']}, seeds per row {min(seeds)}-{max(seeds)}, "
                f"versions: {_versions(runs)}.\n")
    table = main_table(runs)
    head.append(format_table(table).to_markdown(index=False) + "\n")
    head.append("One row per architecture, recipe and variant (what differs from the canonical run, in "
                "brackets). Test top-1/top-5 use the best-on-validation weights (mean ± std over complete "
                "seeds, n shown); diverged, failed, unfinished and unreadable seeds are never in a mean. "
                "gap = train-eval top-1 (fixed train subset, inference mode) minus validation top-1.\n")
    head.append(_post_section(table))
    h = history
    if not h.empty:
        h = h[np.logical_and.reduce([h[c] == key[c] for c in GROUP]) & (h["status"] != "diverged")]
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


def _tuning_section(results_dir: Path, out_dir: Path, figures: dict, warn: Callable[[str], None]) -> str:
    """The searches that `tune` left under results/tuning/, with their best trials and figure."""
    import shutil

    searches = sorted(Path(results_dir).glob("tuning/*/*/search.csv"))
    if not searches:
        return ""
    lines = ["## Tuning searches\n"]
    for i, path in enumerate(searches):
        try:
            trials = pd.read_csv(path)
            done = trials[trials["status"] == "COMPLETED"]
            spent = done["train_seconds"].sum()
        except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            warn(f"{path}: not a readable tuning search ({type(error).__name__})")
            continue
        lines.append(f"### {path.parent.parent.name} / {path.parent.name}\n")
        lines.append(f"{len(done)} completed trials of {len(trials)}, {_hms(spent)} of training; "
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
        variant = f" ({r['variant']})" if r["variant"] else ""
        lines.append(f"Here, with the {r['recipe']} recipe{variant} and this budget, `original` reaches "
                     f"{_pct(r['test top-1'])}% test top-1 (selected on validation, not test), "
                     f"{_pct(r['train-eval top-1'])}% train-eval top-1, a gap of "
                     f"{gap} points.")
    if len(best) and (original.empty or best.iloc[0]["arch"] != "original"):
        b = best.iloc[0]
        lines.append(f"The best row under the same budget is `{row_label(b['arch'], b['recipe'], b['variant'])}` "
                     f"at {_pct(b['test top-1'])}% test top-1.")
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
