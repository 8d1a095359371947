"""`tune`: keras-tuner over the original model's own design space, under the runner's budgets.

Trials go through the runner's training loop (data pipeline, budget-aware schedule, checkpoints,
measurements): a keras-tuner `Tuner` whose `run_trial` trains one `Run` and returns its best
validation top-1 (never the test set). The search lives in
`<results-dir>/tuning/<dataset>/<arch>-<tuner>-<budget>/` (keras-tuner's project, `overwrite=False`,
so re-running the same command continues it); each trial's run folder holds its own checkpoints, so
a trial interrupted mid-way is resumed by its retry rather than lost.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

from architectures import original
from benchmarks.config import RECIPES, Budget, ConfigError, DataConfig, RunConfig
from benchmarks.storage import Claim, atomic_write, read_json, write_json

TUNERS = ("hyperband", "bayesian", "random")
TUNABLE = {"original": original}  # architectures with a search space
HYPERBAND_MAX_EPOCHS = 9  # hyperband's rungs; a trial gets budget * tuner/epochs / this


def search_dir(results_dir: Path, data: DataConfig, arch: str, tuner: str, budget: Budget) -> Path:
    return Path(results_dir) / "tuning" / data.name / f"{arch}-{tuner}-{budget}"


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
        _atomic_saves(self.oracle)

    def trial_config(self, values: dict[str, Any]) -> RunConfig:
        space = {k: v for k, v in values.items() if k in original.SEARCH_SPACE}
        recipe = dataclasses.replace(RECIPES[self.recipe_name], learning_rate=float(space["learning_rate"]),
                                     batch_size=int(space["batch_size"]), base_batch=None)
        data = dataclasses.replace(self.data, batch_size=int(space["batch_size"]), augment=recipe.augment)
        budget = self.budget
        if "tuner/epochs" in values:  # hyperband: a rung's share of the per-trial budget
            budget = dataclasses.replace(budget, amount=_scaled(budget, values["tuner/epochs"] / HYPERBAND_MAX_EPOCHS))
        builder = original.builder_options({k: v for k, v in space.items() if k not in original.RECIPE_KEYS})
        return RunConfig(arch=self.arch, data=data, recipe=recipe, budget=budget,
                         hparams=tuple(sorted(builder.items())))

    def run_trial(self, trial, *args, **kwargs):
        from benchmarks.runner import Run
        from benchmarks.suite import _splits

        config = self.trial_config(trial.hyperparameters.values)
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        write_json(trial_dir / "hyperparameters.json", trial.hyperparameters.values)  # see repair()
        folder = trial_dir / "run"
        run = Run(config, folder, _splits(config.data), claim=Claim(folder), log=self.log, verbose=0)
        run.start()  # a retried trial continues from its checkpoint
        run.train()
        self.log(f"trial {trial.trial_id}: val top-1 {run.state.best_val_top1:.2%} in {run.state.train_seconds:.0f}s "
                 f"of training")
        return {"val_top1": run.state.best_val_top1, "train_seconds": run.state.train_seconds}


def _scaled(budget: Budget, share: float) -> float:
    amount = budget.amount * share
    return amount if budget.kind == "seconds" else max(1.0, float(round(amount)))


def _atomic_saves(oracle) -> None:
    """keras-tuner writes oracle.json and trial.json in place; a kill mid-write would leave a
    half-written file that breaks the reload. Route both through an atomic write (a worker's
    oracle is a client of the chief's and writes nothing)."""
    if not hasattr(oracle, "_save_trial"):
        return
    def save(fname=None):
        atomic_write(Path(fname or oracle._get_oracle_fname()), lambda f: json.dump(oracle.get_state(), f))

    def save_trial(trial):
        path = Path(oracle._get_trial_dir(trial.trial_id)) / "trial.json"
        atomic_write(path, lambda f: json.dump(trial.get_state(), f))

    oracle.save = save
    oracle._save_trial = save_trial


def repair(project: Path, log=print) -> list[str]:
    """Rebuild trials whose trial.json is unreadable (a half-written file would break keras-tuner's
    reload). Each trial's values are also kept in our own hyperparameters.json, written
    atomically before it trains: with it the trial is rebuilt and queued for retry (a finished run
    is then only re-read); without it the trial never trained and is rebuilt as FAILED, keeping
    its id taken. The broken file is kept beside as trial.json.broken. Returns the ids rebuilt."""
    from keras_tuner.src.engine.trial import Trial, TrialStatus

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


def search(arch: str, *, tuner: str, max_trials: int, budget: Budget, data: DataConfig, recipe: str,
           results_dir: Path, log=print) -> dict[str, Any]:
    """Run (or continue) a search; write best_hyperparameters.json and the trial table."""
    if arch not in TUNABLE:
        raise ConfigError(f"{arch!r} has no search space; tunable: {', '.join(TUNABLE)}")
    if tuner not in TUNERS:
        raise ConfigError(f"--tuner must be one of {', '.join(TUNERS)}")
    if max_trials < 1:
        raise ConfigError(f"--max-trials must be >= 1, got {max_trials}")
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    project = search_dir(results_dir, data, arch, tuner, budget)
    project.mkdir(parents=True, exist_ok=True)
    repair(project, log)
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
    if done.empty:
        raise ConfigError(f"no trial of {project} completed; see the trials' run folders")
    best = done.iloc[0]
    values = {k: _plain(best[k]) for k in original.SEARCH_SPACE}
    record = {"arch": arch, "variant": f"{arch}-tuned", "dataset": data.name, "tuner": tuner, "budget_per_trial": str(budget),
              "objective": "val_top1 (validation split; the test set is never used)",
              "score": float(best["val_top1"]), "hyperparameters": values,
              "builder": _jsonable(original.builder_options({k: v for k, v in values.items()
                                                            if k not in original.RECIPE_KEYS})),
              "recipe": {"name": recipe, **{k: values[k] for k in original.RECIPE_KEYS}},
              "trials": int(len(done)), "compute_seconds": float(done["train_seconds"].sum()),
              "search": str(project)}
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
    from benchmarks.report import _plt, save_png

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
