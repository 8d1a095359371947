"""Readers under failure: damaged files, unwritable output, diverged runs, run identity, compare's
units and directions, altered archives. Built on hand-written results (no training), so each case
is exact and fast."""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.cli import commands
from benchmarks.report import caveats, compare, document, tables
from benchmarks.results import metrics, reading, schema
from tests.helpers import fake_run, two_arch_folder

SHA_WARNING = "cifar-100-python.tar.gz does not match the published sha256 (got 0badc0de)"


def main(capsys, *argv):
    code = commands.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------- damaged files
DAMAGE = {
    "summary truncated": ("summary.json", lambda t: t[: len(t) // 2]),
    "summary random bytes": ("summary.json", lambda t: bytes(range(256)) * 4),
    "summary list": ("summary.json", lambda t: b"[]"),
    "summary empty object": ("summary.json", lambda t: b"{}"),
    "summary nested too deep": ("summary.json", lambda t: b"[" * 200_000),
    "summary missing field": ("summary.json", lambda t: json.dumps({k: v for k, v in json.loads(t).items()
                                                                    if k != "test_top1"}).encode()),
    "summary wrong type": ("summary.json", lambda t: json.dumps({**json.loads(t), "seed": "zero"}).encode()),
    "history garbage": ("history.csv", lambda t: b"\x00\xff garbage,\n1,2,3,4\n"),
    "history text": ("history.csv", lambda t: b"epoch,step,train_top1,val_top1,train_seconds\n1,2,abc,0.5,3\n"),
    "history empty": ("history.csv", lambda t: b""),
    "config truncated": ("config.json", lambda t: t[: len(t) // 2]),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_file_makes_an_unreadable_row_and_a_warning(tmp_path, kind):
    two_arch_folder(tmp_path)
    name, damage = DAMAGE[kind]
    broken = fake_run(tmp_path, "resnet20", seed=2, test_top1=0.99)
    (broken / name).write_bytes(damage((broken / name).read_bytes()))
    runs, history = reading.load(tmp_path)  # still (runs, histories)
    row = runs[runs["folder"] == str(broken)].iloc[0]
    assert row["status"] == "unreadable" and row["arch"] == "resnet20" and row["seed"] == 2
    assert runs.attrs["warnings"] == [row["error"]] and str(broken / name) in row["error"]
    assert (runs["status"] == "complete").sum() == 4 and not (history["seed"] == 2).any()
    table = tables.main_table(runs).set_index("arch")
    assert table.loc["resnet20", "test_top1"] == pytest.approx(0.61) and table.loc["resnet20", "n"] == 2
    # A damaged summary cannot say which row the run belongs to; a readable one keeps it in its row.
    assert table.loc["resnet20", "completed"] == ("2/2" if name == "summary.json" else "2/3, 1 unreadable")


def test_report_and_compare_survive_one_of_each_damaged_file(tmp_path, capsys):
    results_dir = two_arch_folder(tmp_path / "results")
    damaged = []
    for seed, (name, damage) in enumerate(DAMAGE.values(), start=10):
        folder = fake_run(results_dir, "resnet20", seed, test_top1=0.99)
        (folder / name).write_bytes(damage((folder / name).read_bytes()))
        damaged.append(folder / name)
    code, out, err = main(capsys, "report", "--results-dir", str(results_dir), "--out", str(tmp_path / "r"))
    assert code == 0 and (tmp_path / "r" / "report.md").exists() and "Traceback" not in err
    assert all(f"warning: {path}" in err for path in damaged) and len(err.strip().splitlines()) == len(damaged)
    text = (tmp_path / "r" / "report.md").read_text()
    # 7 damaged summaries have no group; the 4 readable ones stay in resnet20's row, out of its mean
    assert "2/6, 4 unreadable" in text and "61.0 ± 1.4 (n=2)" in text and "No run could be read" not in text
    code, out, err = main(capsys, "compare", "original", "resnet20", "--results-dir", str(results_dir),
                          "--out", str(tmp_path / "c"))
    assert code == 0 and (tmp_path / "c" / "compare-original-vs-resnet20.md").exists()
    assert len(err.strip().splitlines()) == len(damaged) and "is unreadable" in out and "n=2 complete seeds" in out


def test_a_folder_of_only_unreadable_runs_still_gives_a_report(tmp_path, capsys):
    (tmp_path / "results" / "x" / "seed-0").mkdir(parents=True)
    (tmp_path / "results" / "x" / "seed-0" / "summary.json").write_text("{")
    code, out, err = main(capsys, "report", "--results-dir", str(tmp_path / "results"), "--out", str(tmp_path / "r"))
    assert code == 0 and "No run could be read" in (tmp_path / "r" / "report.md").read_text()
    assert "x seed 0 is unreadable" in (tmp_path / "r" / "report.md").read_text()


# --------------------------------------------------------------------- unwritable --out
def _disk_full(*_, **__):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("verb", ["report", "compare"])
@pytest.mark.parametrize("how", ["parent is a file", "disk full on a figure", "disk full on the text"])
def test_unwritable_out_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, verb, how):
    results_dir = two_arch_folder(tmp_path / "results")
    (tmp_path / "file").write_text("")
    out_dir = tmp_path / "file" / "reports" if how == "parent is a file" else tmp_path / "reports"
    if how == "disk full on a figure":
        import matplotlib.figure

        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _disk_full)
    elif how == "disk full on the text":
        monkeypatch.setattr(os, "fsync", _disk_full)
    archs = ["original", "resnet20"] if verb == "compare" else []
    code, out, err = main(capsys, verb, *archs, "--results-dir", str(results_dir), "--out", str(out_dir))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"archbench {verb}: error: cannot write") and "Traceback" not in err
    if how == "disk full on the text":
        assert os.strerror(errno.ENOSPC) in err and not list(out_dir.glob("*.md"))  # never half a file


# ---------------------------------------------------------------------- diverged and co.
@pytest.mark.parametrize("status", tables.NOT_AVERAGED)
def test_runs_that_are_not_complete_never_enter_a_mean(tmp_path, capsys, status):
    results_dir = two_arch_folder(tmp_path)
    at = {"epoch": 2, "step": 37, "loss": "nan"} if status == "diverged" else None
    copy = status == "duplicate"  # seed 1 again, in a backup folder, with other figures
    folder = fake_run(results_dir / "backup" if copy else results_dir, "resnet20", 1 if copy else 2,
                      status="complete" if status in ("unreadable", "duplicate") else status,
                      test_top1=0.01, diverged_at=at,
                      images_per_second=1.0, gap=0.9, time_to_target={"0.52": 1.0})
    if status == "unreadable":  # a readable summary, a damaged history
        (folder / "history.csv").write_bytes(b"")
    runs, _ = reading.load(results_dir)
    row = tables.main_table(runs).set_index("arch").loc["resnet20"]
    assert row["test_top1"] == pytest.approx(0.61) and row["n"] == 2
    assert row["test_top1 std"] == pytest.approx(np.std([0.60, 0.62], ddof=1))
    assert row["images_per_second"] == 1000.0 and row["gap"] == pytest.approx(0.05) and row["time_to_52"] == 60.0
    assert row["completed"] == f"2/3, 1 {status}"
    text, _ = compare.run(["original", "resnet20"], results_dir, tmp_path / "out", warn=lambda _: None)
    assert "n=2 complete seeds" in text and f"1 {status}" in text
    table, _ = compare.compare_table(runs[runs["arch"] == "original"], runs[runs["arch"] == "resnet20"], "a", "b")
    assert table.set_index("metric").loc["test_top1", "b"] == pytest.approx(0.61)


def test_diverged_runs_are_listed_with_epoch_and_step(tmp_path):
    results_dir = two_arch_folder(tmp_path)
    fake_run(results_dir, "resnet20", 2, status="diverged", test_top1=0.01, error="non-finite loss nan",
             diverged_at={"epoch": 2, "step": 37, "loss": "nan"})
    runs, _ = reading.load(results_dir)
    warnings = caveats.fairness_warnings(runs)
    assert any(w.startswith("resnet20 seed 2 diverged at epoch 2, step 37") and "left out of every mean" in w
               for w in warnings)
    assert "run the same" not in " ".join(w for w in warnings if "diverged" in w)  # not an unfinished run
    text = document.write(results_dir, tmp_path / "r", warn=lambda _: None).read_text()
    assert "diverged at epoch 2, step 37" in text and "2/3, 1 diverged" in text
    text, _ = compare.run(["original", "resnet20"], results_dir, tmp_path / "c", warn=lambda _: None)
    assert "resnet20 seed 2 diverged at epoch 2, step 37" in text


# ------------------------------------------------------------------------------ identity
def identity_folder(root: Path) -> Path:
    """run --all's layout: original with the paper and the post recipe, plus a variant of it."""
    for seed in (0, 1):
        fake_run(root, "original", seed, test_top1=0.55 + seed / 100)
        fake_run(root, "original", seed, recipe="post", test_top1=0.50 + seed / 100)
        fake_run(root, "resnet20", seed, test_top1=0.60 + seed / 100)
    fake_run(root, "original", 0, variant="augment=none, dropout=0.3", test_top1=0.40)
    return root


def test_report_rows_are_arch_recipe_and_variant(tmp_path):
    runs, _ = reading.load(identity_folder(tmp_path))
    table = tables.main_table(runs)
    assert len(table) == 4 and sorted(table["n"]) == [1, 2, 2, 2]
    labels = list(tables.format_table(table)["architecture"])
    assert {"original", "original (post recipe)", "original [augment=none, dropout=0.3]", "resnet20"} == set(labels)
    means = dict(zip(labels, table["test_top1"]))
    assert means["original"] == pytest.approx(0.555) and means["original (post recipe)"] == pytest.approx(0.505)


def test_compare_groups_exactly_as_the_report_and_names_each_side(tmp_path):
    results_dir = identity_folder(tmp_path)
    text, _ = compare.run(["original", "resnet20"], results_dir, tmp_path / "out", warn=lambda _: None)
    sides = [line.removeprefix("### ").split(" - ")[1] for line in text.splitlines() if line.startswith("### ")]
    assert sides == ["original (paper recipe)", "original (paper recipe) [augment=none, dropout=0.3]",
                     "original (post recipe)"]
    assert "n=4" not in text and text.count("original (post recipe): n=2 complete seeds") == 1
    assert "### resnet20 (paper recipe) - original (paper recipe)\n" in text
    post = text[text.index("### resnet20 (paper recipe) - original (post recipe)"):]
    assert "| test top-1 " in post and " 50.5% |" in post and "+10.0 pts" in post
    assert "differ in recipe or variant" in post
    runs, _ = reading.load(results_dir)
    report_rows = {tuple(k.values()) for _, group in reading.groups(runs) for k, _ in reading.rows(group)}
    assert {("original", "paper", ""), ("original", "post", ""), ("resnet20", "paper", "")} < report_rows
    assert len(report_rows) == len(tables.main_table(runs))


def test_summaries_from_before_variants_are_told_apart_by_their_folder(tmp_path):
    fake_run(tmp_path, "resnet20", 0, test_top1=0.6)
    old = fake_run(tmp_path, "resnet20", 0, variant="depth=8", test_top1=0.3)
    record = json.loads((old / "summary.json").read_text())
    for field in ("variant", "config_hash", "diverged_at", "tuning", "segments", "checkpoint_seconds"):
        del record[field]  # added since, or not needed by the report
    (old / "summary.json").write_text(json.dumps(record))
    runs, _ = reading.load(tmp_path)
    assert list(runs["status"]) == ["complete"] * 2 and runs.attrs["warnings"] == []
    hash_ = old.parent.parent.name.split("-")[-1]
    assert sorted(runs["variant"]) == ["", f"config {hash_}"] and len(tables.main_table(runs)) == 2


# ------------------------------------------------------------------ compare: unit, direction
# metric -> (a's seeds, b's seeds, the verdict expected); b - a is clearly beyond seed noise.
VERDICTS = {
    "test_top1": ([0.50, 0.51, 0.52], [0.62, 0.63, 0.64], "b has the higher test top-1 by 12.0 pts"),
    "test_top5": ([0.80, 0.81, 0.82], [0.70, 0.71, 0.72], "a has the higher test top-5 by 10.0 pts"),
    "best_val_top1": ([0.50, 0.51, 0.52], [0.55, 0.56, 0.57], "b has the higher best val top-1 by 5.0 pts"),
    "train_eval_top1": ([0.50, 0.51, 0.52], [0.70, 0.71, 0.72], "b - a in train-eval top-1: +20.0 pts"),
    "gap": ([0.10, 0.11, 0.12], [0.02, 0.03, 0.04], "b overfits less (smaller gap) by 8.0 pts"),
    "final_val_ce": ([3.0, 3.1, 3.2], [2.5, 2.6, 2.7], "b has the lower cross-entropy by 0.50 nats"),
    "images_per_second": ([1000, 1010, 1020], [2200, 2210, 2220], "b trains faster by 1,200 img/s"),
    "time_to_52": ([100, 101, 102], [60, 61, 62], "b is faster to 52% by 40 s"),
    "epochs": ([10, 10, 10], [12, 12, 12], "b - a in epochs reached: +2.0 epochs"),
    "params": ([1000, 1000, 1000], [3000, 3000, 3000], "b - a in trainable parameters: +2,000 ("),
    "mmacs": ([40.0, 40.0, 40.0], [10.0, 10.0, 10.0], "b - a in MMACs per image: -30.0 MMACs"),
    "train_flops": ([1e15, 1.1e15, 1.2e15], [3e15, 3.1e15, 3.2e15], "b - a in training FLOPs: +2.0 PFLOP ("),
    "train_seconds": ([100, 101, 102], [160, 161, 162], "b - a in training time: +60 s"),
    "wall_seconds": ([200, 210, 220], [150, 160, 170], "b - a in wall time: -50 s"),
}


def test_every_compared_metric_has_a_verdict_case():
    """Breaks when a metric is shown without a verdict case below, or lacks a unit, label or phrase."""
    assert set(VERDICTS) == {m.name for m in metrics.shown()}
    for m in metrics.METRICS.values():
        assert m.higher_is_better in (True, False, None) and m.unit and m.label and m.meaning
        assert bool(m.phrase) == (m.higher_is_better is not None)


@pytest.mark.parametrize("metric", VERDICTS)
def test_verdict_follows_the_metrics_direction_and_unit(metric):
    a, b, expected = VERDICTS[metric]
    runs = pd.DataFrame({"status": ["complete"] * 6, **{m: np.nan for m in metrics.METRICS}})
    runs[metric] = a + b
    table, text = compare.compare_table(runs.iloc[:3], runs.iloc[3:], "a", "b", metric)
    assert expected in text
    m = metrics.METRICS[metric]
    higher = m.higher_is_better
    assert ("larger than seed noise" in text) == (higher is not None) and ("neither is better" in text) == (higher is None)
    shown = compare._format(table).set_index("metric").loc[m.label]
    assert shown["difference"] == m.difference(np.mean(b) - np.mean(a))
    assert shown["better"] == {True: "higher", False: "lower", None: "- (descriptive)"}[higher]


def test_differences_are_formatted_in_the_metrics_unit():
    """Breaks when a unit's format changes: %, pts, s, img/s, counts and SI-prefixed FLOPs."""
    m = metrics.METRICS
    assert m["test_top1"].difference(0.123) == "+12.3 pts" and m["time_to_52"].difference(-40.2) == "-40 s"
    assert m["images_per_second"].difference(1200) == "+1,200 img/s" and m["params"].difference(2000) == "+2,000"
    assert m["test_top1"].text(0.523) == "52.3%" and m["gap"].text(0.041) == "+4.1 pts"
    assert m["time_to_52"].text(1234.4) == "1,234 s" and m["params"].text(np.nan) == "-"
    assert m["train_flops"].text(1.23e15) == "1.2 PFLOP" and m["train_flops"].difference(-2e12) == "-2.0 TFLOP"
    assert m["train_flops"].text(None) == "-" and m["mmacs"].text(40.0) == "40.0 MMACs"
    # The report's cells: the header names the unit, a duration reads h:mm:ss.
    assert m["test_top1"].cell(0.523) == "52.3" and m["gap"].cell(0.041) == "+4.1"
    assert m["time_to_52"].cell(3723) == "1:02:03" and m["train_flops"].cell(1.23e15) == "1.2 PFLOP"


def test_summaries_without_train_flops_read_as_missing_and_a_wrong_type_as_unreadable(tmp_path):
    """Breaks when an older summary lacking train_flops (an optional metric) becomes unreadable or gets
    a made-up value, when a train_flops of the wrong type is accepted, or when the writer's check
    stops demanding the field."""
    for seed in (0, 1):
        fake_run(tmp_path, "original", seed, train_flops=1.2e15 + seed * 2e14)
        old = fake_run(tmp_path, "resnet20", seed)
        record = json.loads((old / "summary.json").read_text())
        del record["train_flops"]
        (old / "summary.json").write_text(json.dumps(record))
    assert schema.validate_summary(record) == ["missing train_flops"]  # the runner must still write it
    runs, _ = reading.load(tmp_path)
    assert set(runs["status"]) == {"complete"} and runs.attrs["warnings"] == []
    cells = tables.format_table(tables.main_table(runs)).set_index("architecture")["train FLOPs"]
    assert cells["original"] == "1.3 PFLOP" and cells["resnet20"] == "-"
    a, b = (runs[runs["arch"] == arch] for arch in ("original", "resnet20"))
    table, text = compare.compare_table(a, b, "a", "b", "train_flops")
    shown = compare._format(table).set_index("metric").loc["training FLOPs"]
    assert (shown["a"], shown["b"], shown["better"]) == ("1.3 PFLOP", "-", "- (descriptive)")
    assert "no claim about significance" in text
    record["train_flops"] = "lots"
    (old / "summary.json").write_text(json.dumps(record))
    runs, _ = reading.load(tmp_path)
    row = runs[runs["folder"] == str(old)].iloc[0]
    assert row["status"] == "unreadable" and "train_flops: str is not int/float/null" in row["error"]


def test_a_metric_some_seeds_lack_has_no_mean():
    runs = pd.DataFrame({"status": ["complete"] * 4, **{m: 0.5 for m in metrics.METRICS}})
    runs["time_to_52"] = [60.0, np.nan, 50.0, 55.0]  # a's second seed never reached 52%
    table, text = compare.compare_table(runs.iloc[:2], runs.iloc[2:], "a", "b", "time_to_52")
    assert pd.isna(table.set_index("metric").loc["time_to_52", "a"]) and "no claim about significance" in text


# ---------------------------------------------------------------------- altered archives
def test_an_archive_that_fails_its_sha256_is_warned_in_report_and_compare(tmp_path):
    results_dir = two_arch_folder(tmp_path)
    fake_run(results_dir, "resnet20", 2, data={"sha256_ok": False, "warnings": [SHA_WARNING]})
    runs, _ = reading.load(results_dir)
    expected = f"The dataset archive of resnet20 seed 2 does not match the published sha256 ({SHA_WARNING})"
    assert any(w.startswith(expected) for w in caveats.fairness_warnings(runs))
    assert expected in document.write(results_dir, tmp_path / "r", warn=lambda _: None).read_text()
    text, _ = compare.run(["original", "resnet20"], results_dir, tmp_path / "c", warn=lambda _: None)
    assert expected in text
    assert not any("sha256" in w for w in caveats.fairness_warnings(runs[runs["seed"] != 2]))


def test_compare_says_when_a_side_is_only_unreadable_runs(tmp_path):
    from benchmarks.core.errors import ConfigError
    from benchmarks.report import compare

    root = two_arch_folder(tmp_path / "results")
    for path in root.glob("**/resnet20/seed-*/summary.json"):
        path.write_text(path.read_text()[:40])
    with pytest.raises(ConfigError, match="every result of resnet20 .* is unreadable"):
        compare.run(["original", "resnet20"], root, tmp_path / "out", warn=lambda *_: None)
