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

import dataclasses
import hashlib
import json
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

from architectures import original
from benchmarks import compat
from benchmarks.config import RECIPES, Budget, ConfigError, DataConfig, RunConfig
from benchmarks.storage import Claim, atomic_write, read_json, write_json

TUNERS = ("hyperband", "bayesian", "random")
TUNABLE = {"original": original}  # architectures with a search space
HYPERBAND_MAX_EPOCHS = 9  # hyperband's rungs; a trial gets budget * tuner/epochs / this
DEFAULT_RECIPE = "post"  # the canonical search's base recipe (the blog post's own)
FAILURES_IN_A_ROW = 3  # trials failing one after another before the search stops (keras-tuner's default)


def _keras_tuner_fatal():
    import keras_tuner as kt

    return kt.errors.FatalError


class SearchFailed(_keras_tuner_fatal()):
    """Trials failed (the message says how many and why); re-running the same command retries them.
    A keras-tuner FatalError, so that raised inside a trial it ends the search at once."""


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


def best_path(results_dir: Path, dataset_name: str, arch: str = "original") -> Path:
    """Where `run original-tuned` looks: the latest search's best for this dataset."""
    return Path(results_dir) / "tuning" / dataset_name / arch / "best_hyperparameters.json"


def hyperparameters():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for name, (values, default) in original.SEARCH_SPACE.items():
        if all(isinstance(v, bool) for v in values):
            hp.Boolean(name, default=default)
        else:
            hp.Choice(name, list(values), default=default, ordered=not isinstance(default, str))
    return hp


def _oracle(kind: str, max_trials: int, seed: int):
    import keras_tuner as kt

    common = dict(objective=kt.Objective("val_top1", "max"), hyperparameters=hyperparameters(),
                  tune_new_entries=False, seed=seed)
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
        space = {k: v for k, v in values.items() if k in original.SEARCH_SPACE}
        recipe = dataclasses.replace(RECIPES[self.recipe_name], learning_rate=float(space["learning_rate"]),
                                     batch_size=int(space["batch_size"]), base_batch=None)
        data = dataclasses.replace(self.data, batch_size=int(space["batch_size"]), augment=recipe.augment)
        budget = self.budget
        if "tuner/epochs" in values:  # hyperband: a rung's share of the per-trial budget
            budget = budget.scaled(values["tuner/epochs"] / HYPERBAND_MAX_EPOCHS)
        builder = original.builder_options({k: v for k, v in space.items() if k not in original.RECIPE_KEYS})
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
        from benchmarks import results
        from benchmarks.runner import Diverged, Run
        from benchmarks.suite import _splits

        config = self.trial_config(trial.hyperparameters.values)
        folder = Path(self.get_trial_dir(trial.trial_id)) / "run"
        run = Run(config, folder, _splits(config.data), claim=Claim(folder), log=self.log, verbose=0)
        run.start()  # a retried trial continues from its checkpoint
        try:
            run.train()
        except Diverged as diverged:  # a result about this point of the space, not a fault: never retried
            results.write_summary(folder, run.summary("diverged", error=str(diverged)))
            self.log(f"trial {trial.trial_id}: diverged ({diverged}); scored 0")
            return {"val_top1": 0.0, "train_seconds": run.state.train_seconds}
        self.log(f"trial {trial.trial_id}: val top-1 {run.state.best_val_top1:.2%} in {run.state.train_seconds:.0f}s "
                 f"of training")
        return {"val_top1": run.state.best_val_top1, "train_seconds": run.state.train_seconds}


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]


def repair(project: Path, log=print) -> list[str]:
    """Rebuild trials whose trial.json is unreadable (a half-written file would break keras-tuner's
    reload). Each trial's values are also kept in our own hyperparameters.json, written
    atomically before it trains: with it the trial is rebuilt and queued for retry (a finished run
    is then only re-read); without it the trial never trained and is rebuilt as FAILED, keeping
    its id taken. The broken file is kept beside as trial.json.broken. Returns the ids rebuilt."""
    Trial, TrialStatus = compat.keras_tuner_trial_types()

    rebuilt = []
    for path in sorted(project.glob("trial_*/trial.json")):
        try:
            read_json(path)
            continue
        except (OSError, ValueError):
            pass
        trial_id = path.parent.name.removeprefix("trial_")
        shutil.copyfile(path, path.with_name("trial.json.broken"))
        hp = hyperparameters()
        try:
            hp.values.update(read_json(path.with_name("hyperparameters.json")))
            status = TrialStatus.RUNNING
        except (OSError, ValueError):
            status = TrialStatus.FAILED
        write_json(path, Trial(hp, trial_id=trial_id, status=status).get_state())
        rebuilt.append(trial_id)
        log(f"warning: trial {trial_id} had a half-written trial.json; rebuilt ({status})")
    oracle_file = project / "oracle.json"
    if rebuilt and oracle_file.exists():
        state = read_json(oracle_file)
        ongoing = set(state.get("ongoing_trials", {}).values())
        retry = state.setdefault("retry_queue", [])
        retry += [t for t in rebuilt if t not in ongoing and t not in retry
                  and read_json(project / f"trial_{t}" / "trial.json")["status"] == "RUNNING"]
        write_json(oracle_file, state)
    return rebuilt


def requeue_failed(project: Path, log=print) -> list[str]:
    """Send trials that failed back for retry: a failure is a fault to fix (data, memory, a bug),
    not a result, so it must not count against --max-trials for ever and leave the search with
    "no trial completed". Trials rebuilt by repair() without values never trained: kept as they
    are. Returns the ids sent back."""
    oracle_file = project / "oracle.json"
    if not oracle_file.exists():
        return []
    failed = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        trial = read_json(path)
        if trial.get("status") in ("FAILED", "INVALID") and path.with_name("hyperparameters.json").exists():
            failed[trial["trial_id"]] = (path, trial)
    if not failed:
        return []
    # The oracle first: killed in between, the trials still read FAILED and are found again.
    state = read_json(oracle_file)
    state["end_order"] = [t for t in state.get("end_order", []) if t not in failed]
    state["retry_queue"] = state.get("retry_queue", []) + [t for t in failed if t not in state.get("retry_queue", [])]
    write_json(oracle_file, state)
    for path, trial in failed.values():
        write_json(path, {**trial, "status": "RUNNING"})
    log(f"retrying {len(failed)} failed trial(s): {', '.join(failed)}")
    return list(failed)


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
    from benchmarks.data import check_available, train_size

    batches = original.SEARCH_SPACE["batch_size"][0]
    digest = check_available(dataclasses.replace(data, batch_size=min(batches)))
    images = train_size(data)
    if images < max(batches):
        raise ConfigError(f"--val-split {data.val_size} leaves {images} training images, fewer than the "
                          f"search's largest batch ({max(batches)})")
    budget.check_ceiling(images, max(batches))
    return digest


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


def summarize(the_tuner, project: Path, results_dir: Path, data: DataConfig, arch: str, budget: Budget,
              tuner: str, recipe: str) -> dict[str, Any]:
    import pandas as pd

    rows = []
    for trial in the_tuner.oracle.trials.values():
        metrics = trial.metrics.metrics
        score = metrics["val_top1"].get_best_value() if "val_top1" in metrics else None
        seconds = metrics["train_seconds"].get_best_value() if "train_seconds" in metrics else None
        rows.append({"trial": trial.trial_id, "status": trial.status, "val_top1": score, "train_seconds": seconds,
                     **{k: v for k, v in trial.hyperparameters.values.items() if k in original.SEARCH_SPACE}})
    table = pd.DataFrame(rows).sort_values("val_top1", ascending=False, na_position="last")
    atomic_write(project / "search.csv", lambda f: f.write(table.to_csv(index=False)))
    done = table[table["status"] == "COMPLETED"]
    failed = [t for t in the_tuner.oracle.trials.values() if t.status in ("FAILED", "INVALID")]
    if done.empty:
        last = next((line for t in failed for line in reversed((t.message or "").splitlines()) if line.strip()), "")
        raise SearchFailed(f"no trial of {project} completed ({len(failed)} failed{', the last with ' + last if last else ''}); "
                           f"fix the cause and run the same command again: failed trials are retried")
    best = done.iloc[0]
    values = {k: _plain(best[k]) for k in original.SEARCH_SPACE}
    record = {"arch": arch, "variant": f"{arch}-tuned", "dataset": data.name, "tuner": tuner, "budget_per_trial": str(budget),
              "objective": "val_top1 (validation split; the test set is never used)",
              "score": float(best["val_top1"]), "hyperparameters": values,
              "builder": _jsonable(original.builder_options({k: v for k, v in values.items()
                                                            if k not in original.RECIPE_KEYS})),
              "recipe": {"name": recipe, **{k: values[k] for k in original.RECIPE_KEYS}},
              "trials": int(len(done)), "failed_trials": len(failed),
              "compute_seconds": float(done["train_seconds"].sum()), "search": str(project)}
    write_json(project / "best_hyperparameters.json", record)
    write_json(best_path(results_dir, data.name, arch), record)
    _figure(done, project)
    return record


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _jsonable(options: dict) -> dict:
    return {k: [list(b) for b in v] if k == "filters" else v for k, v in options.items()}


def influence(done) -> list[str]:
    """Hyperparameters ordered by the share of score variance their values explain (eta squared)."""
    total = statistics.pvariance(done["val_top1"]) if len(done) > 1 else 0.0
    shares = {}
    for name in original.SEARCH_SPACE:
        if done[name].nunique() < 2 or total == 0:
            continue
        means = done.groupby(name)["val_top1"].transform("mean")
        shares[name] = statistics.pvariance(means) / total
    return sorted(shares, key=shares.get, reverse=True)


def _figure(done, project: Path) -> None:
    from benchmarks.report_figures import _plt, save_png

    top = influence(done)[:2]
    if not top:
        return
    plt, sns = _plt()
    fig, axes = plt.subplots(1, len(top), figsize=(6 * len(top), 4.2), squeeze=False)
    for ax, name in zip(axes[0], top):
        sns.stripplot(data=done.assign(score=100 * done["val_top1"], value=done[name].astype(str)),
                      x="value", y="score", ax=ax, size=8)
        ax.set(xlabel=name, ylabel="best val top-1 (%)", title=f"search: score by {name}")
    fig.tight_layout()
    save_png(fig, project / "search.png")


def load_best(path: Path) -> dict[str, Any]:
    try:
        record = read_json(path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read tuned hyperparameters {path}: {error}")
    if "builder" not in record:
        raise ConfigError(f"{path} is not a best_hyperparameters.json written by `tune`")
    return record


def distributed_role() -> str | None:
    """'chief' or 'worker' under keras-tuner's own distributed mode, else None."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if tuner_id is None:
        return None
    return "chief" if tuner_id == "chief" else "worker"
