"""`report`: markdown (or self-contained HTML) tables and seaborn figures from the results folder
alone. Deterministic: the same results give the same bytes, apart from the date line."""

from __future__ import annotations

import base64
import datetime
import io
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from benchmarks.core.errors import ConfigError
from benchmarks.core.published import PUBLISHED
from benchmarks.core.storage import UnsafeFile, atomic_write, read_regular, through_link
from benchmarks.core.units import format_duration
from benchmarks.report import answer
from benchmarks.report.caveats import data_check, fairness_warnings, truthy, warn_stderr
from benchmarks.report.figures import frontier, gap_plot, learning_curves, params_plot
from benchmarks.report.style import POST, REFERENCE_ARCH, common_variant, reference, save_png, short_label
from benchmarks.report.sweep import budget_sweep, sweep_kinds
from benchmarks.report.tables import format_table, main_table, markdown_table, page_tables
from benchmarks.results import metrics
from benchmarks.results.reading import GROUP, groups, inert, load, rows, xla_text


class NoResultsError(ConfigError):
    pass


# ----------------------------------------------------------------------------------- report
def write(results_dir: Path, out_dir: Path, fmt: str = "md", today: str | None = None,
          warn: Callable[[str], None] = warn_stderr) -> Path:
    """Write report.md (or report.html) and its figures into `out_dir`; `warn` gets one line per
    file that could not be read (those runs are in the report as unreadable)."""
    if fmt == "html":
        _check_html()
    runs, history = load(results_dir)
    for problem in runs.attrs.get("warnings", []):
        warn(problem)
    if runs.empty:
        raise NoResultsError(f"no results under {results_dir}: run `python -m benchmarks run --all --preset smoke` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    today = today or datetime.date.today().isoformat()
    sections = [f"# archbench report\n\nGenerated {today} from `{results_dir}`.\n", answer.section(runs, history)]
    figures: dict[str, Path] = {}
    warnings = fairness_warnings(runs)
    if warnings:
        sections.append("## Fairness warnings\n\n" + "\n".join(f"- {w}" for w in warnings) + "\n")
    sections.append(_sweep_section(runs, out_dir, figures))
    comparable = groups(runs)
    if not comparable:
        sections.append("No run could be read: see the warnings above.\n")
    for i, (key, group) in enumerate(comparable):
        sections.append(_group_section(key, group, history, out_dir, i, figures))
    sections.append(_tuning_section(results_dir, out_dir, figures, warn))
    text = "\n".join(s for s in sections if s)
    path = out_dir / ("report.html" if fmt == "html" else "report.md")
    content = _html(text, figures) if fmt == "html" else text
    atomic_write(path, lambda f: f.write(content))  # a full disk never leaves half a report
    return path


# ------------------------------------------------------------------------------ across budgets
def _sweep_section(runs: pd.DataFrame, out_dir: Path, figures: dict) -> str:
    """Across budgets: test top-1 against budget per row (a figure per setting that swept a budget
    kind) and the same numbers as a table."""
    lines = []
    settings = answer.settings(runs)
    for i, (setting, group) in enumerate(settings):
        done = group[group["status"] == "complete"].dropna(subset=["test_top1"])
        if not sweep_kinds(done):
            continue
        if len(settings) > 1:
            lines.append(f"### {answer.setting_title(setting)}\n")
        path = out_dir / f"sweep-{i:02d}.png"
        shown = PUBLISHED if setting["dataset"] == "cifar100" else ()  # CIFAR-100's own figures, nowhere else
        save_png(budget_sweep(group, setting["dataset"], reference(setting["dataset"]), REFERENCE_ARCH, shown), path)
        figures[path.name] = path
        lines.append(f"![test top-1 against budget]({path.name})\n")
        lines.append(page_tables(answer.sweep_table(done), left=("architecture",)) + "\n")
        if shown and "flops" in sweep_kinds(done):
            lines.append(_published_table(shown))
    if not lines:
        return ""
    return "\n".join(["## Across budgets\n", "Test top-1 against budget (log scale) for every row, in one colour "
                      "per architecture everywhere in this report: the line is the mean over complete seeds, the "
                      "band their range, the faint points each seed; the star is the blog post's model. Where "
                      "two lines cross, the better choice changes with the budget. Budgets of different kinds "
                      "(time, epochs, FLOPs) are in separate panels.\n", *lines])


def _published_table(shown) -> str:
    """The published results on the sweep's FLOP axis, in a table of their own (never in a mean)."""
    rows = [{"architecture": p.label, "test top-1 %": f"{100 * p.top1:.2f}" + ("*" if p.optimistic else ""),
             "epochs": str(p.epochs), "batch": str(p.batch), "training FLOPs": f"{p.train_flops:.1e}".replace("e+", "e"),
             "recipe and source": p.source} for p in shown]
    return ("Published CIFAR-100 results, the hollow markers of the figure: measured elsewhere, with their own "
            "200-epoch recipes, placed at 6 x the zoo's own MACs x the images they saw; they are set beside the "
            "measured rows, never averaged with them. * the source reports its best test epoch (optimistic).\n\n"
            + markdown_table(pd.DataFrame(rows), left=("architecture", "recipe and source")) + "\n")


# ----------------------------------------------------------------------------- one budget
def _group_section(key, runs, history, out_dir, index, figures) -> str:
    synthetic = bool(truthy(runs["synthetic"]).any())
    title = f"{key['dataset']}, budget {key['budget']}{'' if key['jit'] is False else ', ' + xla_text(key['jit'])}"
    head = [f"## {title}\n"]
    if synthetic:
        head.append("> **SYNTHETIC DATA**: these numbers come from the embedded synthetic dataset and say "
                    "nothing about CIFAR. They only show that the pipeline works.\n")
    seeds = [g["seed"].nunique() for _, g in rows(runs)]
    check = data_check(runs)
    head.append(f"What was compared: dataset **{key['dataset']}**{f' ({check})' if check else ''}, "
                f"budget **{key['budget']}** per run, "
                f"recipes {', '.join(sorted(runs['recipe'].dropna().unique()))}, {_devices(runs)}, "
                f"precision {key['precision']}, Keras backend {key['backend']} ({xla_text(key['jit'])}), "
                f"seeds per row {min(seeds)}-{max(seeds)}, "
                f"versions: {_versions(runs)}.\n")
    table = main_table(runs)
    common = common_variant(table["variant"])
    if common:
        head.append(f"Every row ran with `{common}` (not the canonical settings).\n")
    head.append(page_tables(format_table(table), left=("architecture", "completed")) + "\n")
    head.append("One row per architecture, recipe and variant (what differs from the canonical run, in "
                "brackets). Test top-1/top-5 use the best-on-validation weights (mean ± std over complete "
                "seeds, n shown); diverged, failed, unfinished and unreadable seeds are never in a mean. "
                "gap = train-eval top-1 (fixed train subset, inference mode) minus validation top-1. "
                "val CE = validation cross-entropy after the last epoch without the weight-decay penalty (Keras' "
                "loss includes it): a uniform guess over C classes scores ln C, 4.61 for 100 (runs recorded "
                "before it was measured show -).\n")
    head.append(_post_section(table))
    h = history
    if not h.empty:
        h = h[np.logical_and.reduce([h[c] == key[c] for c in GROUP]) & (h["status"] != "diverged")]
    done = table.dropna(subset=["test_top1"])
    complete = runs[runs["status"] == "complete"]
    marks = {"reference": reference(key["dataset"]), "highlight": REFERENCE_ARCH}
    plots = [("curves", lambda: learning_curves(h, title, sizes=table, **marks), not h.empty),
             # accuracy against images/s: only rows whose seeds ran on one device have a speed
             ("frontier", lambda: frontier(done.dropna(subset=["images_per_second"]), title, **marks),
              done["images_per_second"].notna().any()),
             ("gap", lambda: gap_plot(done.dropna(subset=["gap"]), title, runs=complete), done["gap"].notna().any()),
             ("params", lambda: params_plot(done, title, **marks), not done.empty)]
    for name, make, ok in plots:
        if ok:
            path = out_dir / f"{index:02d}-{name}.png"
            save_png(make(), path)
            figures[path.name] = path
            head.append(f"![{name}]({path.name})\n")
    return "\n".join(head)


def _devices(runs: pd.DataFrame) -> str:
    """'device X', or for a step-like budget whose seeds ran on several machines 'devices X, Y (...)'."""
    devices = sorted(runs["device"].dropna().astype(str).unique())
    if len(devices) <= 1:
        return f"device {devices[0] if devices else 'unknown'}"
    return (f"devices {', '.join(devices)} (the budget fixes what each run trains on any device; times and "
            f"images/s of a row whose seeds ran on several say 'mixed devices')")


def _tuning_section(results_dir: Path, out_dir: Path, figures: dict, warn: Callable[[str], None]) -> str:
    """The searches that `tune` left under results/tuning/, with their best trials and figure."""
    searches = sorted(Path(results_dir).glob("tuning/*/*/search.csv"))
    if not searches:
        return ""
    lines = ["## Tuning searches\n"]
    for i, path in enumerate(searches):
        try:  # a regular file inside the folder, of a bounded size: the folder may come from anyone
            if through_link(results_dir, path.parent):
                raise UnsafeFile("reached through a symbolic link, never followed")
            trials = pd.read_csv(io.BytesIO(read_regular(path, "table")))
            done = trials[trials["status"] == "COMPLETED"]
            spent = done["train_seconds"].sum()
        except UnsafeFile as error:
            warn(inert(f"{path}: not read ({error})"))
            continue
        except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            warn(f"{path}: not a readable tuning search ({type(error).__name__})")
            continue
        lines.append(f"### {inert(path.parent.parent.name)} / {inert(path.parent.name)}\n")
        lines.append(f"{len(done)} completed trials of {len(trials)}, {format_duration(spent)} of training; "
                     f"objective: best validation top-1 (the test set is never used). Best five:\n")
        shown = done.head(5).assign(val_top1=lambda t: (100 * pd.to_numeric(t["val_top1"])).round(1),
                                    train_seconds=lambda t: pd.to_numeric(t["train_seconds"]).round(0))
        shown = shown.rename(columns=inert).map(lambda v: inert(v) if isinstance(v, str) else v)
        lines.append(shown.drop(columns=["status"]).to_markdown(index=False) + "\n")
        figure = path.parent / "search.png"
        if os.path.lexists(figure):
            try:
                image = read_regular(figure, "figure")
            except OSError as error:
                warn(inert(f"{figure}: not read ({error.strerror or error})"))
                continue
            name = f"tuning-{i:02d}.png"
            atomic_write(out_dir / name, lambda f, image=image: f.write(image), mode="wb")
            figures[name] = out_dir / name
            lines.append(f"![search]({name})\n")
    return "\n".join(lines)


def _versions(runs) -> str:
    return "; ".join(sorted(runs["versions"].dropna().astype(str).unique())) or "unknown"


def _post_section(table: pd.DataFrame) -> str:
    top1, train_eval, gap = (metrics.METRICS[n] for n in ("test_top1", "train_eval_top1", "gap"))
    lines = ["### The original model beside the blog post\n"]
    original = table[table["arch"] == "original"]
    best = table.dropna(subset=["test_top1"]).head(1)
    lines.append(f"The blog post reports about {POST['val_top1']:.0%} validation and {POST['train_top1']:.0%} "
                 f"training accuracy after {POST['epochs']} epochs ({POST['wall_clock']}, {POST['device']}), "
                 f"selected on the test set.")
    for _, r in original.iterrows():
        variant = f" ({r['variant']})" if r["variant"] else ""
        lines.append(f"Here, with the {r['recipe']} recipe{variant} and this budget, `original` reaches "
                     f"{top1.text(r['test_top1'])} test top-1 (selected on validation, not test), "
                     f"{train_eval.text(r['train_eval_top1'])} train-eval top-1, a gap of "
                     f"{gap.text(r['gap'])}.")
    if len(best) and (original.empty or best.iloc[0]["arch"] != "original"):
        b = best.iloc[0]
        name = short_label(b["arch"], b["recipe"], b["variant"], common_variant(table["variant"]))
        lines.append(f"The best row under the same budget is `{name}` "
                     f"at {top1.text(b['test_top1'])} test top-1.")
    return " ".join(lines[1:]).join([lines[0], "\n"])


# ------------------------------------------------------------------------------------- HTML
# Nothing runs and nothing is fetched: images are inlined as data: URIs, the style is inline.
_CSP = ("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">")
_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}")


def _check_html() -> None:
    try:
        import markdown  # noqa: F401
        import nh3  # noqa: F401
    except ImportError:
        raise ConfigError("report --format html needs the markdown and nh3 packages: pip install markdown nh3")


def _html(text: str, figures: dict[str, Path]) -> str:
    """One self-contained page from the markdown report (Python-Markdown, its tables extension):
    figures inlined as base64 data URIs, and raw HTML in the text (an error message's `<class ...>`)
    escaped rather than passed through."""
    import markdown
    import nh3

    def inline(match: re.Match) -> str:
        if match.group(2) not in figures:  # not a figure this report wrote: left as text
            return match.group(0)
        data = base64.b64encode(figures[match.group(2)].read_bytes()).decode()
        return f"![{match.group(1)}](data:image/png;base64,{data})"

    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)", inline, text)
    converter = markdown.Markdown(extensions=["tables"], output_format="html")
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = nh3.clean(converter.convert(text), url_schemes={"data"}, link_rel=None)  # no script, handler or link out
    return (f"<!doctype html><html><head><meta charset='utf-8'>{_CSP}<title>archbench report</title>"
            f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n")
