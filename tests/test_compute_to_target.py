"""The answer past the first minutes (issue 26): the compute at which each row first reached a
validation target, the published results on the same FLOP axis (never in a mean), step-like budgets
compared across devices, and the recipe's numbers overridden from the command line."""

import json

import pandas as pd
import pytest

from benchmarks.core.budget import parse_sweep
from benchmarks.core.published import PUBLISHED
from benchmarks.report import compute, document
from benchmarks.results import reading, targets
from tests.helpers import fake_run


def history(flops, val):
    return pd.DataFrame({"step": range(1, len(flops) + 1), "epoch": range(1, len(flops) + 1), "train_flops": flops,
                         "val_top1": val, "images": [10 * f for f in flops], "train_seconds": flops})


def test_first_reach_is_the_first_evaluation_past_the_target_with_its_resolution():
    hit = targets.first_reach(history([1e13, 2e13, 3e13], [0.30, 0.45, 0.60]), 0.52)
    assert hit["flops"] == 3e13 and hit["epoch"] == 3 and hit["resolution"] == 1e13
    assert hit["flops_interpolated"] == pytest.approx(2e13 + (0.52 - 0.45) / 0.15 * 1e13)
    assert targets.first_reach(history([1e13, 2e13], [0.30, 0.51]), 0.52) is None
    first = targets.first_reach(history([1e13, 2e13], [0.55, 0.60]), 0.52)  # no evaluation before it
    assert first["flops"] == 1e13 and first["flops_interpolated"] is None


def run_with_history(root, arch, seed, flops, val, budget="1e14flops", **fields):
    folder = fake_run(root, arch, seed, budget=budget, test_top1=val[-1], mmacs=40.0, **fields)
    frame = pd.read_csv(folder / "history.csv")
    frame = pd.concat([frame.iloc[:1]] * len(flops), ignore_index=True)
    frame = frame.assign(epoch=range(1, len(flops) + 1), step=[20 * (i + 1) for i in range(len(flops))],
                         train_flops=flops, val_top1=val)
    frame.to_csv(folder / "history.csv", index=False)
    record = json.loads((folder / "summary.json").read_text())
    record.update(epochs=len(flops), steps=20 * len(flops))
    (folder / "summary.json").write_text(json.dumps(record))
    return folder


def test_the_cheapest_row_to_52_is_named_with_its_share_of_the_posts_compute(tmp_path):
    root = tmp_path / "r"
    for seed in (0, 1):
        run_with_history(root, "resnet20", seed, [4e13, 8e13, 1e14], [0.40, 0.53 + seed / 100, 0.55])
        run_with_history(root, "original", seed, [4e13, 8e13, 1e14], [0.30, 0.40, 0.45])
    run_with_history(root, "vgg16", 0, [5e13, 1e14], [0.20, 0.60])
    run_with_history(root, "vgg16", 1, [5e13, 1e14], [0.20, 0.50])  # one of two seeds there: ranked after
    runs, histories = reading.load(root)
    table = targets.reached(runs, histories, 0.52)
    best = targets.cheapest(table)
    assert (best["arch"], best["reached"], best["seeds"], best["flops"]) == ("resnet20", 2, 2, 8e13)
    vgg = table[table["arch"] == "vgg16"].iloc[0]
    assert (vgg["reached"], vgg["seeds"], vgg["flops"]) == (1, 2, 1e14)
    post = 40.0e6 * 6 * 2000 * 50_000
    line = compute.headline(runs, histories)
    assert line.startswith("resnet20 reached the post's two-day 52%") and f"1/{post / 8e13:,.0f}" in line
    assert "2 of 2 seeds" in line
    text = document.write(root, tmp_path / "out", "md", warn=lambda *_: None).read_text()
    assert "### Compute to each target" in text and "Every row that reached the post's 52%" in text
    assert "original" not in text.split("Every row that reached the post's 52%")[1].split("Validation is")[0]


def test_a_run_that_never_got_there_or_did_not_complete_names_nothing(tmp_path):
    root = tmp_path / "r"
    run_with_history(root, "resnet20", 0, [4e13, 1e14], [0.40, 0.60], status="running")
    run_with_history(root, "original", 0, [4e13, 1e14], [0.30, 0.45])
    runs, histories = reading.load(root)
    assert targets.cheapest(targets.reached(runs, histories, 0.52)) is None
    assert compute.headline(runs, histories) == ""


# ------------------------------------------------------------------------------- published
@pytest.mark.parametrize("entry", sorted({p.arch: p for p in PUBLISHED}.values(), key=lambda p: p.mmacs),
                         ids=lambda p: p.arch)
def test_published_figures_sit_at_the_zoos_own_macs(entry):
    import architectures
    from architectures import complexity

    model = architectures.build(entry.arch, num_classes=100)
    assert entry.mmacs == pytest.approx(complexity.macs(model) / 1e6)
    assert entry.train_flops == pytest.approx(6 * complexity.macs(model) * entry.epochs * 50_000)


def test_published_results_are_drawn_and_tabled_for_cifar100_only_and_never_averaged(tmp_path):
    for dataset in ("cifar100", "synthetic"):
        root = tmp_path / dataset
        for budget in ("1e13flops", "1e14flops"):
            for seed in (0, 1):
                fake_run(root, "resnet20", seed, budget=budget, dataset=dataset, test_top1=0.2 + seed / 100)
                fake_run(root, "original", seed, budget=budget, dataset=dataset, test_top1=0.1 + seed / 100)
        text = document.write(root, tmp_path / f"out-{dataset}", "md", warn=lambda *_: None).read_text()
        assert ("Published CIFAR-100 results" in text) == (dataset == "cifar100")
        assert "68.8" not in text.split("## Across budgets")[0]  # never in the answer's numbers
        runs, _ = reading.load(root)
        assert runs["test_top1"].max() < 0.3  # nothing published became a run


# ------------------------------------------------------------------------- devices and budgets
def test_seeds_of_a_flop_budget_on_two_devices_are_one_row_but_their_times_are_not_averaged(tmp_path):
    from benchmarks.report.tables import format_table, main_table

    root = tmp_path / "r"
    fake_run(root, "resnet20", 0, budget="1e13flops", devices=["CPU: AMD EPYC (2 cores)"], images_per_second=500.0)
    fake_run(root, "resnet20", 1, budget="1e13flops", devices=["CPU: Intel Xeon (2 cores)"], images_per_second=700.0)
    fake_run(root, "resnet20", 0, budget="30s", devices=["CPU: AMD EPYC (2 cores)"])
    fake_run(root, "resnet20", 1, budget="30s", devices=["CPU: Intel Xeon (2 cores)"])
    runs, _ = reading.load(root)
    groups = reading.groups(runs)
    flop = [g for k, g in groups if k["budget"] == "1e13flops"]
    assert len(flop) == 1 and len(flop[0]) == 2  # one comparison, n=2
    assert len([1 for k, _ in groups if k["budget"] == "30s"]) == 2  # a time budget: each device its own
    cells = format_table(main_table(flop[0])).iloc[0]
    assert cells["images/s"] == "mixed devices" and "(n=2)" in cells["test top-1 %"]
    text = document.write(root, tmp_path / "out", "md", warn=lambda *_: None).read_text()  # no speed to plot: no figure
    assert "devices CPU: AMD EPYC (2 cores), CPU: Intel Xeon (2 cores)" in text


# ------------------------------------------------------------------------------ recipe flags
def test_recipe_overrides_are_part_of_the_identity(tmp_path, cli_in_process):
    from benchmarks.train import matrix

    kw = dict(all_=False, preset="smoke", seeds=[0], budget=parse_sweep("1epochs"), recipe=None,
              data_flags={}, run_flags={})
    (base,), _ = matrix.configs(["vgg16"], **kw)
    (lower,), _ = matrix.configs(["vgg16"], **kw, recipe_flags={"learning_rate": 0.02, "warmup": 0.2})
    assert lower.recipe.learning_rate == 0.02 and lower.recipe.warmup == 0.2
    assert lower.relative_dir() != base.relative_dir()
    assert "learning_rate=0.02" in lower.variant() and "warmup=0.2" in lower.variant()
    code, err = cli_in_process("run", "vgg16", "--preset", "smoke", "--lr", "-1", "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "--lr" in err[0] and "learning_rate must be" in err[0], err
    code, err = cli_in_process("run", "vgg16", "--preset", "smoke", "--warmup", "1.5", "--results-dir", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "--warmup" in err[0], err
