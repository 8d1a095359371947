"""`python -m benchmarks VERB ...`: see `python -m benchmarks --help`."""

from benchmarks.cli.commands import main

if __name__ == "__main__":
    raise SystemExit(main())
