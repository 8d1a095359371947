"""The shipped answer keeps its word: results/reference/ holds every row of the reference suite,
complete, with the seeds README says, trained on the real CIFAR-100 (its content digest and
statistics checked); README opens with exactly what `report` says of it today, and the report in
git (reports/cifar100/) is made from it."""

from pathlib import Path

import pytest

from benchmarks.core.config import PRESETS
from benchmarks.report import answer
from benchmarks.report.caveats import truthy
from benchmarks.results import reading

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"
README = (ROOT / "README.md").read_text()
MIN_SEEDS = {"10tflop": 3, "30tflop": 3, "100tflop": 3}  # as README says; a budget in progress may have fewer, the tables say n


@pytest.fixture(scope="module")
def loaded():
    runs, histories = reading.load(REFERENCE)
    assert not runs.empty, "no reference results: scripts/reference.sh CIFAR100_DIR"
    return runs, histories


@pytest.fixture(scope="module")
def runs(loaded):
    return loaded[0]


def block(name: str) -> str:
    start, end = f"<!-- {name}: start -->\n", f"<!-- {name}: end -->"
    return README[README.index(start) + len(start):README.index(end)]


def test_every_run_is_complete_on_the_real_cifar100(runs):
    bad = runs[runs["status"] != "complete"]
    assert bad.empty, f"not complete: {bad[['folder', 'status']].to_dict('records')}"
    assert set(runs["dataset"]) == {"cifar100"} and not truthy(runs["synthetic"]).any()
    assert truthy(runs["digest_ok"]).all(), "every run's decoded images are the published CIFAR-100"
    assert truthy(runs["stats_ok"]).all(), "every run's per-channel statistics are the published ones"
    assert set(runs["variant"]) == {""} and not truthy(runs["test_used_for_selection"]).any()


def test_every_row_at_every_budget_seed_by_seed(runs):
    """The job runs seed by seed (every row has seed k before any has k + 1) and its finished runs are
    committed as they land: at a budget, each row holds seeds 0..n-1 and rows differ by one seed at
    most; a row the job has not reached yet at a budget in progress holds none."""
    suite = PRESETS["reference"].suite
    want = {(arch, "paper") for arch in suite} | {("original", "post")}
    for budget, group in runs.groupby("budget"):
        seeds = {key: sorted(g["seed"]) for key, g in group.groupby(["arch", "recipe"])}
        assert set(seeds) <= want, f"{budget}: rows {sorted(seeds)}"
        seeds = {key: seeds.get(key, []) for key in want}
        assert all(s == list(range(len(s))) for s in seeds.values()), f"{budget}: seeds {seeds}"
        counts = {len(s) for s in seeds.values()}
        assert max(counts) - min(counts) <= 1, f"{budget}: rows have seeds {seeds}"
        assert min(counts) >= MIN_SEEDS.get(budget, 0), budget
    assert set(MIN_SEEDS) <= set(runs["budget"])


def test_readme_opens_with_what_report_says_of_the_reference_today(loaded):
    assert block("reference") == answer.readme_block(*loaded)
    assert README.index("<!-- reference: start -->") < README.index("<!-- what-to-train: start -->")  # synthetic below


def test_the_report_in_git_is_made_from_the_reference(loaded):
    report = (ROOT / "reports" / "cifar100" / "report.md").read_text()
    assert answer.section(*loaded) in report
    assert (ROOT / "reports" / "cifar100" / "sweep-00.png").is_file()
    for figure in (ROOT / "reports" / "cifar100").glob("*.png"):
        assert f"]({figure.name})" in report, f"{figure.name} is not in the report: a stale figure?"
