"""Report and compare, built on real smoke results that the tests produce, and (where a case must
be exact) on hand-written ones: the metric table driving every reader, and the HTML page."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.core.config import RECIPES, Budget, RunConfig
from benchmarks.report import caveats, compare, document, figures, tables
from benchmarks.results import metrics, reading, schema
from benchmarks.train import suite
from tests.helpers import SMALL, fake_run, two_arch_folder


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """original and resnet20, two seeds each, on synthetic data: real runs, a few seconds each."""
    folder = tmp_path_factory.mktemp("results")
    for arch in ("original", "resnet20"):
        for seed in (0, 1):
            cfg = RunConfig(arch=arch, data=dataclasses.replace(SMALL, seed=seed), recipe=RECIPES["paper"],
                            budget=Budget.parse("2epochs"))
            suite.run_one(cfg, folder, verbose=0, log=lambda *_: None)
    return folder


def test_load_gives_one_typed_row_per_run(smoke_results):
    runs, history = reading.load(smoke_results)
    assert len(runs) == 4 and set(runs["status"]) == {"complete"}
    assert runs["test_top1"].dtype == np.float64 and str(runs["seed"].dtype) == "Int64"
    assert len(history) == 4 * 2 and {"arch", "seed", "val_top1", "train_seconds"} <= set(history.columns)


def test_main_table_means_and_stds_over_two_seeds(smoke_results):
    runs, _ = reading.load(smoke_results)
    table = tables.main_table(runs).set_index("arch")
    for arch in ("original", "resnet20"):
        values = runs.loc[runs["arch"] == arch, "test_top1"].to_numpy()
        assert table.loc[arch, "test_top1"] == pytest.approx(values.mean())
        assert table.loc[arch, "test_top1 std"] == pytest.approx(values.std(ddof=1))
        assert table.loc[arch, "n"] == 2 and table.loc[arch, "completed"] == "2/2"
    assert list(tables.main_table(runs)["test_top1"]) == sorted(table["test_top1"], reverse=True)


def test_report_writes_markdown_and_figures(smoke_results, tmp_path):
    path = document.write(smoke_results, tmp_path, today="2026-01-01")
    text = path.read_text()
    assert "SYNTHETIC DATA" in text and "| original" in text and "| resnet20" in text
    for column in ("params", "MMACs", "images/s", "test top-1 %", "gap (pts)", "time to 52% val", "completed"):
        assert column in text
    assert "blog post reports about 52%" in text
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 4 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000 for p in pngs)
    again = tmp_path / "again"
    document.write(smoke_results, again, today="2026-01-01")
    assert (again / "report.md").read_text() == text.replace(str(tmp_path), str(again)) or \
        (again / "report.md").read_text() == text
    assert all((again / p.name).read_bytes() == p.read_bytes() for p in pngs)


def test_figures_aggregate_seeds_and_speak_in_human_units(smoke_results):
    """Breaks when the curves draw seeds as unrelated lines instead of a mean, a band and each seed
    faint, when a legend prints a raw parameter count, or the frontier loses a row."""
    runs, history = reading.load(smoke_results)
    table = tables.main_table(runs)
    fig = figures.learning_curves(history, "t", sizes=table, reference=(0.52, "blog post: 52%"), highlight="original")
    for ax in fig.axes[:2]:
        means = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        assert [ln.get_label().split(" · ")[0] for ln in means] == ["original", "resnet20"]
        assert all(len(ln.get_xdata()) == 2 and ln.get_linewidth() > 2 for ln in means)  # one point an epoch
        resnet = history[history["arch"] == "resnet20"].groupby("epoch")["val_top1"].mean()
        assert list(means[1].get_ydata()) == pytest.approx(list(100 * resnet))
        assert len([ln for ln in ax.get_lines() if ln.get_alpha() == 0.3]) == 4  # each seed, faint
        assert len([ln for ln in ax.get_lines() if ln.get_label() == "_train"]) == 2  # running train, dashed
        assert len(ax.collections) == 2  # a band per row
        assert any("blog post: 52%" == t.get_text() for t in ax.texts)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert re.fullmatch(r"resnet20 · 0\.2\dM params, \d\d MMACs", legend[1]), legend
    assert fig.axes[0].get_xlabel() == "training time (seconds)"
    scatter = figures.frontier(table, "t").axes[0]
    points = [c for c in scatter.collections if not c.get_label().startswith("_") and len(c.get_offsets())]
    assert [c.get_label().split(" · ")[0] for c in points] == ["original", "resnet20"]
    gap = figures.gap_plot(table, "t").axes[0]
    assert gap.get_xlabel() == "train-eval minus val top-1, points: higher = more overfitting"
    assert len({bar.get_facecolor() for bar in gap.patches}) == 2  # one colour per architecture, not one for all


def test_html_is_self_contained(smoke_results, tmp_path):
    """Breaks if a figure is linked instead of embedded, or markdown reaches the page unconverted."""
    path = document.write(smoke_results, tmp_path, fmt="html")
    html = path.read_text()
    assert html.count("data:image/png;base64,") == 4 and "<table>" in html and 'src="0' not in html
    assert "<strong>" in html and "**" not in html and "<blockquote>" in html and "|---" not in html


def test_welch_interval_by_hand():
    """Breaks if the interval stops being Welch's (pooled variance, integer df) or flips b - a."""
    from scipy.stats import t as student

    diff, low, high = compare.welch_interval([0.50, 0.52], [0.60, 0.64])
    # var/n: 0.0001 and 0.0004; se = sqrt(0.0005); df = 0.0005^2 / (0.0001^2 + 0.0004^2) = 1.4706,
    # where Student's t quantile lies between the tables' 12.706 (df 1) and 4.303 (df 2).
    t = student.ppf(0.975, 0.0005 ** 2 / (0.0001 ** 2 + 0.0004 ** 2))
    assert 4.303 < t < 12.706
    assert diff == pytest.approx(0.11)
    assert low == pytest.approx(0.11 - t * 0.0005 ** 0.5, abs=2e-3)
    assert high == pytest.approx(0.11 + t * 0.0005 ** 0.5, abs=2e-3)
    assert "within seed noise" in compare.verdict("a", "b", "test_top1", (diff, low, high))
    assert compare.welch_interval([0.5], [0.6, 0.7]) is None
    assert "no claim about significance" in compare.verdict("a", "b", "test_top1", None)


def test_compare_table_on_a_small_frame():
    runs = pd.DataFrame({"arch": ["a", "a", "a", "b", "b", "b"], "status": ["complete"] * 6,
                         "test_top1": [0.50, 0.51, 0.52, 0.70, 0.71, 0.72]})
    for m in metrics.METRICS:
        if m not in runs:
            runs[m] = np.nan
    table, text = compare.compare_table(runs[runs["arch"] == "a"], runs[runs["arch"] == "b"], "a", "b", "test_top1")
    row = table.set_index("metric").loc["test_top1"]
    assert row["difference"] == pytest.approx(0.20)
    half = 2.7764451 * (2 * 0.0001 / 3) ** 0.5  # df = 4
    assert row["95% CI low"] == pytest.approx(0.20 - half, abs=1e-6)
    assert "larger than seed noise" in text


def test_fairness_warnings_and_failed_runs(smoke_results, tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(smoke_results, mixed)
    summary_path = next(mixed.glob("**/original/seed-1/summary.json"))
    record = json.loads(summary_path.read_text())
    record.update(status="failed", error="ValueError: boom")
    summary_path.write_text(json.dumps(record))
    other = next(mixed.glob("**/resnet20/seed-1"))
    moved = Path(str(other).replace("paper-2epochs", "paper-3epochs"))
    moved.parent.mkdir(parents=True)
    other.rename(moved)
    record = json.loads((moved / "summary.json").read_text())
    record["budget"] = "3epochs"
    (moved / "summary.json").write_text(json.dumps(record))
    runs, _ = reading.load(mixed)
    warnings = caveats.fairness_warnings(runs)
    assert any("different budgets" in w for w in warnings)
    assert any(w.startswith("original [") and "seed 1 is failed (ValueError: boom)" in w for w in warnings)
    text = document.write(mixed, tmp_path / "out").read_text()
    assert "budget 3epochs" in text and "budget 2epochs" in text and "1/2" in text


def test_compare_and_report_on_the_cli(smoke_results, tmp_path, cli_in_process):
    """In this process (what a real one shows, per verb: tests/test_cli.py and tests/test_trust.py)."""
    code, _ = cli_in_process("compare", "original", "resnet20", "--results-dir", str(smoke_results), "--out", str(tmp_path))
    assert code == 0 and "95% interval" in (tmp_path / "compare-original-vs-resnet20.md").read_text()
    code, lines = cli_in_process("compare", "original", "vgg16", "--results-dir", str(smoke_results), "--out", str(tmp_path))
    assert code == 2 and len(lines) == 1 and "no results for vgg16" in lines[0] and "benchmarks run vgg16" in lines[0]
    code, lines = cli_in_process("report", "--results-dir", str(tmp_path / "nothing"))
    assert code == 2 and len(lines) == 1 and "does not exist" in lines[0], lines
    (tmp_path / "empty").mkdir()
    code, lines = cli_in_process("report", "--results-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert code == 2 and len(lines) == 1 and "no results" in lines[0], lines


# ------------------------------------------------------------------------ the metric table
def test_load_types_every_metric_column_from_the_metric_table(tmp_path):
    """Breaks when `load` drops a metric's column or types it otherwise than its entry says."""
    runs, _ = reading.load(two_arch_folder(tmp_path))
    for m in metrics.METRICS.values():
        assert str(runs[m.name].dtype) == (m.dtype or "object"), m.name
    assert str(runs["seed"].dtype) == "Int64" and runs["time_to_52"].tolist() == [60.0] * 4  # a nested field


def test_the_schemas_metric_fields_are_the_metric_tables():
    """Breaks when a metric field is declared again by hand in schema.SUMMARY_SCHEMA (other types or
    meaning than its entry), or a nested metric's container field leaves the schema."""
    for m in metrics.METRICS.values():
        if m.path:
            assert schema.SUMMARY_SCHEMA[m.path[0]][0] == (dict,), m.name
        else:
            assert schema.SUMMARY_SCHEMA[m.name] == (m.types, m.meaning), m.name


def test_bold_marks_the_best_value_in_each_metrics_direction(tmp_path):
    """Breaks when a bold mark ignores a metric's direction (a smaller gap and a shorter time are
    better) or lands on a descriptive metric (parameters, train-eval top-1, FLOPs)."""
    for seed in (0, 1):
        fake_run(tmp_path, "original", seed, test_top1=0.50, images_per_second=2000.0, gap=0.02, params=5000,
                 time_to_target={"0.52": 100.0}, train_flops=2e15, final_val_ce=3.0)
        fake_run(tmp_path, "resnet20", seed, test_top1=0.60, images_per_second=1000.0, gap=0.08, params=1000,
                 time_to_target={"0.52": 60.0}, train_flops=1e15, final_val_ce=2.5)
    runs, _ = reading.load(tmp_path)
    cells = tables.format_table(tables.main_table(runs)).set_index("architecture")
    bold = {(arch, column) for arch, row in cells.iterrows() for column, text in row.items() if text.startswith("**")}
    assert bold == {("resnet20", "test top-1 %"), ("resnet20", "best val top-1 %"), ("resnet20", "time to 52% val"),
                    ("resnet20", "val CE"),
                    ("original", "images/s"), ("original", "gap (pts)"),
                    ("original", "test top-5 %"), ("resnet20", "test top-5 %")}  # a tie: both
    assert cells.loc["resnet20", "time to 52% val"] == "**0:01:00**" and cells.loc["original", "gap (pts)"] == "**+2.0**"


def test_a_new_metric_is_one_entry_in_the_metric_table(tmp_path, monkeypatch):
    """Breaks when a reader keeps its own list of metrics: one new entry must reach `load`'s
    columns, the report's table with its bold mark, and compare's rows and verdict."""
    new = metrics.Metric("time_to_30", "time to 30% val", "s", False, "training seconds until val top-1 reached 30%",
                         path=("time_to_target", "0.30"), shown=True, absent="not reached")
    monkeypatch.setattr(metrics, "METRICS", {**metrics.METRICS, new.name: new})
    for seed in (0, 1, 2):
        fake_run(tmp_path, "original", seed, time_to_target={"0.52": 60.0, "0.30": 40.0 + seed})
        fake_run(tmp_path, "resnet20", seed, time_to_target={"0.52": 60.0, "0.30": 20.0 + seed})
    runs, _ = reading.load(tmp_path)
    assert str(runs["time_to_30"].dtype) == "float64"
    cells = tables.format_table(tables.main_table(runs)).set_index("architecture")["time to 30% val"]
    assert (cells["resnet20"], cells["original"]) == ("**0:00:21**", "0:00:41")
    text, _ = compare.run(["original", "resnet20"], tmp_path, tmp_path / "c", metric="time_to_30", warn=lambda _: None)
    assert "| time to 30% val " in text and "resnet20 (paper recipe) has the lower time to 30% val by 20 s" in text


def test_html_escapes_the_runs_text_and_renders_tables_and_bold(tmp_path):
    """Breaks when the HTML page passes a run's text through as markup (an error's `<class 'int'>`
    would vanish into a tag), or leaves the markdown's tables, bold or figure links unrendered."""
    results_dir = two_arch_folder(tmp_path / "results")
    fake_run(results_dir, "resnet20", 5, status="failed", error="TypeError: <class 'int'> is not <b>callable</b>")
    html = document.write(results_dir, tmp_path / "r", fmt="html", warn=lambda _: None).read_text()
    # the run's text is kept readable and inert: its angle brackets become look-alikes, never a tag
    assert "‹class 'int'› is not ‹b›callable‹/b›" in html and "<b>callable" not in html
    assert re.search(r"<th[^>]*>test top-1 %</th>", html) and re.search(r"<td[^>]*><strong>61.0 ± 1.4 \(n=2\)", html)
    assert "**" not in html and "|---" not in html
    pngs = list((tmp_path / "r").glob("*.png"))
    assert len(pngs) == 4 and html.count('src="data:image/png;base64,') == 4 and ".png" not in html


# ------------------------------------------------------------------------- on a GitHub page
def test_no_table_is_wider_than_a_page_and_shared_options_are_said_once(smoke_results, tmp_path):
    """Breaks when a report table grows wider than a GitHub page (about 110 characters as rendered),
    or when every row's name repeats the options all rows share (the smoke preset's data options)."""
    text = document.write(smoke_results, tmp_path, today="2026-01-01").read_text()
    rows = [line for line in text.splitlines() if line.startswith("|") and not re.fullmatch(r"[-:| ]+", line)]
    widths = [sum(len(cell.strip().replace("**", "")) + 4 for cell in line.strip("|").split("|")) for line in rows]
    assert rows and max(widths) <= tables.PAGE, max(zip(widths, rows))
    shared = re.search(r"Every row ran with `([^`]+)`", text).group(1)
    assert "synthetic_train=700" in shared and "| original " in text and "| resnet20 " in text
    assert f"[{shared}" not in text  # not on the rows


def test_a_table_cut_to_the_page_repeats_every_column_that_names_a_row():
    """Two rows of one architecture at two budgets: each piece of the cut table keeps the budget
    too, or its rows read as the same row twice."""
    wide = pd.DataFrame({"row": ["resnet20", "resnet20"], "budget": ["100tflop", "300tflop"],
                         **{f"figure {i}": ["x" * 20, "y" * 20] for i in range(6)}})
    pieces = tables.page_tables(wide, key=2, width=80).split("\n\n")
    assert len(pieces) > 1
    for piece in pieces:
        header, _, *rows = piece.splitlines()
        assert header.split("|")[1].strip() == "row" and header.split("|")[2].strip() == "budget"
        assert [r.split("|")[2].strip() for r in rows] == ["100tflop", "300tflop"]
