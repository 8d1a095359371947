"""Everything a reader of the results sees: the report (document), its tables, figures, sweep
and caveats, the what-to-train answer and `compare`. Imports `results` and `core`, never
the training side."""
