"""The house's rules that import-linter does not check. Its contracts (pyproject.toml,
`[tool.importlinter]`, run by `lint-imports` in tox and CI) say which package imports which; these
tests make sure no module escapes them and that modules and classes stay a size a reader can hold."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "benchmarks"
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _layers() -> set[str]:
    (contract,) = [c for c in CONTRACTS if c["type"] == "layers"]
    assert contract["containers"] == ["benchmarks"]
    return {name.strip() for layer in contract["layers"] for name in layer.split("|")}


def test_every_module_lives_in_a_package_that_the_layers_contract_names():
    """A module left at the top, or a new package the contract does not list, would import freely."""
    flat = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert flat == set()
    assert packages == _layers()
    assert all(p.parent.name in packages for p in PACKAGE.glob("*/*.py"))
    assert not list(PACKAGE.glob("*/*/*.py")), "one level of packages: a deeper one needs its own contract"


def test_the_contracts_forbid_what_the_readme_promises():
    forbidden = {c["name"]: (set(c["source_modules"]), set(c["forbidden_modules"]))
                 for c in CONTRACTS if c["type"] == "forbidden"}
    sources = set().union(*(s for s, _ in forbidden.values()))
    assert {"benchmarks.core", "benchmarks.results", "benchmarks.report", "architectures"} <= sources
    assert any("keras" in f and "benchmarks.core" in s for s, f in forbidden.values())
    assert any("benchmarks" in f and s == {"architectures"} for s, f in forbidden.values())


# The sizes a reader can hold in mind (issue 12): a module past ~350 lines is usually two
# responsibilities, a class past ~120 several parts. Breaks when a module or class grows past them.
MAX_MODULE_LINES, MAX_CLASS_LINES = 350, 120
SOURCES = sorted([*PACKAGE.glob("**/*.py"), *(ROOT / "architectures").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_or_class_is_over_the_size_limit(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES}
    assert long == {}
