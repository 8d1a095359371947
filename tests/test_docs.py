"""README states facts the code holds: they are checked, so they cannot drift apart."""

import re
from pathlib import Path

from benchmarks import results

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_lists_every_summary_field_in_schema_order():
    fields = re.findall(r"^\| `([a-z0-9_]+)` \| [a-z/]+ \| ", README, flags=re.M)
    assert fields == list(results.SUMMARY_SCHEMA)


def test_readme_names_every_run_status():
    table = README[README.index("### Statuses and exit codes"):]
    for status in (*results.STATUSES, "unreadable"):
        assert f"| `{status}` |" in table, status
