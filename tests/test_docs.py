"""README states facts the code holds: they are checked, so they cannot drift apart."""

import re
from pathlib import Path

from benchmarks.results import schema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_lists_every_summary_field_in_schema_order():
    """Breaks when a field (a metric entry in benchmarks/results/metrics.py, or one in schema.SUMMARY_SCHEMA)
    is added, removed, retyped or re-explained without the README's field table following."""
    rows = re.findall(r"^\| `[a-z0-9_]+` \| .*$", README, flags=re.M)
    expected = schema.schema_markdown().splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows if r.count("|") == 4] == [e.split(" | ")[0] for e in expected]
    assert schema.schema_markdown() in README, "paste schema.schema_markdown() into README's Results section"


def test_readme_names_every_run_status():
    table = README[README.index("### Statuses and exit codes"):]
    for status in schema.READ_STATUSES:
        assert f"| `{status}` |" in table, status
