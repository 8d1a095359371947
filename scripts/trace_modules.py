"""Which modules one `run` passes through, in order: the call graph of `run <arch> --preset smoke`
from the command down to `depth` calls, as stays (consecutive calls in one module) and climbs
back (a stay in a module already left once). Issue #19's measure of how far a reader follows one
run's data across files.

    python scripts/trace_modules.py [--depth 2] [--arch resnet20] [--budget 2steps]
"""

import argparse
import inspect
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2, help="calls below the verb's function to follow")
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--budget", default="2steps")
    parser.add_argument("--sequence", action="store_true", help="print every stay with the functions called in it")
    args = parser.parse_args()
    try:  # the package layout, or the flat one before it
        from benchmarks.cli import commands as cli
    except ImportError:
        from benchmarks import cli
    calls: list[str] = []
    top = {}

    def profile(frame, event, _arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if frame.f_code.co_name == "cmd_run" and "frame" not in top:
            top["frame"] = frame
        if "frame" not in top or not module.startswith("benchmarks") or "__create_fn__" in frame.f_code.co_qualname \
                or not frame.f_code.co_flags & inspect.CO_OPTIMIZED:
            return  # a dataclass's generated __init__, __eq__ and __hash__ (the data), a class body (an import)
        depth, f = 0, frame  # calls into benchmarks' own functions below the verb (comprehensions are no call)
        while f is not None and f is not top["frame"] and depth <= args.depth:
            depth += f.f_globals.get("__name__", "").startswith("benchmarks") and not f.f_code.co_name.startswith("<")
            f = f.f_back
        if f is top["frame"] and depth <= args.depth and not frame.f_code.co_name.startswith("<"):
            calls.append((module, frame.f_code.co_qualname))

    with tempfile.TemporaryDirectory() as folder:
        sys.setprofile(profile)
        try:
            code = cli.main(["run", args.arch, "--preset", "smoke", "--budget", args.budget, "--results-dir", folder,
                             "--quiet"])
        finally:
            sys.setprofile(None)
    stays, functions = [], []
    for module, function in calls:
        if not stays or stays[-1] != module:
            stays.append(module)
            functions.append([])
        functions[-1].append(function)
    climbs = sum(1 for i, m in enumerate(stays) if m in stays[:i])
    print(f"exit {code}; depth {args.depth}: {len(set(stays))} modules, {len(stays)} stays, {climbs} climbs back")
    for module in sorted(set(stays), key=stays.index):
        print(f"  {module}: {stays.count(module)} stays")
    if args.sequence:
        for module, called in zip(stays, functions):
            print(f"{module}: {', '.join(dict.fromkeys(called))}")


if __name__ == "__main__":
    main()
