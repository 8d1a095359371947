"""The layering of `benchmarks/`, said once and enforced: a module imports only modules of its own
layer or below (as `architectures/` never imports `benchmarks/`), and the readers (report,
compare) never import the training side: the report reads only the results folder."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "benchmarks"
LAYERS = [  # lowest first
    {"errors", "units", "datasets", "budget", "storage", "synthetic", "metrics"},
    {"config", "compat"},
    {"backends", "archives", "folders", "results", "environment"},
    {"feed", "sources", "report_style"},
    {"report_figures", "report_sweep", "report_tables", "report_warnings"},
    {"data", "models", "checkpoint", "clock", "record", "run_state", "evaluator", "control"},
    {"runner"},
    {"suite", "speed", "listing"},
    {"tune_trials", "tune_summary"},
    {"tune"},
    {"plan", "report", "compare", "answer"},
    {"cli", "cli_args"},
    {"__main__"},
]
READERS = {"report", "compare", "answer", "report_figures", "report_style", "report_sweep", "report_tables",
           "report_warnings", "results", "metrics"}
TRAINING_SIDE = {"feed", "data", "sources", "folders", "models", "checkpoint", "clock", "record", "runner", "suite",
                 "speed", "tune", "backends", "run_state", "evaluator", "control", "tune_trials", "tune_summary"}


def imports(module: str) -> set[str]:
    """benchmarks.* modules that `module` imports, anywhere in it (functions included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("benchmarks"):
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("benchmarks.")}
    return found - {module}


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set().union(*LAYERS), modules ^ set().union(*LAYERS)


def test_no_module_imports_one_above_it():
    level = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    upward = {(m, i) for m in level for i in imports(m) if level.get(i, -1) > level[m]}
    assert not upward, f"imports of a higher layer: {sorted(upward)}"


def test_readers_never_import_the_training_side():
    for reader in READERS:
        assert not imports(reader) & TRAINING_SIDE, (reader, imports(reader) & TRAINING_SIDE)


def test_architectures_never_import_benchmarks():
    for path in (PACKAGE.parent / "architectures").glob("*.py"):
        assert "benchmarks" not in path.read_text(), path


# The sizes a reader can hold in mind (issue 12): a module past ~350 lines is usually two
# responsibilities, a class past ~120 several parts. Breaks when a module or class grows past them.
MAX_MODULE_LINES, MAX_CLASS_LINES = 350, 120


def _sources():
    return sorted([*PACKAGE.glob("*.py"), *(PACKAGE.parent / "architectures").glob("*.py")])


def test_no_module_is_over_the_size_limit():
    sizes = {p.relative_to(PACKAGE.parent).as_posix(): len(p.read_text().splitlines()) for p in _sources()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_class_is_over_the_size_limit():
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                long[f"{path.stem}.{node.name}"] = node.end_lineno - node.lineno + 1
    assert long == {}
