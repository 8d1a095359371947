"""`tune`: keras-tuner over the original model's own design space, under the runner's budgets.

Trials go through the runner's training loop (data pipeline, budget-aware schedule, checkpoints,
measurements): a keras-tuner `Tuner` whose `run_trial` trains one `Run` and returns its best
validation top-1 (never the test set). The search lives in
`<results-dir>/tuning/<dataset>/<arch>-<tuner>-<budget>[-<hash>]/` (keras-tuner's project,
`overwrite=False`, so re-running the same command continues it); the hash appears, as in run
folders, when anything else that changes a trial differs from the canonical search (data options,
seed, recipe, data that is not the published set), so a corrected command starts a fresh search.
Each trial's run folder holds its own checkpoints, so a trial interrupted mid-way is resumed by its
retry rather than lost, and a trial that failed is retried by the next run of the same command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from architectures import original_space as space
from benchmarks.core import compat
from benchmarks.core.config import RECIPES, Budget, ConfigError, DataConfig, RunConfig
from benchmarks.core.storage import Claim, atomic_write, read_json, write_json
from benchmarks.tune.bookkeeping import hyperparameters, repair, requeue_failed
from benchmarks.tune.findings import SearchFailed, summarize

TUNERS = ("hyperband", "bayesian", "random")
TUNABLE = {"original": space}  # architectures with a search space
HYPERBAND_MAX_EPOCHS = 9  # hyperband's rungs; a trial gets budget * tuner/epochs / this
DEFAULT_RECIPE = "post"  # the canonical search's base recipe (the blog post's own)
FAILURES_IN_A_ROW = 3  # trials failing one after another before the search stops (keras-tuner's default)


# ------------------------------------------------------------------------------------- identity
def differences(data: DataConfig, arch: str, budget: Budget, recipe: str = DEFAULT_RECIPE,
                data_digest: str = "") -> dict[str, Any]:
    """What changes this search's trials and is not in its readable folder name (dataset and
    labels, arch, tuner and budget are): the run identity of its trials' common base
    (`RunConfig.differences`), plus the seed and the recipe, which a run folder names elsewhere."""
    base = RECIPES[recipe]
    # Every trial sets batch size and augmentation from its own point and the recipe: not identity.
    trial_data = dataclasses.replace(data, batch_size=base.batch_size, augment=base.augment)
    diffs = RunConfig(arch=arch, data=trial_data, recipe=base, budget=budget, data_digest=data_digest).differences()
    if data.seed:
        diffs["seed"] = data.seed
    if recipe != DEFAULT_RECIPE:
        diffs["recipe"] = recipe
    return diffs


def search_dir(results_dir: Path, data: DataConfig, arch: str, tuner: str, budget: Budget,
               recipe: str = DEFAULT_RECIPE, data_digest: str = "") -> Path:
    """`tuning/<dataset>/<arch>-<tuner>-<budget>[-<hash>]`, hashed the way run folders are."""
    diffs = differences(data, arch, budget, recipe, data_digest)
    suffix = hashlib.sha256(json.dumps(diffs, sort_keys=True, default=str).encode()).hexdigest()[:8] if diffs else ""
    return Path(results_dir) / "tuning" / data.name / f"{arch}-{tuner}-{budget}{'-' + suffix if suffix else ''}"


SEED_FOR_ZERO = 2**31 - 1  # keras-tuner's seed for our seed 0 (see _oracle)


def _oracle(kind: str, max_trials: int, seed: int):
    import keras_tuner as kt

    # keras-tuner reads seed 0 as "none" and draws one at random (`seed or random.randint(...)`):
    # our default seed would give a different search each time. 0 becomes a fixed seed of its own.
    common = dict(objective=kt.Objective("val_top1", "max"), hyperparameters=hyperparameters(),
                  tune_new_entries=False, seed=seed or SEED_FOR_ZERO)
    if kind == "random":
        return kt.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    if kind == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=max_trials, num_initial_points=2, **common)
    oracle = kt.oracles.HyperbandOracle(max_epochs=HYPERBAND_MAX_EPOCHS, factor=3, hyperband_iterations=1, **common)
    oracle.max_trials = max_trials  # hyperband stops after max_trials as well
    return oracle


def _base_tuner():
    import keras_tuner as kt

    return kt.Tuner


class RunnerTuner(_base_tuner()):
    """A keras-tuner Tuner whose trials are runner `Run`s."""

    def __init__(self, oracle, *, arch: str, data: DataConfig, recipe_name: str, budget: Budget,
                 project: Path, log, **kwargs):
        super().__init__(oracle=oracle, hypermodel=None, directory=str(project.parent),
                         project_name=project.name, overwrite=False, **kwargs)
        self.arch, self.data, self.recipe_name, self.budget, self.log = arch, data, recipe_name, budget, log
        # run_trial logs each failure in one line and stops the search itself: keras-tuner's own
        # stop and its traceback per failed trial (config.DEBUG, on by default, no public switch) are off.
        self.failures_in_a_row = 0  # this session's
        self.oracle.max_consecutive_failed_trials = None
        compat.keras_tuner_quiet()
        compat.keras_tuner_atomic_saves(self.oracle, atomic_write)

    def trial_config(self, values: dict[str, Any]) -> RunConfig:
        point = {k: v for k, v in values.items() if k in space.SEARCH_SPACE}
        recipe = dataclasses.replace(RECIPES[self.recipe_name], learning_rate=float(point["learning_rate"]),
                                     batch_size=int(point["batch_size"]), base_batch=None)
        data = dataclasses.replace(self.data, batch_size=int(point["batch_size"]), augment=recipe.augment)
        budget = self.budget
        if "tuner/epochs" in values:  # hyperband: a rung's share of the per-trial budget
            budget = budget.scaled(values["tuner/epochs"] / HYPERBAND_MAX_EPOCHS)
        builder = space.builder_options({k: v for k, v in point.items() if k not in space.RECIPE_KEYS})
        return RunConfig(arch=self.arch, data=data, recipe=recipe, budget=budget,
                         hparams=tuple(sorted(builder.items())))

    def run_trial(self, trial, *args, **kwargs):
        # Our own copy of the values, before anything can fail: see repair() and requeue_failed().
        write_json(Path(self.get_trial_dir(trial.trial_id)) / "hyperparameters.json", trial.hyperparameters.values)
        try:
            scores = self._train(trial)
        except Exception as error:  # keras-tuner records the trial as failed; say why, in one line
            self.failures_in_a_row += 1
            message = _one_line(error)
            self.log(f"trial {trial.trial_id}: FAILED: {message}")
            if self.failures_in_a_row >= FAILURES_IN_A_ROW:  # a fault every trial hits: stop here
                raise SearchFailed(f"{self.failures_in_a_row} trials in a row failed, the last with {message}; "
                                   f"fix the cause and run the same command again: failed trials are retried") from error
            raise
        self.failures_in_a_row = 0
        return scores

    def _train(self, trial) -> dict[str, float]:
        from benchmarks.results import schema
        from benchmarks.train.control import Diverged
        from benchmarks.train.runner import Run
        from benchmarks.train.suite import _splits

        config = self.trial_config(trial.hyperparameters.values)
        folder = Path(self.get_trial_dir(trial.trial_id)) / "run"
        run = Run(config, folder, _splits(config.data), claim=Claim(folder), log=self.log, verbose=0)
        run.start()  # a retried trial continues from its checkpoint
        try:
            run.train()
        except Diverged as diverged:  # a result about this point of the space, not a fault: never retried
            schema.write_summary(folder, run.summary("diverged", error=str(diverged)))
            self.log(f"trial {trial.trial_id}: diverged ({diverged}); scored 0")
            return {"val_top1": 0.0, "train_seconds": run.state.train_seconds}
        self.log(f"trial {trial.trial_id}: val top-1 {run.state.best_val_top1:.2%} in {run.state.train_seconds:.0f}s "
                 f"of training")
        return {"val_top1": run.state.best_val_top1, "train_seconds": run.state.train_seconds}


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]


def check_search(arch: str, tuner: str, max_trials: int, recipe: str, data: DataConfig, budget: Budget) -> str:
    """Refuse, before a search folder exists, what would fail every trial: bad options, missing
    or corrupt data, a val split or the space's largest batch too large for the data, a budget
    that could never finish. Returns the data's digest, part of the search's identity."""
    if arch not in TUNABLE:
        raise ConfigError(f"{arch!r} has no search space; tunable: {', '.join(TUNABLE)}")
    if tuner not in TUNERS:
        raise ConfigError(f"--tuner must be one of {', '.join(TUNERS)}")
    if max_trials < 1:
        raise ConfigError(f"--max-trials must be >= 1, got {max_trials}")
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    if data.select_on != "val":
        raise ConfigError("tune selects on the validation split; it never selects on the test set")
    from benchmarks.data.loader import facts

    batches = space.SEARCH_SPACE["batch_size"][0]
    known = facts(dataclasses.replace(data, batch_size=min(batches)))
    digest, images = known.digest, known.train_size
    if images < max(batches):
        raise ConfigError(f"--val-split {data.val_size} leaves {images} training images, fewer than the "
                          f"search's largest batch ({max(batches)})")
    flops = _smallest_model_flops(known) if budget.kind == "flops" else None
    budget.check_ceiling(images, max(batches), flops)
    return digest


def _smallest_model_flops(known) -> float:
    """Training FLOPs per image of the space's smallest model: where a FLOP budget buys a trial the
    most images, so the budget's ceiling is checked there (each trial counts its own model's)."""
    import architectures
    from architectures import complexity
    from benchmarks.core.budget import train_flops_per_image

    point = {name: choices[0] for name, (choices, _) in space.SEARCH_SPACE.items()}  # listed smallest first
    model = architectures.build("original", num_classes=known.num_classes, input_shape=known.image_shape,
                                **space.builder_options({k: v for k, v in point.items() if k not in space.RECIPE_KEYS}))
    return train_flops_per_image(complexity.macs(model))


def _claim(project: Path, identity: dict[str, Any]) -> None:
    """A search folder belongs to one search: record what it is, and refuse another (a hash collision)."""
    path = project / "search.json"
    try:
        held = read_json(path)
    except (OSError, ValueError):  # a new folder, a search from before this file, or a torn write
        held = None
    if not isinstance(held, dict):
        write_json(path, identity)
    elif held != json.loads(json.dumps(identity, default=str)):
        raise ConfigError(f"{project} holds another search ({path}); use another --results-dir")


def search(arch: str, *, tuner: str, max_trials: int, budget: Budget, data: DataConfig, recipe: str,
           results_dir: Path, log=print) -> dict[str, Any]:
    """Run (or continue) a search; write best_hyperparameters.json and the trial table.

    Raises ConfigError (nothing written) for options or data no trial could use, and
    SearchFailed when trials failed; running the same command again retries those."""
    digest = check_search(arch, tuner, max_trials, recipe, data, budget)
    project = search_dir(results_dir, data, arch, tuner, budget, recipe, digest)
    project.mkdir(parents=True, exist_ok=True)
    with _one_process(project):
        return _search(project, arch, tuner, max_trials, budget, data, recipe, results_dir, digest, log)


@contextlib.contextmanager
def _one_process(project: Path):
    """One `tune` process per search (two trained the same trial ids into the same folders), unless
    keras-tuner's distributed mode shares it on purpose. The claim is kept alive by a heartbeat
    thread: a trial can train for longer than the claim's staleness timeout."""
    if distributed_role() is not None:
        yield
        return
    claim = Claim(project)
    if not claim.acquire():
        raise ConfigError(f"another `tune` process is running the search in {project}: wait for it, or share a "
                          f"search with keras-tuner's distributed mode (README, Tuning)")
    stop = threading.Event()

    def beat():
        while not stop.wait(30):
            claim.heartbeat(0)

    threading.Thread(target=beat, daemon=True).start()
    try:
        yield
    finally:
        stop.set()
        claim.release()


def _search(project, arch, tuner, max_trials, budget, data, recipe, results_dir, digest, log) -> dict[str, Any]:
    _claim(project, {"arch": arch, "dataset": data.name, "tuner": tuner, "budget_per_trial": str(budget),
                     "differences": differences(data, arch, budget, recipe, digest)})
    repair(project, log)
    if distributed_role() != "worker":  # a worker's oracle is the chief's: it writes nothing here
        requeue_failed(project, log)
    oracle = _oracle(tuner, max_trials, data.seed)
    the_tuner = RunnerTuner(oracle, arch=arch, data=data, recipe_name=recipe, budget=budget, project=project,
                            log=log)
    the_tuner.search(verbose=0)
    if distributed_role() == "worker":  # the chief's oracle holds the trials and writes the summary
        return {"role": "worker", "search": str(project)}
    return summarize(the_tuner, project, results_dir, data, arch, budget, tuner, recipe)


def distributed_role() -> str | None:
    """'chief' or 'worker' under keras-tuner's own distributed mode, else None."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if tuner_id is None:
        return None
    return "chief" if tuner_id == "chief" else "worker"
