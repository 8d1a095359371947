"""One training loop for every model (runner) and what it is made of: the budget clock, the
step callback (control), checkpoints, the evaluator, the run record; suites of runs, their
plan; backends and distribution strategies; the speed probe. Imports `core`, `data` and `results`."""
