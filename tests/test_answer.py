"""The answer page: the "what to train" table that opens the report, the cross-budget figure, one
colour per architecture in every figure of a report and of `compare`, and the README's example.
Built on hand-written results (no training), so each case is exact and fast."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.report import answer, compare, document, style, sweep
from benchmarks.results import reading
from tests import browser
from tests.helpers import fake_run, sweep_folder, table_of

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


# --------------------------------------------------------------------------- what to train
def test_the_best_row_is_named_when_its_lead_exceeds_seed_noise(tmp_path):
    """Breaks when the winner is not the best mean, the runner-up not the second, or a lead whose
    95% interval excludes zero is not called a winner."""
    table = table_of(sweep_folder(tmp_path, {"30s": {"original": [0.50, 0.51, 0.52],
                                                      "resnet20": [0.60, 0.61, 0.62],
                                                      "vgg16": [0.40, 0.41, 0.42]}}))
    row = table.iloc[0]
    assert (row["train"], row["runner-up"], row["seeds"]) == ("resnet20", "original", 3)
    assert row["test top-1"] == pytest.approx(0.61) and row["margin"] == pytest.approx(0.10)
    _, low, high = compare.welch_interval([0.50, 0.51, 0.52], [0.60, 0.61, 0.62])
    assert (row["low"], row["high"]) == (pytest.approx(low), pytest.approx(high)) and row["clear"]
    assert "| 30s | **resnet20** | 61.0% (n=3) | original | +10.0 pts | [+" in answer.markdown(table)
    assert answer.sentence(table).startswith("Train resnet20: at this budget (30s) it is ahead")


def test_no_clear_winner_when_the_interval_includes_zero(tmp_path):
    table = table_of(sweep_folder(tmp_path, {"30s": {"original": [0.50, 0.60], "resnet20": [0.52, 0.61]}}))
    row = table.iloc[0]
    assert row["train"] == "resnet20" and row["low"] < 0 < row["high"] and not row["clear"]
    assert "no clear winner (resnet20 ahead)" in answer.markdown(table)
    assert "**" not in answer.markdown(table) and "ahead by more than seed noise" in answer.sentence(table)


def test_no_clear_winner_with_fewer_than_two_seeds(tmp_path):
    """Breaks when one seed, however far ahead, is called a winner: no interval exists."""
    table = table_of(sweep_folder(tmp_path, {"30s": {"original": [0.10], "resnet20": [0.90, 0.91]}}))
    row = table.iloc[0]
    assert row["train"] == "resnet20" and np.isnan(row["low"]) and not row["clear"]
    assert "no clear winner (resnet20 ahead)" in answer.markdown(table) and "none: < 2 seeds" in answer.markdown(table)
    assert "fewer than two complete seeds" in answer.sentence(table)


def test_only_complete_seeds_count_and_budgets_come_in_order(tmp_path):
    """Breaks when a failed run's number enters the ranking, or budgets are sorted as text
    ('15m' before '30s') rather than by kind and amount."""
    sweep_folder(tmp_path, {b: {"original": [0.50, 0.51, 0.52], "resnet20": [0.60, 0.61, 0.62]}
                            for b in ("15m", "90s", "30s", "2epochs")})
    fake_run(tmp_path, "vgg16", 0, status="failed", test_top1=0.99, budget="30s")
    table = table_of(tmp_path)
    assert list(table["budget"]) == ["2epochs", "30s", "90s", "15m"]
    assert set(table["train"]) == {"resnet20"} and table["clear"].all()
    assert answer.sentence(table) == ("Train resnet20: at every budget here (2epochs, 30s, 90s, 15m) it is ahead "
                                      "by more than seed noise.")


def test_the_sentence_names_each_budgets_winner(tmp_path):
    """A crossover: the small model wins the small budget, the large one the large budget."""
    table = table_of(sweep_folder(tmp_path, {"30s": {"resnet20": [0.40, 0.41, 0.42], "wrn-16-4": [0.30, 0.31, 0.32]},
                                             "90s": {"resnet20": [0.50, 0.51, 0.52], "wrn-16-4": [0.60, 0.61, 0.62]},
                                             "5m": {"resnet20": [0.60, 0.64], "wrn-16-4": [0.62, 0.63]}}))
    assert list(table["train"]) == ["resnet20", "wrn-16-4", "wrn-16-4"] and list(table["clear"]) == [True, True, False]
    assert answer.sentence(table) == ("Train resnet20 at 30s, wrn-16-4 at 90s; at 5m no architecture is ahead "
                                      "by more than seed noise.")


def test_the_report_opens_with_the_what_to_train_table(tmp_path):
    """Breaks when anything (warnings, a group's table, a figure) comes before the answer."""
    sweep_folder(tmp_path / "results", {b: {"original": [0.50, 0.51], "resnet20": [0.60, 0.61]} for b in ("30s", "90s")})
    text = document.write(tmp_path / "results", tmp_path / "out", today="2026-01-01").read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[:2] == ["# archbench report", f"Generated 2026-01-01 from `{tmp_path / 'results'}`."]
    assert lines[2] == "## What to train" and lines[3].startswith("Train resnet20") and lines[3].endswith(".")
    assert lines[4].startswith("| budget | what to train |") and lines[6].startswith("| 30s | **resnet20** |")
    assert lines[7].startswith("| 90s | **resnet20** |")
    assert text.index("## What to train") < text.index("## Fairness warnings") < text.index("## Across budgets") \
        < text.index("## synthetic, budget 30s")


def test_one_what_to_train_table_per_setting(tmp_path):
    """Runs of two precisions are never ranked together: one sentence and table for each."""
    sweep_folder(tmp_path / "results", {"30s": {"original": [0.50, 0.51], "resnet20": [0.60, 0.61]}})
    sweep_folder(tmp_path / "results" / "bf16", {"30s": {"original": [0.70, 0.71], "vgg16": [0.30, 0.32]}},
                 precision="mixed_bfloat16")
    text = document.write(tmp_path / "results", tmp_path / "out", today="2026-01-01").read_text()
    opening = text[text.index("## What to train"):text.index("## Fairness warnings")]
    assert opening.count("| budget | what to train |") == 2
    assert "### synthetic, float32, tensorflow, no XLA, CPU" in opening and "### synthetic, mixed_bfloat16" in opening
    assert "**resnet20**" in opening and "**original**" in opening and "vgg16" in opening


# ------------------------------------------------------------------------------- the sweep
def test_the_sweep_figure_has_one_mean_line_per_row_and_a_panel_per_budget_kind(tmp_path):
    """Breaks when budgets of different kinds share an axis, seeds are not drawn, or the budget axis
    is not logarithmic with the budgets as ticks."""
    sweep_folder(tmp_path, {b: {"original": [0.30, 0.32], "resnet20": [0.40, 0.43]}
                            for b in ("30s", "90s", "5m", "2epochs", "8epochs", "1pflop")})
    runs, _ = reading.load(tmp_path)
    assert sweep.sweep_kinds(runs) == {"epochs": ["2epochs", "8epochs"], "seconds": ["30s", "90s", "5m"]}
    fig = sweep.budget_sweep(runs, "t", reference=(0.52, "blog post: 52%"), highlight="original")
    epochs, seconds = fig.axes[:2]
    assert seconds.get_xscale() == "log" and [t.get_text() for t in seconds.get_xticklabels()] == ["30s", "90s", "5m"]
    means = [line for line in seconds.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label().split(" · ")[0] for line in means] == ["original", "resnet20"]
    assert list(means[1].get_ydata()) == pytest.approx([41.5] * 3) and means[0].get_marker() == "*"
    faint = [line for line in seconds.get_lines() if line.get_alpha() == 0.3]
    assert len(faint) == 4 and all(len(line.get_xdata()) == 3 for line in faint)  # each seed across budgets
    assert [line.get_ydata()[0] for line in seconds.get_lines() if line.get_linestyle() == "--"] == [52]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_report_with_a_sweep_opens_in_chromium_with_every_image_loaded(tmp_path):
    """tests/test_report_browser.py's check on a report that includes a budget sweep."""
    sweep_folder(tmp_path / "results", {b: {"original": [0.50, 0.51], "resnet20": [0.60, 0.62]} for b in ("30s", "90s")})
    page = document.write(tmp_path / "results", tmp_path / "out", "html")
    html = page.read_text()
    assert html.count('src="data:image/png;base64,') == 9  # the sweep and four figures per budget
    seen = browser.inspect(page)
    assert len(seen["images"]) == 9 and all(width > 0 for width in seen["images"]), seen["images"]
    assert not seen["errors"], seen["errors"]


# ------------------------------------------------------------------------------- colours
def test_every_registered_architecture_has_its_own_colour_and_others_a_stable_one():
    import architectures

    colours = [style.arch_color(name) for name in architectures.names()]
    assert len(set(colours)) == len(colours) and all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    unregistered = style.arch_color("resnet8")
    assert unregistered not in colours and unregistered == style.arch_color("resnet8")
    assert style.row_color("original", "paper") == style.arch_color("original")
    assert style.row_color("original", "post") not in colours  # a darker shade of its hue


def test_a_hashed_colour_is_the_same_in_another_process():
    """Breaks when an unregistered name's colour comes from Python's hash(), salted per process."""
    code = "import sys; from benchmarks.report import style as f; print(hash('x'), f.arch_color('wrn-10-2'))"
    other, colour = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                                   env={**os.environ, "PYTHONHASHSEED": str(hash("salt") % 2**32)}).stdout.split()
    assert int(other) != hash("x")  # another salt than this process's (whatever tox or Python drew)
    assert colour == style.arch_color("wrn-10-2")


def _row_colours(fig) -> dict[str, set[str]]:
    """Row name -> colours its artists are drawn in: labelled lines and points, and bars by tick."""
    from matplotlib.colors import to_hex

    def name(label: str) -> str:  # 'resnet20 · 0.27M params, 41 MMACs', 'resnet20, budget 30s'
        return label.split(" · ")[0].split(", budget ")[0]

    found: dict[str, set[str]] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                found.setdefault(name(line.get_label()), set()).add(to_hex(line.get_color()))
        for points in ax.collections:
            if not points.get_label().startswith("_") and len(points.get_offsets()):
                found.setdefault(name(points.get_label()), set()).add(to_hex(points.get_facecolor()[0]))
        ticks = [name(t.get_text()) for t in ax.get_yticklabels()]
        if ax.patches and len(ax.patches) == len(ticks):  # the gap figure's bars
            for bar, row in zip(ax.patches, ticks):
                found.setdefault(row, set()).add(to_hex(bar.get_facecolor()))
    return found


def _figure_colours(monkeypatch, make) -> list[dict[str, set[str]]]:
    """The row colours of every figure that `make()` saves."""
    import matplotlib.pyplot as plt

    seen = []

    def record(fig, path):
        seen.append((Path(path).name, _row_colours(fig)))
        plt.close(fig)

    for reader in (document, compare):
        monkeypatch.setattr(reader, "save_png", record)
    make()
    return seen


def test_compare_draws_the_blog_posts_line_and_star_where_they_apply(tmp_path, monkeypatch):
    """Breaks when compare's learning curves lose the post's 52% line or the original model's star
    on a CIFAR-100-like dataset, or draw the line on a dataset it does not apply to (CIFAR-10)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    drawn = {}

    def record(fig, path):
        ax = fig.axes[0]
        references = [line.get_ydata()[0] for line in ax.get_lines() if to_hex(line.get_color()) == style.INK]
        markers = {line.get_label().split(" · ")[0]: line.get_marker() for line in ax.get_lines()
                   if not line.get_label().startswith("_")}
        drawn[Path(path).parent.name] = references, markers
        plt.close(fig)

    monkeypatch.setattr(compare, "save_png", record)
    for dataset in ("synthetic", "cifar10"):
        root = sweep_folder(tmp_path / dataset, {"30s": {"original": [0.5, 0.51], "resnet20": [0.6, 0.61]}},
                            dataset=dataset, synthetic=dataset == "synthetic")
        compare.run(["original", "resnet20"], root, tmp_path / f"out-{dataset}", warn=lambda _: None)
    lines, markers = drawn["out-synthetic"]
    assert lines == [52.0] and markers["original"] == "*" and markers["resnet20"] == "o"
    assert drawn["out-cifar10"][0] == [] and drawn["out-cifar10"][1]["original"] == "*"


def test_an_architecture_has_one_colour_in_every_figure_of_two_reports_and_compare(tmp_path, monkeypatch):
    """Breaks when a figure picks colours by plotting order: resnet20 must keep its colour whether
    it is plotted first or third, beside other architectures, in the report and in compare."""
    first = sweep_folder(tmp_path / "a", {"30s": {"resnet20": [0.60, 0.61], "original": [0.50, 0.52]}})
    second = sweep_folder(tmp_path / "b", {b: {"wrn-16-4": [0.7, 0.71], "vgg16": [0.3, 0.31], "resnet20": [0.6, 0.62]}
                                           for b in ("30s", "90s")})
    fake_run(second, "original", 0, recipe="post", budget="30s")
    figures = _figure_colours(monkeypatch, lambda: document.write(first, tmp_path / "ra", warn=lambda _: None))
    figures += _figure_colours(monkeypatch, lambda: document.write(second, tmp_path / "rb", warn=lambda _: None))
    figures += _figure_colours(monkeypatch, lambda: compare.run(["vgg16", "resnet20"], second, tmp_path / "c",
                                                                warn=lambda _: None))
    names = [name for name, _ in figures]
    assert {"00-curves.png", "00-frontier.png", "00-gap.png", "00-params.png", "sweep-00.png",
            "compare-vgg16-vs-resnet20.png"} <= set(names), names
    for name, colours in figures:
        assert colours.get("resnet20") == {style.arch_color("resnet20")}, name
        for row, drawn in colours.items():
            arch, _, recipe = row.partition(" (")
            expected = style.row_color(arch, recipe.removesuffix(" recipe)") if recipe else "paper")
            assert drawn == {expected}, (name, row, drawn)


# ---------------------------------------------------------------------------- the README
def test_the_readme_shows_a_small_checked_in_figure_and_a_what_to_train_table():
    """Breaks when the README's example figure leaves docs/, grows past 150 KB, or its table no
    longer has the report's columns."""
    section = README[README.index("## What the report looks like"):]
    section = section[:section.index("\n## ", 1)]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
    assert len(images) == 1 and images[0].startswith("docs/") and not images[0].startswith(("/", "http"))
    figure = ROOT / images[0]
    assert figure.exists() and figure.stat().st_size < 150_000
    assert "| budget | what to train | test top-1 | runner-up | margin | 95% interval |" in section
    assert "docs/readme_example.sh" in section and (ROOT / "docs" / "readme_example.sh").exists()
